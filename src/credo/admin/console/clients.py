"""Console: applications and AI agents (with their application policies)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from credo.admin.console.base import Page, field_errors
from credo.admin.console.settings import GRANT_LABELS
from credo.domain.errors import NotFound, OAuthError
from credo.domain.models import AUTH_METHODS, Client
from credo.domain.settings import GRANT_TOKEN_EXCHANGE, KNOWN_GRANT_TYPES
from credo.management import usecases
from credo.management.clients import set_secret

AUTH_LABELS = [(m, m) for m in AUTH_METHODS]


def _grant_options() -> list[tuple[str, str]]:
    return [(g, GRANT_LABELS.get(g, g)) for g in KNOWN_GRANT_TYPES]


def _client(page: Page, kind: str) -> Client:
    client_id = str(page.request.path_params["client_id"])
    client = page.services.storage.clients.get(page.realm, client_id)
    if client is None or client.kind != kind:
        raise NotFound(kind, description=f"{kind.title()} '{client_id}' does not exist.")
    return client


def _row(c: Client, realm: str, section: str) -> dict[str, Any]:
    kind = "AI agent" + (" (dynamic)" if c.dynamic else "") if c.is_agent else (c.app_type or "").title()
    return {"cells": [c.client_id, c.name, kind, " ".join(c.scopes)], "href": f"/admin/r/{realm}/{section}/{c.client_id}",
            "key": c.client_id}


def applications_page(page: Page) -> Response:
    realm = page.realm
    rows = [_row(c, realm, "applications") for c in usecases.list_applications(page.services, realm)]
    return page.render("list.html", title="Applications", subtitle="Resources AI agents act on.",
                       headers=["Client ID", "Name", "Type", "Scopes"], rows=rows,
                       new_url=f"/admin/r/{realm}/applications/new", new_label="Custom Application",
                       delete_base=f"/admin/r/{realm}/applications", notice=page.request.query_params.get("notice"))


def new_application(page: Page) -> Response:
    realm = page.realm
    errors: dict[str, str] = {}
    if page.request.method == "POST":
        try:
            client, secret = usecases.create_application(
                page.services, realm, page.value("client_id"), name=page.value("name") or page.value("client_id"),
                app_type=page.value("app_type", "service"), secret=page.raw("secret") or None,
                owners=tuple(page.words("owners")), scopes=tuple(page.words("scopes")),
                grant_types=("client_credentials",), auth_method="client_secret_post", actor=page.admin)
            return _secret_once(page, client, secret, "applications")
        except OAuthError as exc:
            errors = field_errors(exc)
    return page.render("application_new.html", errors=errors, v=page, status=400 if errors else 200)


def _secret_once(page: Page, client: Client, secret: str | None, section: str) -> Response:
    return page.render("secret_once.html", client=client, secret=secret,
                       next_url=f"/admin/r/{page.realm}/{section}/{client.client_id}")


def edit_application(page: Page) -> Response:
    app = _client(page, "application")
    errors: dict[str, str] = {}
    if page.request.method == "POST":
        changes = _signon_changes(page) if page.value("tab") == "signon" else {
            "name": page.value("name"), "owners": page.words("owners")}
        try:
            usecases.update_application(page.services, page.realm, app.client_id, changes, actor=page.admin)
            return page.redirect(f"/admin/r/{page.realm}/applications/{app.client_id}?tab={page.value('tab')}",
                                 "Changes saved.")
        except OAuthError as exc:
            errors = field_errors(exc)
            page.refused = True
    tab = page.value("tab") if page.refused else page.request.query_params.get("tab", "")
    return page.render("application_edit.html", c=app, v=page, errors=errors, tab=tab,
                       grant_options=_grant_options(), auth_options=AUTH_LABELS,
                       notice=page.request.query_params.get("notice"), status=400 if errors else 200)


def _signon_changes(page: Page) -> dict[str, Any]:
    return {"grant_types": page.values("grant_types"), "scopes": page.words("scopes"),
            "auth_method": page.value("auth_method")}


def delete_application(page: Page) -> Response:
    usecases.delete_application(page.services, page.realm, str(page.request.path_params["key"]), actor=page.admin)
    return page.redirect(f"/admin/r/{page.realm}/applications", "Application deleted.")


def agents_page(page: Page) -> Response:
    realm = page.realm
    rows = [_row(c, realm, "agents") for c in usecases.list_agents(page.services, realm)]
    return page.render("list.html", title="AI Agents", subtitle="Agents created here or registered at /aiagent/register.",
                       headers=["Client ID", "Name", "Kind", "Scopes"], rows=rows,
                       new_url=f"/admin/r/{realm}/agents/new", new_label="New AI Agent",
                       delete_base=f"/admin/r/{realm}/agents", notice=page.request.query_params.get("notice"))


def new_agent(page: Page) -> Response:
    realm = page.realm
    errors: dict[str, str] = {}
    if page.request.method == "POST":
        try:
            client, secret = usecases.create_agent(
                page.services, realm, page.value("client_id"), name=page.value("name") or page.value("client_id"),
                secret=page.raw("secret") or None, scopes=tuple(page.words("scopes")),
                grant_types=("client_credentials", GRANT_TOKEN_EXCHANGE), actor=page.admin)
            return _secret_once(page, client, secret, "agents")
        except OAuthError as exc:
            errors = field_errors(exc)
    return page.render("agent_new.html", errors=errors, v=page, status=400 if errors else 200)


def edit_agent(page: Page) -> Response:
    agent = _client(page, "agent")
    errors: dict[str, str] = {}
    tab = page.value("tab") or page.request.query_params.get("tab", "access")
    if page.request.method == "POST":
        try:
            if tab == "applications":
                _save_policy(page, agent)
            else:
                usecases.update_agent(page.services, page.realm, agent.client_id, _agent_changes(page), actor=page.admin)
            return page.redirect(f"/admin/r/{page.realm}/agents/{agent.client_id}?tab={tab}", "Changes saved.")
        except OAuthError as exc:
            errors = field_errors(exc)
            page.refused = tab != "applications"
    apps = usecases.list_applications(page.services, page.realm)
    return page.render("agent_edit.html", c=agent, errors=errors, tab=tab, grant_options=_grant_options(),
                       auth_options=AUTH_LABELS, apps=apps, v=page,
                       policies=usecases.list_policies(page.services, page.realm, agent.client_id),
                       users={u.id: u.username for u in usecases.list_users(page.services, page.realm)},
                       groups=[g.name for g in usecases.list_groups(page.services, page.realm)],
                       notice=page.request.query_params.get("notice"), status=400 if errors else 200)


def _agent_changes(page: Page) -> dict[str, Any]:
    changes: dict[str, Any] = {"scopes": page.words("scopes")}
    if page.value("advanced") == "1":
        changes.update(grant_types=page.values("grant_types"), auth_method=page.value("auth_method"),
                       overrides_enabled=page.checked("overrides_enabled"),
                       stateless_tokens=page.checked("stateless_tokens"),
                       accept_audience=page.checked("accept_audience"))
    return changes


def _save_policy(page: Page, agent: Client) -> None:
    users = {u.username: u.id for u in usecases.list_users(page.services, page.realm)}
    subjects = [users.get(name, name) for name in page.words("subjects")]
    permissions = page.words("permissions") + page.values("permission_choices")
    usecases.put_policy(page.services, page.realm, agent.client_id, page.value("application_id"),
                      subjects=tuple(subjects), subject_groups=tuple(page.values("subject_groups")),
                      permissions=tuple(dict.fromkeys(permissions)), actor=page.admin)


def delete_policy(page: Page) -> Response:
    agent = _client(page, "agent")
    usecases.delete_policy(page.services, page.realm, agent.client_id, str(page.request.path_params["application_id"]),
                         actor=page.admin)
    return page.redirect(f"/admin/r/{page.realm}/agents/{agent.client_id}?tab=applications", "Policy removed.")


def delete_agent(page: Page) -> Response:
    usecases.delete_agent(page.services, page.realm, str(page.request.path_params["key"]), actor=page.admin)
    return page.redirect(f"/admin/r/{page.realm}/agents", "Agent deleted.")


def regenerate_secret(page: Page) -> Response:
    section = "applications" if "/applications/" in page.request.url.path else "agents"
    client = _client(page, "application" if section == "applications" else "agent")
    secret = set_secret(page.services, page.realm, client.client_id, actor=page.admin)
    return _secret_once(page, client, secret, section)
