"""Console: users and groups, dynamic clients, signing keys, audit log."""

from __future__ import annotations

from urllib.parse import quote

from starlette.responses import Response

from credo.admin.console.base import Page, field_errors
from credo.domain.errors import OAuthError
from credo.management import keys, usecases
from credo.management.admins import change_password
from credo.management.clients import delete_client

AUDIT_FILTERS = ("action", "actor", "target", "decision", "text")


def users_page(page: Page) -> Response:
    realm = page.realm
    errors: dict[str, str] = {}
    if page.request.method == "POST":
        try:
            if page.value("form") == "group":
                members = _user_ids(page, page.words("members"))
                usecases.put_group(page.services, realm, page.value("group_name"), members, actor=page.admin)
            else:
                usecases.create_user(page.services, realm, page.value("username"), page.raw("password"),
                                   name=page.value("name"), email=page.value("email"), actor=page.admin)
            return page.redirect(f"/admin/r/{realm}/users", "Saved.")
        except OAuthError as exc:
            errors = field_errors(exc)
            if page.value("form") == "group" and "name" in errors:
                errors["group_name"] = errors.pop("name")
    users = usecases.list_users(page.services, realm)
    names = {u.id: u.username for u in users}
    groups = [{"name": g.name, "members": ", ".join(names.get(m, m) for m in g.members)}
              for g in usecases.list_groups(page.services, realm)]
    return page.render("users.html", users=users, groups=groups, errors=errors, v=page,
                       notice=page.request.query_params.get("notice"), status=400 if errors else 200)


def edit_user(page: Page) -> Response:
    """One user's profile attributes (name, email) and whether the user is active."""
    user = usecases.get_user(page.services, page.realm, str(page.request.path_params["user_id"]))
    errors: dict[str, str] = {}
    if page.request.method == "POST":
        try:
            usecases.update_user(page.services, page.realm, user.id, name=page.value("name"),
                                 email=page.value("email"), active=page.checked("active"), actor=page.admin)
            return page.redirect(f"/admin/r/{page.realm}/users/{quote(user.id, safe='')}", "Changes saved.")
        except OAuthError as exc:
            errors = field_errors(exc)
            page.refused = True
    return page.render("user_edit.html", u=user, v=page, errors=errors, notice=page.request.query_params.get("notice"),
                       status=400 if errors else 200)


def _user_ids(page: Page, words: list[str]) -> list[str]:
    by_name = {u.username: u.id for u in usecases.list_users(page.services, page.realm)}
    return [by_name.get(w, w) for w in words]


def delete_user(page: Page) -> Response:
    usecases.delete_user(page.services, page.realm, str(page.request.path_params["key"]), actor=page.admin)
    return page.redirect(f"/admin/r/{page.realm}/users", "User deleted.")


def toggle_user(page: Page) -> Response:
    user = usecases.get_user(page.services, page.realm, str(page.request.path_params["key"]))
    usecases.update_user(page.services, page.realm, user.id, active=not user.active, actor=page.admin)
    return page.redirect(f"/admin/r/{page.realm}/users", f"{user.username} is now {'inactive' if user.active else 'active'}.")


def delete_group(page: Page) -> Response:
    usecases.delete_group(page.services, page.realm, str(page.request.path_params["key"]), actor=page.admin)
    return page.redirect(f"/admin/r/{page.realm}/users", "Group deleted.")


def dynamic_page(page: Page) -> Response:
    realm = page.realm
    store = page.services.storage.clients
    rows = [{"cells": [c.client_id, c.name, page.fmt(c.created_at), page.fmt(store.last_used(realm, c.client_id)),
                       "AI agent" if c.is_agent else
                       "client (metadata document)" if c.metadata.get("client_id_metadata_document") is True else "client"], "key": c.client_id,
             "href": f"/admin/r/{realm}/agents/{c.client_id}" if c.is_agent else ""}
            for c in store.all(realm, dynamic=True)]
    return page.render("list.html", title="Dynamic Clients", subtitle="Clients registered at /register and /aiagent/register, and clients "
                                                               "known by their metadata document URL.",
                       headers=["Client ID", "Name", "Created", "Last used", "Kind"], rows=rows,
                       delete_base=f"/admin/r/{realm}/dynamic", notice=page.request.query_params.get("notice"))


def delete_dynamic(page: Page) -> Response:
    client = page.services.storage.clients.get(page.realm, str(page.request.path_params["key"]))
    if client is not None and client.dynamic:
        delete_client(page.services, page.realm, client.client_id, actor=page.admin)
    return page.redirect(f"/admin/r/{page.realm}/dynamic", "Dynamic client deleted.")


def keys_page(page: Page) -> Response:
    realm = page.realm
    if page.request.method == "POST":
        key = keys.rotate_key(page.services, realm, actor=page.admin)
        return page.redirect(f"/admin/r/{realm}/keys", f"New signing key {key['kid']} is active.")
    return page.render("keys.html", keys=keys.list_keys(page.services, realm),
                       notice=page.request.query_params.get("notice"))


def audit_page(page: Page) -> Response:
    realm = page.realm
    filters = {k: (page.request.query_params.get(k) or "").strip() or None for k in AUDIT_FILTERS}
    events = page.services.storage.audit.query(realm, limit=200, **filters)
    return page.render("audit.html", events=events, filters=filters)


def account_page(page: Page) -> Response:
    errors: dict[str, str] = {}
    if page.request.method == "POST":
        new = page.form.get("new_password", [""])[0]
        if new != page.form.get("repeat_password", [""])[0]:
            errors = {"repeat_password": "does not match the new password."}
        else:
            try:
                change_password(page.services, page.admin, page.form.get("current_password", [""])[0], new,
                                actor=page.admin, keep=page.token)
                return page.redirect("/admin/account", "Password changed.")
            except OAuthError as exc:
                errors = field_errors(exc)
    return page.render("account.html", errors=errors, notice=page.request.query_params.get("notice"),
                       status=400 if errors else 200)
