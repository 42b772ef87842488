"""The authorization code flow with PKCE through the HTTP endpoints (in process), on SQLite and PostgreSQL:
sign-in, consent, the code's bindings, refresh rotation, resource indicators, ID tokens, userinfo, RFC 9207
`iss` on every authorization response, and the refusals with their exact outcome."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import httpx
import jwt
import pytest

from credo.domain.clock import FrozenClock
from credo.management.users import create_user
from tests.factories import APP_SECRET, PASSWORD, USER_ID, USERNAME, assert_oauth_error, realm_settings
from tests.signin import (
    REDIRECT,
    authorize,
    browser_client,
    enable_code_flow,
    introspect,
    location_params,
    obtain_code,
    page_form,
    pkce,
    redeem,
    resource_server,
    sign_in,
    submit,
)
from tests.support import InProcessServer

MCP = "https://mcp.example/mcp"


Flow = tuple[InProcessServer, httpx.Client, str]


@pytest.fixture
def flow(frozen_sql: tuple[InProcessServer, FrozenClock]) -> Iterator[Flow]:
    """Realm alpha with the code flow, a user, a public browser client and a resource server (MCP)."""
    server, _ = frozen_sql
    services = server.services
    enable_code_flow(services)
    create_user(services, "alpha", USERNAME, PASSWORD, user_id=USER_ID)
    browser_client(services)
    resource_server(services, "alpha", "mcp-server", MCP)
    with server.client() as http:
        yield server, http, server.realm_url("alpha")


def test_sign_in_consent_code_token_id_token_userinfo(flow: Flow) -> None:
    _, http, base = flow
    challenge = pkce()
    page = authorize(http, base, challenge=challenge, nonce="n-0S6")
    assert page.status_code == 200 and "web-app name" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    consent = sign_in(http, page)
    assert consent.status_code == 200 and "Your name and username" in consent.text, consent.text[:400]
    session_cookie = next(c for c in http.cookies.jar if c.name.startswith("credo_session_"))
    assert session_cookie.has_nonstandard_attr("HttpOnly")
    params = location_params(submit(http, consent, decision="allow"))
    assert params["state"] == "st-1" and params["iss"] == base and "code" in params
    r = redeem(http, base, params["code"], challenge)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "openid profile" and "refresh_token" in body
    jwks = jwt.PyJWKSet.from_dict(http.get(f"{base}/connect/jwk_uri").json())
    header = jwt.get_unverified_header(body["id_token"])
    key = next(k for k in jwks.keys if k.key_id == header["kid"])
    claims = jwt.decode(body["id_token"], key=key, algorithms=["ES256"], audience="web-app", issuer=base)
    assert claims["sub"] == USER_ID and claims["nonce"] == "n-0S6" and claims["azp"] == "web-app"
    assert {"auth_time", "sid", "at_hash"} <= set(claims)
    info = http.get(f"{base}/userinfo", headers={"authorization": f"Bearer {body['access_token']}"})
    assert info.status_code == 200 and info.json() == {"sub": USER_ID, "preferred_username": USERNAME}
    # Consent is remembered: a second authorization goes straight back with a code.
    again = authorize(http, base, challenge=pkce())
    assert "code" in location_params(again)


def test_refresh_rotates_and_reuse_revokes_the_family(flow: Flow) -> None:
    server, http, base = flow
    challenge = pkce()
    tokens = redeem(http, base, obtain_code(http, base, challenge=challenge)["code"], challenge).json()
    first = tokens["refresh_token"]
    r = http.post(f"{base}/access_token", data={"grant_type": "refresh_token", "refresh_token": first,
                                                "client_id": "web-app"})
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["refresh_token"] != first and "id_token" in second
    replay = http.post(f"{base}/access_token", data={"grant_type": "refresh_token", "refresh_token": first,
                                                     "client_id": "web-app"})
    assert_oauth_error(replay, 400, "invalid_grant")
    dead = http.post(f"{base}/access_token", data={"grant_type": "refresh_token",
                                                   "refresh_token": second["refresh_token"], "client_id": "web-app"})
    assert_oauth_error(dead, 400, "invalid_grant")
    assert introspect(server, http, second["access_token"])["active"] is False


def test_code_reuse_is_refused_and_revokes_what_the_code_gave(flow: Flow) -> None:
    server, http, base = flow
    challenge = pkce()
    code = obtain_code(http, base, challenge=challenge)["code"]
    tokens = redeem(http, base, code, challenge).json()
    assert introspect(server, http, tokens["access_token"])["active"] is True
    assert_oauth_error(redeem(http, base, code, challenge), 400, "invalid_grant")
    assert introspect(server, http, tokens["access_token"])["active"] is False
    r = http.post(f"{base}/access_token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
                                                "client_id": "web-app"})
    assert_oauth_error(r, 400, "invalid_grant")


def test_pkce_is_required_and_checked(flow: Flow) -> None:
    _, http, base = flow
    missing = obtain_code(http, base)
    assert missing["error"] == "invalid_request" and "PKCE" in missing["error_description"]
    assert missing["iss"] == base and missing["state"] == "st-1"
    challenge = pkce()
    plain = location_params(authorize(http, base, code_challenge="a" * 43, code_challenge_method="plain"))
    assert plain["error"] == "invalid_request"
    assert plain["error_description"] == "Only code_challenge_method=S256 is supported."
    code = obtain_code(http, base, challenge=challenge)["code"]
    wrong = redeem(http, base, code, pkce())
    assert_oauth_error(wrong, 400, "invalid_grant")
    no_verifier = redeem(http, base, obtain_code(http, base, challenge=challenge)["code"], None)
    assert_oauth_error(no_verifier, 400, "invalid_grant")


def test_the_code_is_bound_to_its_client_and_redirect_uri(flow: Flow) -> None:
    server, http, base = flow
    browser_client(server.services, client_id="other-app")
    challenge = pkce()
    code = obtain_code(http, base, challenge=challenge)["code"]
    assert_oauth_error(redeem(http, base, code, challenge, client_id="other-app"), 400, "invalid_grant")
    code = obtain_code(http, base, challenge=challenge)["code"]
    r = redeem(http, base, code, challenge, redirect_uri="https://app.example/other")
    assert_oauth_error(r, 400, "invalid_grant")


def test_expired_code_is_refused(frozen_sql: tuple[InProcessServer, FrozenClock]) -> None:
    server, clock = frozen_sql
    enable_code_flow(server.services)
    create_user(server.services, "alpha", USERNAME, PASSWORD, user_id=USER_ID)
    browser_client(server.services)
    base, challenge = server.realm_url("alpha"), pkce()
    with server.client() as http:
        code = obtain_code(http, base, challenge=challenge)["code"]
        clock.advance(61)
        assert_oauth_error(redeem(http, base, code, challenge), 400, "invalid_grant")


@pytest.mark.parametrize("redirect_uri", ["https://evil.example/callback", "https://app.example/callback/x",
                                          "https://app.example/callback?x=1"])
def test_unregistered_redirect_uri_never_redirects(flow: Flow,
                                                   redirect_uri: str) -> None:
    _, http, base = flow
    r = authorize(http, base, challenge=pkce(), redirect_uri=redirect_uri)
    assert r.status_code == 400 and "location" not in r.headers
    assert "has not registered" in r.text


def test_unknown_client_is_shown_not_redirected(flow: Flow) -> None:
    _, http, base = flow
    r = authorize(http, base, "nobody", challenge=pkce())
    assert r.status_code == 400 and "location" not in r.headers and "not known" in r.text


def test_loopback_redirect_any_port(flow: Flow) -> None:
    server, http, base = flow
    browser_client(server.services, client_id="cli-app", redirect_uris=("http://127.0.0.1/callback",))
    ok = authorize(http, base, "cli-app", challenge=pkce(), redirect_uri="http://127.0.0.1:53123/callback")
    assert ok.status_code == 200
    other_path = authorize(http, base, "cli-app", challenge=pkce(), redirect_uri="http://127.0.0.1:53123/other")
    assert other_path.status_code == 400 and "location" not in other_path.headers


def test_resource_indicator_sets_the_audience(flow: Flow) -> None:
    server, http, base = flow
    challenge = pkce()
    code = obtain_code(http, base, challenge=challenge, resources=(MCP,))["code"]
    tokens = redeem(http, base, code, challenge, resource=MCP).json()
    assert introspect(server, http, tokens["access_token"])["aud"] == MCP
    # The resource server itself may introspect a token whose audience is its resource identifier.
    mine = http.post(f"{base}/introspect", data={"token": tokens["access_token"], "client_id": "mcp-server",
                                                  "client_secret": APP_SECRET})
    assert mine.json()["active"] is True and mine.json()["sub"] == USER_ID
    r = http.post(f"{base}/access_token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
                                                "client_id": "web-app", "resource": "https://other.example/"})
    assert_oauth_error(r, 400, "invalid_target")
    unknown = obtain_code(http, base, challenge=challenge, resources=("https://unknown.example/mcp",))
    assert unknown["error"] == "invalid_target" and unknown["iss"] == base


def test_resource_on_client_credentials(flow: Flow) -> None:
    server, http, base = flow
    secret = browser_client(server.services, client_id="svc", public=False, scopes=("data-read",),
                            grant_types=("client_credentials",))
    assert secret is not None
    r = http.post(f"{base}/access_token", data={"grant_type": "client_credentials", "client_id": "svc",
                                                "client_secret": secret, "resource": MCP})
    assert r.status_code == 200, r.text
    assert introspect(server, http, r.json()["access_token"])["aud"] == MCP
    bad = http.post(f"{base}/access_token", data={"grant_type": "client_credentials", "client_id": "svc",
                                                  "client_secret": secret, "resource": "https://nope.example/"})
    assert_oauth_error(bad, 400, "invalid_target")


def test_prompt_none(flow: Flow) -> None:
    _, http, base = flow
    challenge = pkce()
    r = location_params(authorize(http, base, challenge=challenge, prompt="none"))
    assert r["error"] == "login_required" and r["iss"] == base
    obtain_code(http, base, challenge=challenge)  # signs in and consents
    assert "code" in location_params(authorize(http, base, challenge=challenge, prompt="none"))
    wider = location_params(authorize(http, base, challenge=challenge, prompt="none", scope="openid profile email"))
    assert wider["error"] == "consent_required"


def test_consent_denied(flow: Flow) -> None:
    _, http, base = flow
    params = obtain_code(http, base, challenge=pkce(), allow=False)
    assert params["error"] == "access_denied" and params["iss"] == base and params["state"] == "st-1"


def test_csrf_on_sign_in_and_consent(flow: Flow) -> None:
    _, http, base = flow
    page = authorize(http, base, challenge=pkce())
    forged = http.post(f"{base}/signin", data={"csrf": "forged", "username": USERNAME, "password": PASSWORD,
                                               "client_id": "web-app", "response_type": "code"})
    assert forged.status_code == 403 and "location" not in forged.headers
    consent = sign_in(http, page)
    fields = dict(page_form(consent.text)[1])
    fields["csrf"] = "x" * 43
    assert http.post(f"{base}/consent", data={**fields, "decision": "allow"}).status_code == 403


def test_csrf_field_outside_ascii_is_refused_like_any_wrong_token(flow: Flow) -> None:
    """Found by the fuzzer (tests/security/test_fuzz.py): with the CSRF cookie set, a `csrf` field with a
    character outside ASCII made every form answer 500 (hmac.compare_digest refuses such a str)."""
    _, http, base = flow
    consent = sign_in(http, authorize(http, base, challenge=pkce()))
    fields = {**dict(page_form(consent.text)[1]), "csrf": "jeton-é"}
    for path, status in (("signin", 403), ("consent", 403), ("account/revoke", 403), ("connect/endSession", 200)):
        r = http.post(f"{base}/{path}", data={**fields, "decision": "allow", "username": USERNAME,
                                              "password": PASSWORD})
        assert r.status_code == status and r.headers["content-type"].startswith("text/html"), (path, r.text[:300])
    assert 'id="confirm-sign-out"' in r.text and "location" not in r.headers  # not confirmed: asked again


def test_wrong_password_and_unknown_user_look_the_same(flow: Flow) -> None:
    _, http, base = flow
    page = authorize(http, base, challenge=pkce())
    wrong = sign_in(http, page, password="not-the-password")
    unknown = sign_in(http, page, username="nobody-here", password="not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    assert "The username or password is incorrect." in wrong.text and "The username or password is incorrect." in unknown.text


def test_form_post_response_mode(flow: Flow) -> None:
    _, http, base = flow
    page = authorize(http, base, challenge=pkce(), response_mode="form_post")
    consent = sign_in(http, page)
    r = submit(http, consent, decision="allow")
    assert r.status_code == 200 and f'action="{REDIRECT}"' in r.text and 'name="code"' in r.text
    assert 'name="iss"' in r.text


def test_discovery_lists_the_code_flow_only_when_enabled(flow: Flow) -> None:
    server, http, base = flow
    doc = http.get(f"{base}/.well-known/openid-configuration").json()
    assert doc["authorization_endpoint"] == f"{base}/authorize"
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert doc["response_types_supported"] == ["code"]
    realm_settings(server.services, "alpha", grant_types=("client_credentials",))
    doc = http.get(f"{base}/.well-known/openid-configuration").json()
    assert "authorization_endpoint" not in doc and "id_token_signing_alg_values_supported" not in doc


def _session_cookie(http: httpx.Client) -> str:
    return next(c.value for c in http.cookies.jar if c.name == "credo_session_alpha" and c.value)


def test_sign_in_rotates_the_session(flow: Flow) -> None:
    _, http, base = flow
    challenge = pkce()
    obtain_code(http, base, challenge=challenge)
    old = _session_cookie(http)
    again = authorize(http, base, challenge=challenge, prompt="login")
    assert 'name="password"' in again.text  # prompt=login asks again although a session exists
    location_params(sign_in(http, again))
    assert _session_cookie(http) != old
    http.cookies.set("credo_session_alpha", old, path="/am/oauth2/realms/root/realms/alpha")
    stale = location_params(authorize(http, base, challenge=challenge, prompt="none"))
    assert stale["error"] == "login_required"


def test_my_account_revocation_kills_the_tokens(flow: Flow) -> None:
    server, http, base = flow
    challenge = pkce()
    tokens = redeem(http, base, obtain_code(http, base, challenge=challenge)["code"], challenge).json()
    page = http.get(f"{base}/account")
    assert page.status_code == 200 and "web-app name" in page.text
    action, hidden = page_form(page.text)
    assert action.endswith("/account/revoke") and ("client_id", "web-app") in hidden
    r = submit(http, page)
    assert r.status_code == 303 and r.headers["location"].endswith("/account")
    assert "web-app name" not in http.get(f"{base}/account").text
    assert introspect(server, http, tokens["access_token"])["active"] is False
    r = http.post(f"{base}/access_token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
                                                "client_id": "web-app"})
    assert_oauth_error(r, 400, "invalid_grant")
    # Consent was forgotten: the next authorization asks again.
    assert 'value="allow"' in authorize(http, base, challenge=pkce()).text


def test_logout_redirects_only_to_a_registered_uri(flow: Flow) -> None:
    server, http, base = flow
    browser_client(server.services, client_id="rp", post_logout_redirect_uris=("https://app.example/bye",))
    challenge = pkce()
    code = obtain_code(http, base, "rp", challenge=challenge)["code"]
    id_token = redeem(http, base, code, challenge, client_id="rp").json()["id_token"]
    evil = http.get(f"{base}/connect/endSession", params={"id_token_hint": id_token,
                                                          "post_logout_redirect_uri": "https://evil.example/"})
    assert evil.status_code == 400 and "location" not in evil.headers
    r = http.get(f"{base}/connect/endSession", params={"id_token_hint": id_token, "state": "bye-1",
                                                       "post_logout_redirect_uri": "https://app.example/bye"})
    assert r.status_code == 302 and r.headers["location"] == "https://app.example/bye?state=bye-1"
    assert location_params(authorize(http, base, "rp", challenge=challenge, prompt="none"))["error"] == "login_required"


def test_logout_without_hint_asks_first(flow: Flow) -> None:
    _, http, base = flow
    challenge = pkce()
    obtain_code(http, base, challenge=challenge)
    page = http.get(f"{base}/connect/endSession")
    assert page.status_code == 200 and "Sign out?" in page.text
    assert "code" in location_params(authorize(http, base, challenge=challenge, prompt="none"))  # still signed in
    done = submit(http, page)
    assert done.status_code == 200 and "You are signed out." in done.text
    assert location_params(authorize(http, base, challenge=challenge, prompt="none"))["error"] == "login_required"


def test_userinfo_needs_a_user_token_with_openid(flow: Flow) -> None:
    server, http, base = flow
    secret = browser_client(server.services, client_id="svc", public=False, scopes=("data-read",),
                            grant_types=("client_credentials",))
    assert secret is not None
    cc = http.post(f"{base}/access_token", data={"grant_type": "client_credentials", "client_id": "svc",
                                                 "client_secret": secret}).json()["access_token"]
    r = http.get(f"{base}/userinfo", headers={"authorization": f"Bearer {cc}"})
    assert_oauth_error(r, 403, "insufficient_scope")
    assert_oauth_error(http.get(f"{base}/userinfo", headers={"authorization": "Bearer nope"}), 401, "invalid_token")
    challenge = pkce()
    code = obtain_code(http, base, challenge=challenge, scope="openid email")["code"]
    server.services.storage.users.put(replace(server.services.user("alpha", USER_ID), email="b@example.com"))
    token = redeem(http, base, code, challenge).json()["access_token"]
    info = http.post(f"{base}/userinfo", headers={"authorization": f"Bearer {token}"}).json()
    assert info == {"sub": USER_ID, "email": "b@example.com"}
