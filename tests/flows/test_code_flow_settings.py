"""The realm and client settings of the code flow, each shown to change the outcome: PKCE relaxed for
confidential clients only, consent skipped for first-party applications, refresh tokens only with
`offline_access`, `prompt=consent`, `max_age`, and the sign-in throttle."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import jwt
import pytest

from credo.domain.clock import FrozenClock
from credo.management.users import create_user
from tests.factories import PASSWORD, USER_ID, USERNAME, assert_oauth_error, realm_settings
from tests.signin import (
    authorize,
    browser_client,
    enable_code_flow,
    location_params,
    obtain_code,
    pkce,
    redeem,
    sign_in,
)
from tests.support import InProcessServer

Setup = tuple[InProcessServer, FrozenClock, httpx.Client, str]


@pytest.fixture
def setup(frozen: tuple[InProcessServer, FrozenClock]) -> Iterator[Setup]:
    server, clock = frozen
    enable_code_flow(server.services)
    create_user(server.services, "alpha", USERNAME, PASSWORD, user_id=USER_ID)
    browser_client(server.services)
    with server.client() as http:
        yield server, clock, http, server.realm_url("alpha")


def test_pkce_may_be_relaxed_for_confidential_clients_only(setup: Setup) -> None:
    server, _, http, base = setup
    realm_settings(server.services, "alpha", pkce_optional_for_confidential_clients=True)
    secret = browser_client(server.services, client_id="server-app", public=False)
    assert secret is not None
    params = obtain_code(http, base, "server-app")
    assert "code" in params, params
    r = redeem(http, base, params["code"], None, client_id="server-app", client_secret=secret)
    assert r.status_code == 200, r.text
    # A verifier for a code issued without a challenge is a downgrade attempt (RFC 9700 §4.8).
    params = obtain_code(http, base, "server-app")
    r = redeem(http, base, params["code"], pkce(), client_id="server-app", client_secret=secret)
    assert_oauth_error(r, 400, "invalid_grant")
    public = location_params(authorize(http, base))
    assert public["error"] == "invalid_request" and "PKCE" in public["error_description"]


def test_first_party_applications_may_skip_consent(setup: Setup) -> None:
    server, _, http, base = setup
    challenge = pkce()
    page = sign_in(http, authorize(http, base, challenge=challenge))
    assert 'value="allow"' in page.text  # an application asks by default
    realm_settings(server.services, "alpha", skip_consent_for_applications=True)
    assert "code" in location_params(authorize(http, base, challenge=challenge, scope="openid email"))
    realm_settings(server.services, "alpha", skip_consent_for_applications=False)
    browser_client(server.services, client_id="trusted", skip_consent=True)
    assert "code" in location_params(authorize(http, base, "trusted", challenge=challenge))
    browser_client(server.services, client_id="third-party")
    assert 'value="allow"' in authorize(http, base, "third-party", challenge=challenge).text


def test_refresh_tokens_only_with_offline_access_when_the_realm_says_so(setup: Setup) -> None:
    server, _, http, base = setup
    realm_settings(server.services, "alpha", refresh_requires_offline_access=True)
    browser_client(server.services, client_id="offline", scopes=("openid", "offline_access"))
    challenge = pkce()
    without = redeem(http, base, obtain_code(http, base, "offline", challenge=challenge, scope="openid")["code"],
                     challenge, client_id="offline").json()
    assert "refresh_token" not in without
    with_offline = redeem(http, base, obtain_code(http, base, "offline", challenge=challenge,
                                                  scope="openid offline_access")["code"], challenge,
                          client_id="offline").json()
    assert "refresh_token" in with_offline


def test_the_realm_issues_refresh_tokens_unless_told_not_to(setup: Setup) -> None:
    server, _, http, base = setup
    browser_client(server.services, client_id="no-refresh-grant", refresh=False)
    challenge = pkce()

    def tokens() -> dict[str, str]:
        code = obtain_code(http, base, "no-refresh-grant", challenge=challenge)["code"]
        return dict(redeem(http, base, code, challenge, client_id="no-refresh-grant").json())

    issued = tokens()  # the client lists only authorization_code: the refresh grant is implied
    again = http.post(f"{base}/access_token", data={"grant_type": "refresh_token", "client_id": "no-refresh-grant",
                                                    "refresh_token": issued["refresh_token"]})
    assert again.status_code == 200 and again.json()["refresh_token"], again.text
    realm_settings(server.services, "alpha", issue_refresh_tokens=False)
    body = tokens()
    assert "refresh_token" not in body and body["access_token"]


def test_prompt_consent_asks_again(setup: Setup) -> None:
    _, _, http, base = setup
    challenge = pkce()
    obtain_code(http, base, challenge=challenge)
    assert "code" in location_params(authorize(http, base, challenge=challenge))
    assert 'value="allow"' in authorize(http, base, challenge=challenge, prompt="consent").text


def test_max_age_asks_for_a_fresh_sign_in(setup: Setup) -> None:
    _, clock, http, base = setup
    challenge = pkce()
    obtain_code(http, base, challenge=challenge)
    clock.advance(120)
    assert "code" in location_params(authorize(http, base, challenge=challenge, max_age="300"))
    stale = authorize(http, base, challenge=challenge, max_age="60")
    assert 'name="password"' in stale.text
    params = location_params(sign_in(http, stale))
    tokens = redeem(http, base, params["code"], challenge).json()
    claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert claims["auth_time"] == clock.now()
    none = location_params(authorize(http, base, challenge=challenge, max_age="abc"))
    assert none["error"] == "invalid_request"


def test_sign_in_is_throttled_per_user(setup: Setup) -> None:
    _, _, http, base = setup
    page = authorize(http, base, challenge=pkce())
    for _ in range(10):
        assert sign_in(http, page, password="wrong-password-x").status_code == 401
    locked = sign_in(http, page)  # the right password, after ten failures
    assert locked.status_code == 429 and "Too many failed sign-ins" in locked.text
