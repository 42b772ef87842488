"""Console: users and groups, dynamic clients, signing keys, audit log."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from urllib.parse import quote

import orjson
from starlette.concurrency import iterate_in_threadpool
from starlette.responses import Response, StreamingResponse

from credo.admin.console import pictures as pictures_
from credo.admin.console.base import Page, field_errors
from credo.domain.errors import NotFound, OAuthError
from credo.management import keys, listings, usecases
from credo.management.admins import change_password
from credo.management.clients import delete_client

AUDIT_FILTERS = listings.AUDIT_FILTERS
EXCHANGE = listings.EXCHANGE


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
    ask = page.ask()
    users = listings.users_page(page.services, realm, ask)
    groups = usecases.list_groups(page.services, realm)
    names = listings.usernames(page.services, realm, {m for g in groups for m in g.members})
    rows = [{"name": g.name, "members": ", ".join(names.get(m, m) for m in g.members)} for g in groups]
    return page.render("users.html", users=users.items, listing=users, ask=ask, groups=rows, errors=errors, v=page,
                       page=page, notice=page.request.query_params.get("notice"), status=400 if errors else 200)


def edit_user(page: Page) -> Response:
    """One user: profile attributes (name, email), whether active, groups, grants (with revocation), the
    password, deletion."""
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
                       groups=page.services.storage.groups.groups_of(page.realm, user.id),
                       tokens=listings.tokens_held(page.services, page.realm, sub=user.id),
                       grants=listings.user_grants(page.services, page.realm, user.id), status=400 if errors else 200)


def revoke_grant(page: Page) -> Response:
    user_id, client_id = str(page.request.path_params["user_id"]), str(page.request.path_params["client_id"])
    listings.revoke_user_grant(page.services, page.realm, user_id, client_id, actor=page.admin)
    return page.redirect(f"/admin/r/{page.realm}/users/{quote(user_id, safe='')}",
                         f"Grant to {client_id} revoked, with every token issued under it.")


def revoke_user_token(page: Page) -> Response:
    return _revoke_held(page, "users", sub=str(page.request.path_params["user_id"]))


def revoke_client_token(page: Page) -> Response:
    return _revoke_held(page, "dynamic", client_id=str(page.request.path_params["client_id"]))


def _revoke_held(page: Page, section: str, **holder: str) -> Response:
    """Revoke one token a user (`sub`) or a client (`client_id`) holds, back to the holder's page."""
    record = listings.revoke_held_token(page.services, page.realm, str(page.request.path_params["jti"]),
                                        actor=page.admin, **holder)
    (holder_id,) = holder.values()
    return page.redirect(f"/admin/r/{page.realm}/{section}/{quote(holder_id, safe='')}",
                         f"{record.kind.replace('_', ' ').capitalize()} revoked.")


def reset_password(page: Page) -> Response:
    user = usecases.get_user(page.services, page.realm, str(page.request.path_params["user_id"]))
    target = f"/admin/r/{page.realm}/users/{quote(user.id, safe='')}"
    try:
        usecases.update_user(page.services, page.realm, user.id, password=page.raw("password"), actor=page.admin)
    except OAuthError as exc:
        return page.redirect(target, "Password not changed: " + next(iter(field_errors(exc).values()), "refused."))
    return page.redirect(target, "Password changed.")


def _user_ids(page: Page, words: list[str]) -> list[str]:
    """User ids for group members typed as usernames (or ids), looked up one by one."""
    found = []
    for word in words:
        user = page.services.storage.users.by_username(page.realm, word)
        found.append(user.id if user is not None else word)
    return found


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
    ask = page.ask()
    listing = listings.clients_page(page.services, realm, ask, dynamic=True)
    rows = [{"cells": [c.client_id, c.name, page.fmt(c.created_at), page.fmt(store.last_used(realm, c.client_id)),
                       "AI agent" if c.is_agent else
                       "client (metadata document)" if c.metadata.get("client_id_metadata_document") is True else "client"],
             "key": c.client_id, "href": f"/admin/r/{realm}/dynamic/{quote(c.client_id, safe='')}"}
            for c in listing.items]
    return page.render("list.html", title="Dynamic Clients", subtitle="Clients registered at /register and /aiagent/register, and clients "
                                                               "known by their metadata document URL.",
                       headers=["Client ID", "Name", "Created", "Last used", "Kind"], rows=rows, listing=listing,
                       ask=ask, page=page, noun="dynamic clients",
                       delete_base=f"/admin/r/{realm}/dynamic", notice=page.request.query_params.get("notice"))


def dynamic_client(page: Page) -> Response:
    """A dynamically registered client: its metadata, how it registered, when it was last used."""
    realm = page.realm
    client_id = str(page.request.path_params["client_id"])
    client = page.services.storage.clients.get(realm, client_id)
    if client is None or not client.dynamic:
        raise NotFound(client_id, description=f"Dynamic client '{client_id}' does not exist.")
    registered = page.services.storage.audit.query(realm, target=client_id, limit=20)
    registration = next((e for e in reversed(registered) if e.action.startswith("client.register")
                         or e.action == "client.create"), None)
    metadata = {k: v for k, v in sorted(asdict(client).items())
                if k not in ("secret_hash", "registration_token_hash") and v not in (None, "", (), [], {})}
    return page.render("dynamic_client.html", c=client, metadata=metadata, registration=registration,
                       tokens=listings.tokens_held(page.services, realm, client_id=client_id),
                       events=registered, last_used=page.services.storage.clients.last_used(realm, client_id),
                       notice=page.request.query_params.get("notice"))


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


def _audit_filters(page: Page) -> dict[str, str | None]:
    return {k: (page.request.query_params.get(k) or "").strip() or None for k in AUDIT_FILTERS}


def _before(page: Page) -> int | None:
    value = page.request.query_params.get("before", "")
    return int(value) if value.isdigit() else None


def audit_page(page: Page) -> Response:
    realm = page.realm
    filters = _audit_filters(page)
    events, next_before = listings.audit_page(page.services, realm, filters, before=_before(page))
    names = listings.usernames(page.services, realm, {str(e.details.get("subject") or "") for e in events})
    pictures = {e.id: pictures_.delegation(e, names) for e in events if e.action == EXCHANGE}
    return page.render("audit.html", events=events, filters=filters, pictures=pictures, names=names, page=page,
                       next_url=page.list_url(before=str(next_before)) if next_before else None,
                       first_url=page.list_url(before=None) if _before(page) else None,
                       export_url=f"/admin/r/{realm}/audit.jsonl" + page.list_url(before=None)[len(page.request.url.path):])


def audit_export(page: Page) -> Response:
    """Every audit event that matches the filters, newest first, as JSON lines (streamed page by page)."""
    realm = page.realm
    filters = _audit_filters(page)

    def lines() -> Iterator[bytes]:
        before: int | None = None
        while True:
            events, before = listings.audit_page(page.services, realm, filters, before=before,
                                                 size=listings.PAGE_SIZE_MAX)
            for e in events:
                yield orjson.dumps(asdict(e)) + b"\n"
            if before is None:
                return
    return StreamingResponse(iterate_in_threadpool(lines()), media_type="application/jsonl", headers={
        "cache-control": "no-store", "content-disposition": f'attachment; filename="audit-{realm}.jsonl"'})


def overview_page(page: Page) -> Response:
    realm = page.realm
    summary = listings.overview(page.services, realm)
    names = listings.usernames(page.services, realm, {str(e.details.get("subject") or "") for e in summary.recent_denials})
    pictures = {e.id: pictures_.delegation(e, names) for e in summary.recent_denials if e.action == EXCHANGE}
    return page.render("overview.html", o=summary, pictures=pictures)


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
