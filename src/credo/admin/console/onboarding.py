"""Console: initial access tokens for onboarding clients (list, issue — shown once —, revoke)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from credo.admin.console.base import Page, field_errors
from credo.domain.errors import OAuthError
from credo.management import initial_access

LIFETIMES = [("3600", "1 hour"), ("86400", "1 day"), ("604800", "7 days"), ("2592000", "30 days")]


def initial_access_page(page: Page) -> Response:
    realm = page.realm
    errors: dict[str, str] = {}
    issued: dict[str, Any] | None = None
    if page.request.method == "POST":
        try:
            lifetime = int(page.value("lifetime", str(initial_access.DEFAULT_LIFETIME)))
        except ValueError:
            errors = {"lifetime": "a number of seconds."}
        else:
            try:
                issued = initial_access.issue_initial_access_token(
                    page.services, realm, page.value("client_id"), lifetime=lifetime, note=page.value("note"),
                    actor=page.admin)
            except OAuthError as exc:
                errors = field_errors(exc)
        page.refused = bool(errors)
        if issued is not None:
            page.form = {}  # a fresh form under the token shown once
    clients = [(c.client_id, f"{c.name} ({c.client_id})" if c.name and c.name != c.client_id else c.client_id)
               for c in initial_access.issuing_clients(page.services, realm)]
    return page.render("initial_access.html", tokens=initial_access.list_initial_access_tokens(page.services, realm),
                       clients=clients, lifetimes=LIFETIMES, issued=issued, errors=errors, v=page,
                       open_registration=page.services.realm(realm).settings.allow_open_registration,
                       notice=page.request.query_params.get("notice"), status=400 if errors else 200)


def revoke(page: Page) -> Response:
    realm = page.realm
    target = f"/admin/r/{realm}/initial-access"
    try:
        initial_access.revoke_initial_access_token(page.services, realm, str(page.request.path_params["token_id"]),
                                                   actor=page.admin)
    except OAuthError as exc:
        return page.redirect(target, exc.description)
    return page.redirect(target, "Initial access token revoked.")
