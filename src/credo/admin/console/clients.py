"""Console: applications and AI agents (with their application policies)."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from credo.admin.console import pictures
from credo.admin.console.base import Page, field_errors
from credo.admin.console.settings import GRANT_LABELS, same
from credo.domain.errors import InvalidClientMetadata, NotFound, OAuthError
from credo.domain.models import AUTH_METHODS, KEY_AUTH_METHOD, Client
from credo.domain.settings import GRANT_TOKEN_EXCHANGE, KNOWN_GRANT_TYPES
from credo.keys.jose import ASYMMETRIC_ALGS
from credo.management import listings, usecases
from credo.management.clients import client_keys, set_secret
from credo.management.overrides import override_warnings, policy_warnings, stored_flags

AUTH_LABELS = [(m, m) for m in AUTH_METHODS]
TYPE_LABELS = [("web", "Web (a server or a browser application)"), ("native", "Native (desktop or mobile)")]
SIGNING_ALG_OPTIONS = [("", "Any asymmetric algorithm")] + [(a, a) for a in sorted(ASYMMETRIC_ALGS)]
SIGNING_ALG = "token_endpoint_auth_signing_alg"
FORM_FIELDS = {"token_endpoint_auth_method": "auth_method", "client_secret": "secret"}  # the use cases' names


def _grant_options() -> list[tuple[str, str]]:
    return [(g, GRANT_LABELS.get(g, g)) for g in KNOWN_GRANT_TYPES]


def _form_errors(exc: OAuthError) -> dict[str, str]:
    """The refusal at its form field (the use cases name the auth method as RFC 7591 does)."""
    return {FORM_FIELDS.get(name, name): message for name, message in field_errors(exc).items()}


def _pasted_keys(page: Page) -> dict[str, Any]:
    """The keys typed into the form: the JWK Set (JSON) and the JWKS URI as given; the use cases check them."""
    keys: dict[str, Any] = {}
    raw, uri = page.value("jwks"), page.value("jwks_uri")
    if raw:
        try:
            keys["jwks"] = json.loads(raw)
        except ValueError as exc:
            raise InvalidClientMetadata("jwks not JSON", description=f"jwks: not valid JSON ({exc}).") from exc
    if uri:
        keys["jwks_uri"] = uri
    return keys


def _new_keys(page: Page) -> dict[str, Any] | None:
    """A new private_key_jwt client's keys from the form (None for any other method: the fields are ignored)."""
    if page.value("auth_method") != KEY_AUTH_METHOD:
        return None
    alg = page.value(SIGNING_ALG)
    return {**_pasted_keys(page), **({SIGNING_ALG: alg} if alg else {})}


def _keys_change(page: Page, client: Client, changes: dict[str, Any]) -> None:
    """Add a `keys` change when the form replaces the stored keys (a pasted set or URI) or the algorithm;
    blank key fields keep the stored ones."""
    if page.value("auth_method") != KEY_AUTH_METHOD:
        return
    stored = client_keys(client)
    keys = _pasted_keys(page) or {k: v for k, v in stored.items() if k != SIGNING_ALG}
    alg = page.value(SIGNING_ALG)
    keys = {**keys, **({SIGNING_ALG: alg} if alg else {})}
    if keys != stored:
        changes["keys"] = keys


def stored_keys(client: Client) -> dict[str, Any]:
    """What the edit page shows of the stored keys: each inline key's kid and type, or the JWKS URI."""
    keys = client_keys(client)
    jwks = keys.get("jwks") or {}
    return {"uri": keys.get("jwks_uri"), "alg": keys.get(SIGNING_ALG),
            "keys": [(str(k.get("kid") or "(no kid)"), str(k.get("kty", "")), str(k.get("alg") or ""))
                     for k in jwks.get("keys", []) if isinstance(k, dict)]}


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


def _list_page(page: Page, section: str, kind: str, *, title: str, subtitle: str, kind_header: str,
               new_label: str) -> Response:
    realm = page.realm
    ask = page.ask()
    listing = listings.clients_page(page.services, realm, ask, kind=kind)
    rows = [_row(c, realm, section) for c in listing.items]
    return page.render("list.html", title=title, subtitle=subtitle, listing=listing, ask=ask, page=page, noun=section,
                       headers=["Client ID", "Name", kind_header, "Scopes"], rows=rows,
                       new_url=f"/admin/r/{realm}/{section}/new", new_label=new_label,
                       delete_base=f"/admin/r/{realm}/{section}", notice=page.request.query_params.get("notice"))


def _new_page(page: Page, section: str, template: str, create: Any, **context: Any) -> Response:
    """The creation form; on POST `create(page)` returns (client, secret), shown once."""
    errors: dict[str, str] = {}
    if page.request.method == "POST":
        try:
            client, secret = create(page)
            return _secret_once(page, client, secret, section)
        except OAuthError as exc:
            errors = _form_errors(exc)
    return page.render(template, errors=errors, v=page, status=400 if errors else 200, **context)


def applications_page(page: Page) -> Response:
    return _list_page(page, "applications", "application", title="Applications",
                      subtitle="Resources AI agents act on.", kind_header="Type", new_label="Custom Application")


def new_application(page: Page) -> Response:
    return _new_page(page, "applications", "application_new.html", lambda p: usecases.create_application(
        p.services, p.realm, p.value("client_id"), name=p.value("name") or p.value("client_id"),
        app_type=p.value("app_type", "service"), secret=p.raw("secret") or None,
        owners=tuple(p.words("owners")), scopes=tuple(p.words("scopes")),
        grant_types=tuple(p.values("grant_types")), auth_method=p.value("auth_method", "client_secret_post"),
        redirect_uris=tuple(p.items("redirect_uris")), resources=tuple(p.items("resources")),
        post_logout_redirect_uris=tuple(p.items("post_logout_redirect_uris")),
        application_type=p.value("application_type", "web"), skip_consent=p.checked("skip_consent"),
        dpop_bound_access_tokens=p.checked("dpop_bound_access_tokens"), keys=_new_keys(p), actor=p.admin),
        grant_options=_grant_options(), auth_options=AUTH_LABELS, type_options=TYPE_LABELS,
        alg_options=SIGNING_ALG_OPTIONS)


def _secret_once(page: Page, client: Client, secret: str | None, section: str) -> Response:
    return page.render("secret_once.html", client=client, secret=secret,
                       next_url=f"/admin/r/{page.realm}/{section}/{client.client_id}")


def edit_application(page: Page) -> Response:
    app = _client(page, "application")
    errors: dict[str, str] = {}
    if page.request.method == "POST":
        changes = _signon_changes(page) if page.value("tab") == "signon" else {
            "name": page.value("name"), "owners": page.words("owners"), "resources": page.items("resources")}
        if same(changes.get("grant_types"), app.grant_types, "grant_types"):
            changes.pop("grant_types")  # the same grants in the form's order: keep the stored order
        try:
            if page.value("tab") == "signon":
                _keys_change(page, app, changes)
            usecases.update_application(page.services, page.realm, app.client_id, changes, actor=page.admin)
            return page.redirect(f"/admin/r/{page.realm}/applications/{app.client_id}?tab={page.value('tab')}",
                                 "Changes saved.")
        except OAuthError as exc:
            errors = _form_errors(exc)
            page.refused = True
    tab = page.value("tab") if page.refused else page.request.query_params.get("tab", "")
    return page.render("application_edit.html", c=app, v=page, errors=errors, tab=tab,
                       grant_options=_grant_options(), auth_options=AUTH_LABELS, type_options=TYPE_LABELS,
                       alg_options=SIGNING_ALG_OPTIONS, stored_keys=stored_keys(app),
                       notice=page.request.query_params.get("notice"), status=400 if errors else 200)


def _signon_changes(page: Page) -> dict[str, Any]:
    return {"grant_types": page.values("grant_types"), "scopes": page.words("scopes"),
            "auth_method": page.value("auth_method"), "application_type": page.value("application_type"),
            "redirect_uris": page.items("redirect_uris"),
            "post_logout_redirect_uris": page.items("post_logout_redirect_uris"),
            "skip_consent": page.checked("skip_consent"),
            "dpop_bound_access_tokens": page.checked("dpop_bound_access_tokens")}


def delete_application(page: Page) -> Response:
    usecases.delete_application(page.services, page.realm, str(page.request.path_params["key"]), actor=page.admin)
    return page.redirect(f"/admin/r/{page.realm}/applications", "Application deleted.")


def agents_page(page: Page) -> Response:
    return _list_page(page, "agents", "agent", title="AI Agents",
                      subtitle="Agents created here or registered at /aiagent/register.", kind_header="Kind",
                      new_label="New AI Agent")


def new_agent(page: Page) -> Response:
    return _new_page(page, "agents", "agent_new.html", lambda p: usecases.create_agent(
        p.services, p.realm, p.value("client_id"), name=p.value("name") or p.value("client_id"),
        secret=p.raw("secret") or None, scopes=tuple(p.words("scopes")),
        grant_types=("client_credentials", GRANT_TOKEN_EXCHANGE), auth_method=p.value("auth_method", "client_secret_post"),
        dpop_bound_access_tokens=p.checked("dpop_bound_access_tokens"), keys=_new_keys(p), actor=p.admin),
        auth_options=AUTH_LABELS, alg_options=SIGNING_ALG_OPTIONS)


def edit_agent(page: Page) -> Response:
    agent = _client(page, "agent")
    errors: dict[str, str] = {}
    tab = page.value("tab") or page.request.query_params.get("tab", "access")
    if page.request.method == "POST":
        try:
            if tab == "applications":
                _save_policy(page, agent)
            else:
                changes = _agent_changes(page)
                if page.value("advanced") == "1":
                    _keys_change(page, agent, changes)
                if same(changes.get("grant_types"), agent.grant_types, "grant_types"):
                    changes.pop("grant_types")  # the same grants in the form's order: keep the stored order
                usecases.update_agent(page.services, page.realm, agent.client_id, changes, actor=page.admin)
            return page.redirect(f"/admin/r/{page.realm}/agents/{agent.client_id}?tab={tab}", "Changes saved.")
        except OAuthError as exc:
            errors = _form_errors(exc)
            page.refused = tab != "applications"
    apps = usecases.list_applications(page.services, page.realm)
    policies = usecases.list_policies(page.services, page.realm, agent.client_id)
    warnings = override_warnings(agent) + policy_warnings(page.services.realm(page.realm), agent, policies,
                                                          {a.client_id: a for a in apps})
    delegation: dict[str, Any] = {}
    if tab == "delegation":
        events, _ = listings.audit_page(page.services, page.realm, {"action": listings.EXCHANGE,
                                                                     "actor": agent.client_id}, size=10)
        names = listings.usernames(page.services, page.realm, {str(e.details.get("subject") or "") for e in events})
        delegation = {"chart": pictures.decisions_chart(listings.decisions_by_day(page.services, page.realm,
                                                                                   agent.client_id)),
                      "events": [(e, pictures.delegation(e, names)) for e in events]}
    return page.render("agent_edit.html", c=agent, errors=errors, tab=tab, grant_options=_grant_options(),
                       auth_options=AUTH_LABELS, alg_options=SIGNING_ALG_OPTIONS, stored_keys=stored_keys(agent),
                       apps=apps, v=page, flags=stored_flags(agent), warnings=warnings,
                       policies=policies, delegation=delegation,
                       users=listings.usernames(page.services, page.realm, {s for p in policies for s in p.subjects}),
                       groups=[g.name for g in usecases.list_groups(page.services, page.realm)],
                       notice=page.request.query_params.get("notice"), status=400 if errors else 200)


def _agent_changes(page: Page) -> dict[str, Any]:
    changes: dict[str, Any] = {"scopes": page.words("scopes")}
    if page.value("advanced") == "1":
        changes.update(grant_types=page.values("grant_types"), auth_method=page.value("auth_method"),
                       overrides_enabled=page.checked("overrides_enabled"),
                       stateless_tokens=page.checked("stateless_tokens"),
                       accept_audience=page.checked("accept_audience"),
                       dpop_bound_access_tokens=page.checked("dpop_bound_access_tokens"))
    return changes


def _save_policy(page: Page, agent: Client) -> None:
    subjects = []
    for name in page.words("subjects"):  # usernames (or user ids), looked up one by one
        user = page.services.storage.users.by_username(page.realm, name)
        subjects.append(user.id if user is not None else name)
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
