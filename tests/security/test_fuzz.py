"""Property-based fuzzing of the public endpoints from their published OpenAPI description.

A bounded number of generated requests per operation (positive and negative data) against a real
server: no 5xx, status codes, content types, headers and bodies as the description says. The longer
release run is described in SECURITY.md (FUZZ_EXAMPLES environment variable).

The browser endpoints need state a generator cannot guess (a registered client, the CSRF cookie and the
token derived from it, a session, an ID token, a user's access token): for each of their cases Hypothesis
also draws which of these the request carries (`BROWSER_STATE`), so the generated requests reach past the
first refusal (an unknown client, a failed CSRF check) as well as hitting it.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from credo.domain.models import User
from credo.http.openapi_public import spec_bytes
from credo.http.pages import CSRF_COOKIE, SESSION_COOKIE, cookie_name
from credo.management.clients import create_client
from credo.management.demo import ensure_demo
from credo.oauth.sessions import csrf_token, start_session
from credo.storage.unit_of_work import UnitOfWork
from tests.signin import (
    PASSWORD,
    REDIRECT,
    USERNAME,
    browser_client,
    enable_code_flow,
    obtain_code,
    pkce,
    profile_user,
    redeem,
)
from tests.support import Server, live_server, make_storage

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
SPEC = Path(__file__).resolve().parents[2] / "src" / "credo" / "http" / "openapi_public.json"
schema = schemathesis.openapi.from_path(str(SPEC))
PATHS = json.loads(SPEC.read_bytes())["paths"]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


WEB_CLIENT = "fuzz-web"
LOGOUT = "https://app.example/signed-out"
CSRF_VALUE = "fuzz-csrf-cookie"  # the browser's CSRF cookie
AUTHORIZATION = ("/authorize", "/signin", "/consent")  # they carry the authorization request's parameters
CSRF_FORMS = ("/signin", "/consent", "/account/revoke", "/connect/endSession")
BROWSER = (*AUTHORIZATION, "/account", "/account/revoke", "/connect/endSession", "/userinfo")
VALID = "valid"
# An authorization request the realm accepts (what `"request": VALID` puts over the generated one).
VALID_REQUEST = {"response_type": "code", "client_id": WEB_CLIENT, "redirect_uri": REDIRECT,
                 "scope": "openid profile", "code_challenge": pkce().challenge, "code_challenge_method": "S256"}
# What a browser case carries besides the generated data, drawn per case (the other endpoints ignore it).
# `request`: the authorization request as generated (None), for the known client, or valid; `csrf`: the
# field as generated (None), the valid token or any text; `approve`: the user's credentials on the sign-in
# form, decision=allow on the consent form; the others: whether the request carries that cookie or token.
BROWSER_STATE = st.fixed_dictionaries({
    "request": st.sampled_from([None, "client", VALID]),
    "csrf": st.one_of(st.none(), st.just(VALID), st.text(max_size=50)),
    **{name: st.booleans() for name in ("approve", "cookie", "session", "id_token_hint", "access_token")},
})


def browser_params(params: dict[str, Any], path: str, state: dict[str, Any], csrf: str, id_token: str) -> None:
    """Put over the generated query or form what `state` says the browser request carries."""
    if path in AUTHORIZATION and state["request"] is not None:
        params.update(client_id=WEB_CLIENT, redirect_uri=REDIRECT)
        if state["request"] == VALID:
            params.update(VALID_REQUEST)
            for name in ("prompt", "max_age", "resource"):
                params.pop(name, None)
    if path == "/connect/endSession" and state["request"] is not None:
        params.update(client_id=WEB_CLIENT, post_logout_redirect_uri=LOGOUT)
    if path == "/connect/endSession" and state["id_token_hint"]:
        params["id_token_hint"] = id_token
    if state["approve"] and path == "/signin":
        params.update(username=USERNAME, password=PASSWORD)
    if state["approve"] and path == "/consent":
        params["decision"] = "allow"
    if state["csrf"] is not None and path in CSRF_FORMS:
        params["csrf"] = csrf if state["csrf"] == VALID else state["csrf"]


@dataclass(frozen=True)
class Target:
    srv: Server
    basic: str
    user: User
    csrf: str  # the forms' CSRF token for CSRF_VALUE
    access_token: str  # the user's, with openid profile email
    id_token: str

    def new_session(self) -> str:
        realm = self.srv.services.realm("alpha")
        work = UnitOfWork()
        value = start_session(self.srv.services, realm, self.user, None, work)
        self.srv.services.commit_now(work)
        return value

    def as_browser(self, case: Any, state: dict[str, Any]) -> dict[str, str]:
        """Fill in what `state` says the case carries; returns the headers to send with it."""
        path = case.operation.path
        if path == "/userinfo":
            return {"Authorization": f"Bearer {self.access_token}"} if state["access_token"] else {}
        if case.method == "GET" and path != "/account":
            case.query = dict(case.query or {})
        params = case.query if case.method == "GET" else case.body
        if isinstance(params, dict):  # a negative case may have another body
            browser_params(params, path, state, self.csrf, self.id_token)
        realm = self.srv.services.realm("alpha")
        cookies = [f"{cookie_name(CSRF_COOKIE, realm)}={CSRF_VALUE}"] if state["cookie"] else []
        if state["session"]:
            cookies.append(f"{cookie_name(SESSION_COOKIE, realm)}={self.new_session()}")
        return {"Cookie": "; ".join(cookies)} if cookies else {}


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    # A live server: schemathesis sends its cases with its own HTTP client (requests) over a socket.
    tmp = tmp_path_factory.mktemp("fuzz")
    with make_storage("sqlite", tmp) as storage, live_server(storage, tmp) as srv:
        services = srv.services
        ensure_demo(services)
        _, secret = create_client(services, "alpha", "fuzz-basic", scopes=("data-read",),
                                  auth_method="client_secret_basic")
        basic = base64.b64encode(f"fuzz-basic:{secret}".encode()).decode()
        enable_code_flow(services)
        browser_client(services, "alpha", WEB_CLIENT, post_logout_redirect_uris=(LOGOUT,))
        user = profile_user(services)
        challenge = pkce()
        with srv.client() as http:
            code = obtain_code(http, srv.realm_url("alpha"), WEB_CLIENT, challenge=challenge,
                               scope="openid profile email")["code"]
            tokens = redeem(http, srv.realm_url("alpha"), code, challenge, WEB_CLIENT).json()
        csrf = csrf_token(services, services.realm("alpha"), CSRF_VALUE)
        yield Target(srv, basic, user, csrf, tokens["access_token"], tokens["id_token"])


def test_served_description_is_the_file(target: Target) -> None:
    r = httpx.get(target.srv.base_url + "/am/oauth2/openapi.json")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.content == spec_bytes() == SPEC.read_bytes()
    assert r.json()["openapi"].startswith("3.1")


@pytest.mark.filterwarnings("ignore:Skipped test cases with unsupported payload media types")
@schema.parametrize()
@schema.given(browser=BROWSER_STATE)
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_public_endpoints(case: Any, target: Target, browser: dict[str, Any]) -> None:
    headers: dict[str, str] = target.as_browser(case, browser) if case.operation.path in BROWSER else {}
    if case.operation.path in ("/access_token", "/introspect", "/token/revoke") and not (case.headers or {}).get(
            "Authorization"):
        headers["Authorization"] = f"Basic {target.basic}"
    start = time.monotonic()
    servers = PATHS[case.operation.path].get("servers")  # the host-root routes name their own server
    base_url = target.srv.base_url + servers[0]["url"].rstrip("/") if servers else target.srv.realm_url("alpha")
    case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS, timeout=10)
    assert time.monotonic() - start < 10
