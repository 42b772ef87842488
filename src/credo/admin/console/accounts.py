"""Console: service accounts (list, create — the secret shown once —, enable/disable, new secret, delete)
and the admin API tokens and console sessions (list, revoke), through management/service_accounts.py."""

from __future__ import annotations

from starlette.responses import Response

from credo.admin.console.base import Page, field_errors
from credo.domain.errors import OAuthError
from credo.domain.models import Client
from credo.management import service_accounts as sa

PATH = "/admin/service-accounts"


def _render(page: Page, errors: dict[str, str] | None = None, created: Client | None = None,
            secret: str | None = None) -> Response:
    return page.render("service_accounts.html", accounts=[sa.shown(c) for c in sa.list_service_accounts(page.services)],
                       tokens=sa.list_admin_tokens(page.services), created=created, secret=secret,
                       errors=errors or {}, v=page, notice=page.request.query_params.get("notice"),
                       status=400 if errors else 200)


def service_accounts_page(page: Page) -> Response:
    if page.request.method != "POST":
        return _render(page)
    try:
        client, secret = sa.create_service_account(page.services, page.value("name"), access=page.value("access"),
                                                   realms=page.words("realms"), description=page.value("description"),
                                                   actor=page.admin)
    except OAuthError as exc:
        page.refused = True
        return _render(page, errors=field_errors(exc))
    return _render(page, created=client, secret=secret)


def _name(page: Page) -> str:
    return str(page.request.path_params["name"])


def set_enabled(page: Page) -> Response:
    on = page.value("enabled") == "true"
    sa.update_service_account(page.services, _name(page), enabled=on, actor=page.admin)
    return page.redirect(PATH, f"Service account {_name(page)} {'enabled' if on else 'disabled'}.")


def new_secret(page: Page) -> Response:
    secret = sa.new_service_account_secret(page.services, _name(page), actor=page.admin)
    return _render(page, created=sa.get_service_account(page.services, _name(page)), secret=secret)


def delete(page: Page) -> Response:
    sa.delete_service_account(page.services, _name(page), actor=page.admin)
    return page.redirect(PATH, f"Service account {_name(page)} deleted.")


def revoke_token(page: Page) -> Response:
    try:
        sa.revoke_admin_token(page.services, str(page.request.path_params["token_id"]), actor=page.admin)
    except OAuthError as exc:
        return page.redirect(PATH, exc.description)
    return page.redirect(PATH, "Token revoked.")
