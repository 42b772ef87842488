"""DPoP (RFC 9449) end to end, in process: a client with its own key (joserfc, tests/dpop_client.py)
obtains, uses and refreshes bound tokens; every refusal is checked with its exact error."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from credo.domain.clock import FrozenClock
from credo.management.agents import update_agent
from tests.dpop_client import DpopKey, ath, post_token
from tests.factories import (
    APP_SECRET,
    GRANT_TOKEN_EXCHANGE,
    PASSWORD,
    USERNAME,
    Party,
    assert_oauth_error,
    autonomous_setup,
    demo_secrets,
    on_behalf_setup,
    realm_settings,
)
from tests.signin import REDIRECT, browser_client, enable_code_flow, introspect, obtain_code, pkce, profile_user
from tests.support import InProcessServer, Server, in_process_server, make_storage

REALM = "alpha"


def cc(agent: Party) -> dict[str, str]:
    return {"grant_type": "client_credentials", "scope": "monitor-system", **agent.auth}


def password(app: Party, scope: str = "openid") -> dict[str, str]:
    return {"grant_type": "password", "username": USERNAME, "password": PASSWORD, "scope": scope, **app.auth}


@pytest.fixture
def setup(frozen: tuple[InProcessServer, FrozenClock]) -> tuple[InProcessServer, FrozenClock, Party, Party]:
    server, clock = frozen
    agent, app = on_behalf_setup(server.services)
    update_agent(server.services, REALM, agent.client_id, {"grant_types": [GRANT_TOKEN_EXCHANGE, "client_credentials"],
                                                           "scopes": ["monitor-system"]})
    return server, clock, agent, app


def endpoint(server: Server, name: str = "access_token") -> str:
    return f"{server.realm_url(REALM)}/{name}"


def key(clock: FrozenClock, alg: str = "ES256") -> DpopKey:
    return DpopKey(alg, clock.now)


# --- obtain, use, refresh -----------------------------------------------------------------------------


@pytest.mark.parametrize("stateless", [True, False], ids=["jwt", "opaque"])
def test_client_credentials_bound_token(frozen: tuple[InProcessServer, FrozenClock], stateless: bool) -> None:
    server, clock = frozen
    agent, _ = autonomous_setup(server.services, stateless=stateless)
    k = key(clock)
    with server.client() as http:
        r = post_token(http, server.realm_url(REALM), cc(agent), k.proof("POST", endpoint(server)))
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["token_type"] == "DPoP"
        if stateless:
            claims = jwt.decode(body["access_token"], options={"verify_signature": False})
            assert claims["cnf"] == {"jkt": k.jkt}
        seen = introspect(server, http, body["access_token"])
        assert seen["active"] is True and seen["cnf"] == {"jkt": k.jkt} and seen["token_type"] == "DPoP"
        # Without a proof the same client gets a Bearer token, without cnf.
        plain = post_token(http, server.realm_url(REALM), cc(agent), None).json()
        assert plain["token_type"] == "Bearer"
        seen = introspect(server, http, plain["access_token"])
        assert "cnf" not in seen and seen["token_type"] == "Bearer"


@pytest.mark.parametrize("alg", ["ES256", "ES384", "RS256", "PS256", "EdDSA"])
def test_every_advertised_algorithm(setup: Any, alg: str) -> None:
    server, clock, agent, _ = setup
    k = key(clock, alg)
    with server.client() as http:
        meta = http.get(f"{server.realm_url(REALM)}/.well-known/openid-configuration").json()
        assert alg in meta["dpop_signing_alg_values_supported"]
        assert not {"none", "HS256"} & set(meta["dpop_signing_alg_values_supported"])
        r = post_token(http, server.realm_url(REALM), cc(agent), k.proof("POST", endpoint(server)))
        assert r.status_code == 200 and r.json()["token_type"] == "DPoP", r.text


def userinfo(http: httpx.Client, server: Server, token: str, proof: str | None, scheme: str = "DPoP") -> httpx.Response:
    headers = {"Authorization": f"{scheme} {token}"}
    if proof is not None:
        headers["DPoP"] = proof
    return http.get(endpoint(server, "userinfo"), headers=headers)


def test_bound_token_at_userinfo_and_stolen_without_the_key(setup: Any) -> None:
    server, clock, _, app = setup
    k, thief = key(clock), key(clock)
    url = endpoint(server, "userinfo")
    with server.client() as http:
        token = post_token(http, server.realm_url(REALM), password(app), k.proof("POST", endpoint(server))).json()
        assert token["token_type"] == "DPoP"
        value = token["access_token"]
        r = userinfo(http, server, value, k.proof("GET", url, token=value))
        assert r.status_code == 200, r.text
        # Stolen: as a Bearer token, with or without a proof.
        for proof in (None, k.proof("GET", url, token=value)):
            r = userinfo(http, server, value, proof, scheme="Bearer")
            assert_oauth_error(r, 401, "invalid_token")
            assert r.headers["www-authenticate"].startswith("DPoP ")
        # Stolen: as a DPoP token with the thief's own key, or with no proof at all.
        r = userinfo(http, server, value, thief.proof("GET", url, token=value))
        assert_oauth_error(r, 401, "invalid_dpop_proof")
        assert 'error="invalid_dpop_proof"' in r.headers["www-authenticate"]
        assert_oauth_error(userinfo(http, server, value, None), 401, "invalid_dpop_proof")
        # The holder's proof must hash this token, be for GET on this URL, and be fresh.
        assert_oauth_error(userinfo(http, server, value, k.proof("GET", url)), 401, "invalid_dpop_proof")
        assert_oauth_error(userinfo(http, server, value, k.proof("GET", url, token=value + "x")), 401,
                           "invalid_dpop_proof")
        assert_oauth_error(userinfo(http, server, value, k.proof("POST", url, token=value)), 401, "invalid_dpop_proof")
        assert_oauth_error(userinfo(http, server, value, k.proof("GET", endpoint(server, "tokeninfo"), token=value)),
                           401, "invalid_dpop_proof")
        replayed = k.proof("GET", url, token=value)
        assert userinfo(http, server, value, replayed).status_code == 200
        assert_oauth_error(userinfo(http, server, value, replayed), 401, "invalid_dpop_proof")


def test_unbound_token_with_the_dpop_scheme(setup: Any) -> None:
    server, clock, _, app = setup
    k = key(clock)
    with server.client() as http:
        value = post_token(http, server.realm_url(REALM), password(app), None).json()["access_token"]
        r = userinfo(http, server, value, k.proof("GET", endpoint(server, "userinfo"), token=value))
        assert_oauth_error(r, 401, "invalid_token")
        assert userinfo(http, server, value, None, scheme="Bearer").status_code == 200


def test_tokeninfo(setup: Any) -> None:
    server, clock, _, app = setup
    k = key(clock)
    url = endpoint(server, "tokeninfo")
    with server.client() as http:
        value = post_token(http, server.realm_url(REALM), password(app), k.proof("POST", endpoint(server))).json()[
            "access_token"]
        # A resource server checking the token by value learns that it is bound, and to which key.
        info = http.get(url, params={"access_token": value}).json()
        assert info["token_type"] == "DPoP" and info["cnf"] == {"jkt": k.jkt}
        # Presented as a credential, it needs the DPoP scheme and a proof of its key.
        assert_oauth_error(http.get(url, headers={"Authorization": f"Bearer {value}"}), 401, "invalid_token")
        assert_oauth_error(http.get(url, headers={"Authorization": f"DPoP {value}"}), 401, "invalid_dpop_proof")
        r = http.get(url, headers={"Authorization": f"DPoP {value}", "DPoP": k.proof("GET", url, token=value)})
        assert r.status_code == 200 and r.json()["cnf"] == {"jkt": k.jkt}


def test_public_client_refresh_token_is_bound(frozen: tuple[InProcessServer, FrozenClock]) -> None:
    server, clock = frozen
    s = server.services
    enable_code_flow(s)
    profile_user(s)
    browser_client(s)  # public: auth method none, code + refresh
    k, other = key(clock), key(clock)
    base = server.realm_url(REALM)
    with server.client() as http:
        challenge = pkce()
        code = obtain_code(http, base, challenge=challenge)["code"]
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "client_id": "web-app",
                "code_verifier": challenge.verifier}
        first = post_token(http, base, data, k.proof("POST", endpoint(server)))
        assert first.status_code == 200, first.text
        assert first.json()["token_type"] == "DPoP"
        refresh_value = first.json()["refresh_token"]
        data = {"grant_type": "refresh_token", "refresh_token": refresh_value, "client_id": "web-app"}
        # Without the key, or with another key: refused, and the refresh token is not used up.
        assert_oauth_error(post_token(http, base, data, None), 400, "invalid_dpop_proof")
        assert_oauth_error(post_token(http, base, data, other.proof("POST", endpoint(server))), 400,
                           "invalid_dpop_proof")
        again = post_token(http, base, data, k.proof("POST", endpoint(server)))
        assert again.status_code == 200, again.text
        assert again.json()["token_type"] == "DPoP"
        # The rotated refresh token stays bound.
        data["refresh_token"] = again.json()["refresh_token"]
        assert_oauth_error(post_token(http, base, data, None), 400, "invalid_dpop_proof")
        assert post_token(http, base, data, k.proof("POST", endpoint(server))).status_code == 200


def test_confidential_client_refreshes_with_a_new_proof(setup: Any) -> None:
    server, clock, _, app = setup
    k = key(clock)
    base = server.realm_url(REALM)
    with server.client() as http:
        first = post_token(http, base, password(app), k.proof("POST", endpoint(server))).json()
        data = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"], **app.auth}
        r = post_token(http, base, data, k.proof("POST", endpoint(server)))
        assert r.status_code == 200 and r.json()["token_type"] == "DPoP", r.text
        assert introspect(server, http, r.json()["access_token"])["cnf"] == {"jkt": k.jkt}


# --- token exchange -----------------------------------------------------------------------------------


def test_exchange_of_a_bound_subject_token_needs_its_key(setup: Any) -> None:
    server, clock, agent, app = setup
    k, other = key(clock), key(clock)
    base = server.realm_url(REALM)
    with server.client() as http:
        subject = post_token(http, base, password(app, "openid read-data"), k.proof("POST", endpoint(server))).json()[
            "access_token"]
        data = {"grant_type": GRANT_TOKEN_EXCHANGE, "subject_token": subject,
                "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
                "audience": app.client_id, "scope": "read-data", **agent.auth}
        assert_oauth_error(post_token(http, base, data, None), 400, "invalid_dpop_proof")
        assert_oauth_error(post_token(http, base, data, other.proof("POST", endpoint(server))), 400,
                           "invalid_dpop_proof")
        r = post_token(http, base, data, k.proof("POST", endpoint(server)))
        assert r.status_code == 200, r.text
        assert r.json()["token_type"] == "DPoP"
        assert introspect(server, http, r.json()["access_token"])["cnf"] == {"jkt": k.jkt}
        # An unbound subject token may be exchanged with or without a proof (the new token is bound to it).
        unbound = post_token(http, base, password(app, "openid read-data"), None).json()["access_token"]
        r = post_token(http, base, {**data, "subject_token": unbound}, other.proof("POST", endpoint(server)))
        assert r.status_code == 200 and r.json()["token_type"] == "DPoP"
        r = post_token(http, base, {**data, "subject_token": unbound}, None)
        assert r.status_code == 200 and r.json()["token_type"] == "Bearer"


# --- refusals at the token endpoint ---------------------------------------------------------------------


def test_replay_and_another_request(setup: Any) -> None:
    server, clock, agent, _ = setup
    k = key(clock)
    base, url = server.realm_url(REALM), endpoint(server)
    with server.client() as http:
        proof = k.proof("POST", url)
        assert post_token(http, base, cc(agent), proof).status_code == 200
        assert_oauth_error(post_token(http, base, cc(agent), proof), 400, "invalid_dpop_proof")  # replayed
        assert_oauth_error(post_token(http, base, cc(agent), k.proof("GET", url)), 400, "invalid_dpop_proof")
        assert_oauth_error(post_token(http, base, cc(agent), k.proof("post", url)), 400, "invalid_dpop_proof")
        for other in (endpoint(server, "introspect"), url.replace("/realms/alpha/", "/realms/beta/"),
                      url.replace("http://", "https://"), url + "x", "not a url"):
            assert_oauth_error(post_token(http, base, cc(agent), k.proof("POST", other)), 400, "invalid_dpop_proof")
        # Normalisation: case of scheme and host, a default port, a query are not differences.
        upper = url.replace("http://", "HTTP://").replace("credo.test", "CREDO.TEST", 1)
        for same in (upper, url + "?x=1"):
            r = post_token(http, base, cc(agent), k.proof("POST", same))
            assert r.status_code == 200, (same, r.text)


def test_time_window(setup: Any) -> None:
    server, clock, agent, _ = setup
    k = key(clock)
    base, url = server.realm_url(REALM), endpoint(server)
    now = clock.now()
    with server.client() as http:
        for iat in (now - 301, now + 61):
            assert_oauth_error(post_token(http, base, cc(agent), k.proof("POST", url, iat=iat)), 400,
                               "invalid_dpop_proof")
        for iat in (now - 300, now + 60):
            assert post_token(http, base, cc(agent), k.proof("POST", url, iat=iat)).status_code == 200
        # A jti is remembered as long as its proof could be accepted.
        proof = k.proof("POST", url)
        assert post_token(http, base, cc(agent), proof).status_code == 200
        clock.advance(299)
        assert_oauth_error(post_token(http, base, cc(agent), proof), 400, "invalid_dpop_proof")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _p384_under_es256(url: str, now: int) -> str:
    """A proof whose header says ES256 with a P-384 key, signed by that key (joserfc refuses to make one)."""
    k = DpopKey("ES384")
    head = _b64(json.dumps({"typ": "dpop+jwt", "alg": "ES256", "jwk": k.public_jwk}).encode())
    body = _b64(json.dumps({"jti": "p384", "htm": "POST", "htu": url, "iat": now}).encode())
    r, s = decode_dss_signature(k.key.private_key.sign(f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256())))
    return f"{head}.{body}.{_b64(r.to_bytes(48, 'big') + s.to_bytes(48, 'big'))}"


def test_malformed_proofs(setup: Any) -> None:
    server, clock, agent, _ = setup
    k, other = key(clock), key(clock)
    base, url = server.realm_url(REALM), endpoint(server)
    private = dict(k.key.as_dict(private=True))
    good = k.proof("POST", url)
    _, body, sig = good.split(".")
    hs_header = _b64(json.dumps({"typ": "dpop+jwt", "alg": "HS256", "jwk": k.public_jwk}).encode())
    none_header = _b64(json.dumps({"typ": "dpop+jwt", "alg": "none", "jwk": k.public_jwk}).encode())
    bad = [
        "", "garbage", "a.b.c", "a.b", good + ".x", good[:-4] + "AAAA",
        f"{hs_header}.{body}.{sig}", f"{none_header}.{body}.",
        k.proof("POST", url, header={"typ": "JWT"}),
        k.proof("POST", url, header={"typ": None}),
        k.proof("POST", url, header={"jwk": private}),  # private key material
        k.proof("POST", url, header={"jwk": {**k.public_jwk, "p": "AAAA"}}),  # a private member, even a stray one
        k.proof("POST", url, header={"jwk": None}),
        k.proof("POST", url, header={"jwk": other.public_jwk}),  # signed by another key than the header's
        k.proof("POST", url, header={"jwk": {"kty": "oct", "k": "c2VjcmV0"}}),
        k.proof("POST", url, header={"x5u": "https://example.com/x"}),
        jwt.encode({"jti": "c", "htm": "POST", "htu": url, "iat": clock.now()}, k.key.private_key, algorithm="ES256",
                   headers={"typ": "dpop+jwt", "jwk": k.public_jwk, "crit": ["exp"], "exp": 1}),
        k.proof("POST", url, claims={"iat": str(clock.now())}),
        k.proof("POST", url, claims={"iat": float(clock.now())}),
        k.proof("POST", url, claims={"jti": ""}),
        k.proof("POST", url, claims={"jti": 5}),
        k.proof("POST", url, claims={"jti": "j" * 300}),
        k.proof("POST", url, claims={"htu": 5}),
        _p384_under_es256(url, clock.now()),
    ]
    with server.client() as http:
        for proof in bad:
            r = post_token(http, base, cc(agent), proof)
            assert_oauth_error(r, 400, "invalid_dpop_proof")
        r = http.post(url, data=cc(agent), headers={"DPoP": b"\xe9." + good.encode()})  # not ASCII
        assert_oauth_error(r, 400, "invalid_dpop_proof")
        # Two DPoP headers: refused even when both are good proofs.
        r = http.post(url, data=cc(agent), headers=[("DPoP", k.proof("POST", url)), ("DPoP", k.proof("POST", url))])
        assert_oauth_error(r, 400, "invalid_dpop_proof")


def test_client_that_requires_dpop(setup: Any) -> None:
    server, clock, agent, _ = setup
    update_agent(server.services, REALM, agent.client_id, {"dpop_bound_access_tokens": True})
    k = key(clock)
    with server.client() as http:
        assert_oauth_error(post_token(http, server.realm_url(REALM), cc(agent), None), 400, "invalid_dpop_proof")
        r = post_token(http, server.realm_url(REALM), cc(agent), k.proof("POST", endpoint(server)))
        assert r.status_code == 200 and r.json()["token_type"] == "DPoP"
    update_agent(server.services, REALM, agent.client_id, {"dpop_bound_access_tokens": False})
    with server.client() as http:
        assert post_token(http, server.realm_url(REALM), cc(agent), None).json()["token_type"] == "Bearer"


# --- nonces -----------------------------------------------------------------------------------------------


def test_nonce_required(setup: Any) -> None:
    server, clock, agent, _ = setup
    realm_settings(server.services, REALM, dpop_nonce_required=True)
    k = key(clock)
    base, url = server.realm_url(REALM), endpoint(server)
    with server.client() as http:
        r = post_token(http, base, cc(agent), k.proof("POST", url))
        assert_oauth_error(r, 400, "use_dpop_nonce")
        nonce = r.headers["dpop-nonce"]
        r = post_token(http, base, cc(agent), k.proof("POST", url, nonce=nonce))
        assert r.status_code == 200, r.text
        assert r.headers["dpop-nonce"] == nonce  # the same window: the same nonce
        assert_oauth_error(post_token(http, base, cc(agent), k.proof("POST", url, nonce="x" * 32)), 400,
                           "use_dpop_nonce")
        clock.advance(300)  # the next window: the nonce is still accepted
        assert post_token(http, base, cc(agent), k.proof("POST", url, nonce=nonce)).status_code == 200
        clock.advance(300)  # stale now
        r = post_token(http, base, cc(agent), k.proof("POST", url, nonce=nonce))
        assert_oauth_error(r, 400, "use_dpop_nonce")
        assert r.headers["dpop-nonce"] != nonce
        # At a protected resource: 401 with the DPoP challenge and the nonce.
        app = Party("digital-assistant-web-app", APP_SECRET)
        fresh = r.headers["dpop-nonce"]
        value = post_token(http, base, password(app), k.proof("POST", url, nonce=fresh)).json()["access_token"]
        r = userinfo(http, server, value, k.proof("GET", endpoint(server, "userinfo"), token=value))
        assert_oauth_error(r, 401, "use_dpop_nonce")
        assert 'error="use_dpop_nonce"' in r.headers["www-authenticate"] and r.headers["dpop-nonce"] == fresh
        r = userinfo(http, server, value, k.proof("GET", endpoint(server, "userinfo"), token=value, nonce=fresh))
        assert r.status_code == 200, r.text


def test_a_nonce_sent_is_checked_even_when_not_required(setup: Any) -> None:
    server, clock, agent, _ = setup
    k = key(clock)
    with server.client() as http:
        r = post_token(http, server.realm_url(REALM), cc(agent), k.proof("POST", endpoint(server), nonce="stale"))
        assert_oauth_error(r, 400, "use_dpop_nonce")
        nonce = r.headers["dpop-nonce"]
        r = post_token(http, server.realm_url(REALM), cc(agent), k.proof("POST", endpoint(server), nonce=nonce))
        assert r.status_code == 200 and "dpop-nonce" not in r.headers


def test_nonce_and_replay_across_processes(tmp_path: Any, clock: FrozenClock) -> None:
    """Two servers on one database (two processes of a deployment): a nonce one issued is good at the
    other without shared state, and a proof used at one is a replay at the other."""
    with make_storage("sqlite", tmp_path) as storage, \
            in_process_server(storage, tmp_path, clock=clock) as one, \
            in_process_server(storage, tmp_path, clock=clock) as two:
        demo_secrets(one.services)
        agent, _ = autonomous_setup(one.services)
        realm_settings(one.services, REALM, dpop_nonce_required=True)
        k = key(clock)
        url = endpoint(one)
        with one.client() as a, two.client() as b:
            nonce = post_token(a, one.realm_url(REALM), cc(agent), k.proof("POST", url)).headers["dpop-nonce"]
            proof = k.proof("POST", url, nonce=nonce)
            r = post_token(b, two.realm_url(REALM), cc(agent), proof)
            assert r.status_code == 200, r.text
            assert_oauth_error(post_token(a, one.realm_url(REALM), cc(agent), proof), 400, "invalid_dpop_proof")


# --- registration ---------------------------------------------------------------------------------------------


def test_registration_metadata(setup: Any) -> None:
    server, clock, _, _ = setup
    realm_settings(server.services, REALM, allow_open_registration=True)
    base = server.realm_url(REALM)
    with server.client() as http:
        r = http.post(f"{base}/register", json={"dpop_bound_access_tokens": "yes"})
        assert_oauth_error(r, 400, "invalid_client_metadata")
        r = http.post(f"{base}/register", json={"dpop_bound_access_tokens": True})
        assert r.status_code == 201, r.text
        client = r.json()
        assert client["dpop_bound_access_tokens"] is True
        party = Party(client["client_id"], client["client_secret"])
        data = {"grant_type": "client_credentials", **party.auth}
        assert_oauth_error(post_token(http, base, data, None), 400, "invalid_dpop_proof")
        assert post_token(http, base, data, key(clock).proof("POST", endpoint(server))).json()["token_type"] == "DPoP"
        off = http.post(f"{base}/register", json={"dpop_bound_access_tokens": False}).json()
        assert "dpop_bound_access_tokens" not in off


def test_thumbprint_is_rfc7638() -> None:
    """RFC 7638 §3.1's example key and thumbprint."""
    from credo.keys.dpop import thumbprint
    jwk = {"kty": "RSA", "e": "AQAB", "alg": "RS256", "kid": "2011-04-29",
           "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiF"
                "V4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZg"
                "nYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBni"
                "Iqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}
    assert thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    from credo.keys.dpop import access_token_hash
    assert access_token_hash("token-value") == ath("token-value")
