"""openid-client (v6, node), unchanged, through the authorization code flow of a live Credo on SQLite and
PostgreSQL, as a confidential client (client_secret_post): discovery, the authorization URL with PKCE S256,
state and nonce; the sign-in and consent pages are driven over HTTP by the test (the browser); then the
library validates the callback (state, RFC 9207 `iss`), redeems the code, validates the ID token (signature
against the realm's JWKS, iss, aud, exp, nonce), reads userinfo (its `sub` must match) and refreshes.
openid-client checks ID token signatures only when asked (`enableNonRepudiationChecks`, which the script
does) and never checks `at_hash` in the code flow (optional there, OIDC Core 3.1.3.8): the Authlib test does.
Skipped, with the reason, when node or the package cannot be installed."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

from tests.factories import USER_ID, USERNAME
from tests.node import last_json, node_unavailable, run_node
from tests.signin import REDIRECT, USER_EMAIL, USER_NAME, browser_client, enable_code_flow, profile_user, through_pages
from tests.support import LiveServer

CLIENT_ID = "node-web-app"


def _without(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query=urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != name])))


def _refusal(args: tuple[str, ...], callback: str, checks: dict[str, Any]) -> dict[str, Any]:
    run = run_node("code_flow.mjs", "finish", *args, stdin={"callback": callback, "checks": checks})
    assert run.returncode == 1, run.stdout
    return dict(json.loads(run.stderr.strip().splitlines()[-1]))


# A live server: openid-client opens its own connections from a node process.
def test_openid_client_code_flow_id_token_userinfo_refresh(live_sql_server: LiveServer,
                                                          live_sql_demo: dict[str, str]) -> None:
    reason = node_unavailable("openid-client")
    if reason:
        pytest.skip(reason)
    services, base = live_sql_server.services, live_sql_server.realm_url("alpha")
    enable_code_flow(services)
    profile_user(services)
    secret = browser_client(services, client_id=CLIENT_ID, public=False)
    assert secret is not None
    args = (base, CLIENT_ID, secret, REDIRECT)

    started = last_json(run_node("code_flow.mjs", "start", *args))
    with live_sql_server.client() as http:
        back = through_pages(http, http.get(started["url"]))
    assert back.status_code in (302, 303), back.text[:300]
    callback = back.headers["location"]
    assert callback.startswith(REDIRECT + "?")

    # The realm's metadata promises `iss` on every authorization response: without it the library refuses.
    missing = _refusal(args, _without(callback, "iss"), started["checks"])
    assert missing["code"] == "OAUTH_INVALID_RESPONSE" and missing["cause"] == 'response parameter "iss" (issuer) missing'

    out = last_json(run_node("code_flow.mjs", "finish", *args, stdin={"callback": callback,
                                                                       "checks": started["checks"]}))
    claims = out["claims"]
    assert claims["sub"] == USER_ID and claims["iss"] == base and claims["aud"] == CLIENT_ID
    assert claims["nonce"] == started["checks"]["expectedNonce"] and claims["azp"] == CLIENT_ID
    assert out["scope"] == "openid profile email" and out["token_type"].lower() == "bearer"
    assert out["userinfo"] == {"sub": USER_ID, "preferred_username": USERNAME, "name": USER_NAME,
                               "email": USER_EMAIL}
    refreshed = out["refreshed"]
    assert refreshed["rotated"] is True and refreshed["new_access_token"] is True
    assert refreshed["userinfo_sub"] == USER_ID
    again = refreshed["claims"]
    assert again["sub"] == USER_ID and again["aud"] == CLIENT_ID and again["auth_time"] == claims["auth_time"]

    # The code was redeemed: the same callback again is refused by Credo, and the library reports it.
    replay = _refusal(args, callback, started["checks"])
    assert replay["code"] == "OAUTH_RESPONSE_BODY_ERROR" and json.loads(replay["cause"])["error"] == "invalid_grant"
