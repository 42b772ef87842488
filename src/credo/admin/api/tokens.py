"""Admin API: its token endpoint (an administrator's password, or a service account's client credentials),
service accounts, and the list of admin API tokens with their revocation."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from credo.admin.api.base import Call, UnsupportedMediaType, field_error, json_body, only, optional, require
from credo.admin.web import json_response, read_body, services_of
from credo.domain.errors import InvalidRequest, OAuthError, UnsupportedGrantType
from credo.management import service_accounts as accounts
from credo.management.admins import ADMIN_REALM, ADMIN_TOKEN_LIFETIME, login
from credo.oauth.client_auth import authenticate_client
from credo.oauth.credentials import parse_basic

FORM = "application/x-www-form-urlencoded"


async def token(request: Request) -> Response:
    """POST /admin/api/token. `grant_type=client_credentials` (a form, as RFC 6749 asks, or JSON): a service
    account authenticates through the core's client authentication and gets a short-lived token with its
    scopes. Otherwise JSON `{username, password}`: an administrator's one-hour token."""
    services = services_of(request)
    source = request.client.host if request.client else ""
    try:
        if request.headers.get("content-type", "").split(";")[0].strip().lower() == FORM:
            raw = await read_body(request)
            try:
                params = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
            except UnicodeDecodeError as exc:
                raise InvalidRequest("form", description="body: not a valid form.") from exc
            if "grant_type" not in params:  # an administrator's sign-in is JSON only, as before
                raise UnsupportedMediaType("form sign-in", description="body: the request body must be "
                                           "application/json (a form only with grant_type=client_credentials).")
        else:
            params = {k: v for k, v in (await json_body(request)).items()}
        grant = params.get("grant_type")
        if grant is None:
            username, password = require(params, "username"), require(params, "password")
            value = await run_in_threadpool(login, services, username, password, source=source)
            return json_response({"access_token": value, "token_type": "Bearer", "expires_in": ADMIN_TOKEN_LIFETIME})
        if grant != "client_credentials":
            raise UnsupportedGrantType(f"admin grant {grant!r}", description="grant_type: client_credentials, or "
                                       "username and password without a grant_type.")
        if not all(isinstance(v, str) for v in params.values()):
            raise InvalidRequest("types", description="body: every member must be a string.")
        auth = request.headers.get("authorization", "")
        basic = parse_basic(auth[6:]) if auth[:6].lower() == "basic " else None
        client = await authenticate_client(services, ADMIN_REALM, params, basic, source=source)
        answer = await run_in_threadpool(accounts.issue_token, services, client, params.get("scope"))
        return json_response(answer)
    except OAuthError as exc:
        return field_error(exc)


SA_FIELDS = ("name", "access", "realms", "description")


def list_service_accounts(call: Call) -> list[dict[str, Any]]:
    return [accounts.shown(c) for c in accounts.list_service_accounts(call.services)]


def create_service_account(call: Call) -> dict[str, Any]:
    only(call.body, SA_FIELDS)
    client, secret = accounts.create_service_account(
        call.services, require(call.body, "name"), access=optional(call.body, "access", str, "read"),
        realms=optional(call.body, "realms", list) or [], description=optional(call.body, "description", str, ""),
        actor=call.actor)
    return {**accounts.shown(client), "client_id": client.client_id, "client_secret": secret}


def get_service_account(call: Call) -> dict[str, Any]:
    return accounts.shown(accounts.get_service_account(call.services, call.path("name")))


def update_service_account(call: Call) -> dict[str, Any]:
    only(call.body, ("access", "realms", "enabled", "description"))
    realms = optional(call.body, "realms", list)
    client = accounts.update_service_account(
        call.services, call.path("name"), access=optional(call.body, "access", str), realms=realms,
        enabled=optional(call.body, "enabled", bool), description=optional(call.body, "description", str),
        actor=call.actor)
    return accounts.shown(client)


def new_service_account_secret(call: Call) -> dict[str, Any]:
    name = call.path("name")
    secret = accounts.new_service_account_secret(call.services, name, actor=call.actor)
    return {**accounts.shown(accounts.get_service_account(call.services, name)), "client_id": name,
            "client_secret": secret}


def delete_service_account(call: Call) -> None:
    accounts.delete_service_account(call.services, call.path("name"), actor=call.actor)


def list_admin_tokens(call: Call) -> list[dict[str, Any]]:
    return accounts.list_admin_tokens(call.services)


def revoke_admin_token(call: Call) -> None:
    accounts.revoke_admin_token(call.services, call.path("token_id"), actor=call.actor)
