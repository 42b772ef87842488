"""Protected registration over real HTTP: initial access tokens, software statements, signed request
bodies, the registration policy and the rate limit; each refusal with its exact status and error."""

from __future__ import annotations

import uuid
from typing import Any

import jwt
import pytest

from credo.domain.clock import FrozenClock
from tests.factories import (
    SEED_BODY,
    Signer,
    access_token,
    assert_oauth_error,
    iat_client,
    now,
    realm_settings,
    unsigned,
)
from tests.support import Server

# --- initial access token ---------------------------------------------------------------------


def test_initial_access_token_one_registration(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    srv, base = sqlite_server, sqlite_server.realm_url()
    realm_settings(srv.services, allow_open_registration=False)
    cid, secret = iat_client(srv.services)
    with srv.client() as http:
        missing = http.post(f"{base}/register", json=SEED_BODY)
        assert_oauth_error(missing, 401, "invalid_token")
        assert missing.headers["www-authenticate"].startswith("Bearer")
        assert_oauth_error(http.post(f"{base}/register", json=SEED_BODY, headers={"Authorization": "Bearer nope"}),
                     401, "invalid_token")
        assert_oauth_error(http.post(f"{base}/aiagent/register", json=SEED_BODY), 401, "invalid_token")

        token = access_token(http, base, cid, secret)
        ok = http.post(f"{base}/register", json=SEED_BODY, headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 201, ok.text
        event = srv.services.storage.audit.query("alpha", action="dcr.register", target=ok.json()["client_id"])[0]
        assert event.actor == cid and event.decision == "allow"
        reused = http.post(f"{base}/register", json=SEED_BODY, headers={"Authorization": f"Bearer {token}"})
        assert_oauth_error(reused, 401, "invalid_token")
        assert "invalid_token" in reused.headers["www-authenticate"]
        # Consuming the token also revoked it.
        assert_oauth_error(http.get(f"{base}/tokeninfo", params={"access_token": token}), 401, "invalid_token")

        # A refused registration does not consume the token.
        token2 = access_token(http, base, cid, secret)
        bad = http.post(f"{base}/register", json={**SEED_BODY, "scopes": ["nope"]},
                        headers={"Authorization": f"Bearer {token2}"})
        assert_oauth_error(bad, 400, "invalid_client_metadata")
        again = http.post(f"{base}/aiagent/register", json=SEED_BODY, headers={"Authorization": f"Bearer {token2}"})
        assert again.status_code == 201, again.text


def test_initial_access_token_needs_dcr_register(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    srv, base = sqlite_server, sqlite_server.realm_url()
    realm_settings(srv.services, allow_open_registration=False)
    with srv.client() as http:
        token = access_token(http, base, "demo-client", sqlite_demo["demo-client"])
        r = http.post(f"{base}/register", json=SEED_BODY, headers={"Authorization": f"Bearer {token}"})
        assert_oauth_error(r, 403, "insufficient_scope")
        assert "insufficient_scope" in r.headers["www-authenticate"]
        # A token of another realm is not a token of this one.
        realm_settings(srv.services, "bravo", allow_open_registration=False)
        cid, secret = iat_client(srv.services)
        alpha_token = access_token(http, base, cid, secret)
        other = http.post(f"{srv.realm_url('bravo')}/register", json=SEED_BODY,
                          headers={"Authorization": f"Bearer {alpha_token}"})
        assert_oauth_error(other, 401, "invalid_token")


def test_initial_access_token_expired(frozen: tuple[Server, FrozenClock]) -> None:
    srv, clock = frozen
    base = srv.realm_url()
    realm_settings(srv.services, allow_open_registration=False)
    cid, secret = iat_client(srv.services)
    with srv.client() as http:
        token = access_token(http, base, cid, secret)
        clock.advance(3601)
        r = http.post(f"{base}/register", json=SEED_BODY, headers={"Authorization": f"Bearer {token}"})
        assert_oauth_error(r, 401, "invalid_token")


# --- software statements ----------------------------------------------------------------------


def _statement_realm(srv: Server, signer: Signer, *, required: bool = True,
                     issuers: tuple[str, ...] = ("https://issuer.example",)) -> None:
    realm_settings(srv.services, protection={"require_software_statement": required,
                                       "software_statement_keys": {"jwks": signer.jwks, "issuers": list(issuers)}})


def test_software_statement_claims_override_body(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    srv, base, signer = sqlite_server, sqlite_server.realm_url(), Signer()
    _statement_realm(srv, signer)
    statement = signer.sign({"iss": "https://issuer.example", "iat": now(), "exp": now() + 600,
                             "software_id": "chatbot-1", "client_name": "From Statement", "scopes": ["data-read"]})
    with srv.client() as http:
        r = http.post(f"{base}/register", json={**SEED_BODY, "software_statement": statement})
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["client_name"] == "From Statement" and body["software_id"] == "chatbot-1"
        assert body["scopes"] == ["data-read"] and body["software_statement"] == statement
        assert "iss" not in body and "exp" not in body


# RFC 7591 spells the member `scope` (a string), the guides `scopes` (an array): a statement's scopes
# replace the body's whichever spelling each uses, on a new registration and on an RFC 7592 update.
STATEMENT_SCOPES = {"scope": "data-read", "scopes": ["data-read"]}
BODY_SCOPES: dict[str, dict[str, Any]] = {"scope": {"scope": "data-write email"},
                                          "scopes": {"scopes": ["data-write", "email"]}, "none": {}}


@pytest.mark.parametrize("body_spelling", sorted(BODY_SCOPES))
@pytest.mark.parametrize("statement_spelling", sorted(STATEMENT_SCOPES))
def test_statement_scopes_override_body_in_either_spelling(sqlite_server: Server, sqlite_demo: dict[str, str],
                                                          statement_spelling: str, body_spelling: str) -> None:
    srv, base, signer = sqlite_server, sqlite_server.realm_url(), Signer()
    _statement_realm(srv, signer)
    statement = signer.sign({"iss": "https://issuer.example", "iat": now(), "exp": now() + 600,
                             statement_spelling: STATEMENT_SCOPES[statement_spelling]})
    body = {k: v for k, v in SEED_BODY.items() if k != "scopes"} | BODY_SCOPES[body_spelling]
    with srv.client() as http:
        r = http.post(f"{base}/register", json={**body, "software_statement": statement})
        assert r.status_code == 201, r.text
        reg = r.json()
        assert reg["scopes"] == ["data-read"] and reg["scope"] == "data-read"
        put = http.put(reg["registration_client_uri"], headers={"Authorization": f"Bearer {reg['registration_access_token']}"},
                       json={**body, "client_id": reg["client_id"], "software_statement": statement})
        assert put.status_code == 200, put.text
        assert put.json()["scopes"] == ["data-read"]
        token = http.post(f"{base}/access_token", data={"grant_type": "client_credentials", "client_id": reg["client_id"],
                                                        "client_secret": reg["client_secret"]})
        assert token.status_code == 200 and token.json()["scope"] == "data-read", token.text


def test_statement_with_both_spellings_must_agree(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    """The statement's own `scope` and `scopes` are held to the rule the body is: the same scopes."""
    srv, base, signer = sqlite_server, sqlite_server.realm_url(), Signer()
    _statement_realm(srv, signer)
    statement = signer.sign({"iss": "https://issuer.example", "scope": "data-read", "scopes": ["data-write"]})
    with srv.client() as http:
        r = http.post(f"{base}/register", json={**SEED_BODY, "software_statement": statement})
        assert_oauth_error(r, 400, "invalid_client_metadata")
        assert r.json()["error_description"] == "scope: 'scope' and 'scopes' name different scopes."


def _statement_cases(signer: Signer) -> list[tuple[str, str, str]]:
    good = {"iss": "https://issuer.example", "iat": now(), "software_id": "x"}
    other = Signer(kid=signer.kid)
    hs = jwt.encode(good, "secret-secret-secret-secret-secret!", algorithm="HS256", headers={"kid": signer.kid})
    return [
        ("forged", other.sign(good), "invalid_software_statement"),
        ("alg none", unsigned(good), "invalid_software_statement"),
        ("HS256", hs, "invalid_software_statement"),
        ("jku header", signer.sign(good, {"jku": "https://evil.example/jwks"}), "invalid_software_statement"),
        ("jwk header", signer.sign(good, {"jwk": other.jwks["keys"][0]}), "invalid_software_statement"),
        ("expired", signer.sign({**good, "exp": now() - 10}), "invalid_software_statement"),
        ("no iss", signer.sign({"software_id": "x"}), "invalid_software_statement"),
        ("malformed", "not-a-jwt", "invalid_software_statement"),
        ("tampered", signer.sign(good)[:-4] + "AAAA", "invalid_software_statement"),
        ("unknown kid", Signer().sign(good), "invalid_software_statement"),
        ("unapproved issuer", signer.sign({**good, "iss": "https://other.example"}), "unapproved_software_statement"),
    ]


def test_software_statement_refusals(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    srv, base, signer = sqlite_server, sqlite_server.realm_url(), Signer()
    _statement_realm(srv, signer)
    with srv.client() as http:
        assert_oauth_error(http.post(f"{base}/register", json=SEED_BODY), 400, "invalid_software_statement")
        for case, statement, error in _statement_cases(signer):
            r = http.post(f"{base}/register", json={**SEED_BODY, "software_statement": statement})
            assert r.status_code == 400 and r.json()["error"] == error, (case, r.text)
            assert_oauth_error(r, 400, error)
        # Not configured: no statement from anyone is approved.
        realm_settings(srv.services, protection={})
        r = http.post(f"{base}/register", json={**SEED_BODY, "software_statement": signer.sign(
            {"iss": "https://issuer.example", "iat": now()})})
        assert_oauth_error(r, 400, "unapproved_software_statement")
    assert srv.services.storage.clients.count("alpha", dynamic=True) == 0


# --- signed request bodies --------------------------------------------------------------------


def _signed_realm(srv: Server, signer: Signer) -> None:
    realm_settings(srv.services, protection={"require_signed_request": True,
                                       "signed_request_keys": {"jwks": signer.jwks, "issuers": ["https://issuer.example"]}})


def _claims(base: str, **extra: Any) -> dict[str, Any]:
    return {**SEED_BODY, "iss": "https://issuer.example", "aud": f"{base}/register", "exp": now() + 300,
            "iat": now(), "jti": uuid.uuid4().hex, **extra}


def test_signed_request_body(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    srv, base, signer = sqlite_server, sqlite_server.realm_url(), Signer()
    _signed_realm(srv, signer)
    with srv.client() as http:
        assert_oauth_error(http.post(f"{base}/register", json=SEED_BODY), 400, "invalid_request")
        claims = _claims(base)
        jws = signer.sign(claims)
        for media in ("application/jose", "application/jwt"):
            body = jws if media == "application/jose" else signer.sign(_claims(base))
            r = http.post(f"{base}/register", content=body, headers={"content-type": media})
            assert r.status_code == 201, r.text
            assert r.json()["client_name"] == "Retail Chatbot" and "jti" not in r.json()
        replay = http.post(f"{base}/register", content=jws, headers={"content-type": "application/jose"})
        assert_oauth_error(replay, 400, "invalid_request")
        agent = signer.sign(_claims(base, aud=f"{base}/aiagent/register"))
        assert http.post(f"{base}/aiagent/register", content=agent,
                         headers={"content-type": "application/jose"}).status_code == 201
        cases = {
            "wrong key": Signer(kid=signer.kid).sign(_claims(base)),
            "alg none": unsigned(_claims(base)),
            "wrong aud": signer.sign(_claims(base, aud="https://elsewhere.example/register")),
            "no exp": signer.sign({k: v for k, v in _claims(base).items() if k != "exp"}),
            "no jti": signer.sign({k: v for k, v in _claims(base).items() if k != "jti"}),
            "expired": signer.sign(_claims(base, exp=now() - 5)),
            "too long": signer.sign(_claims(base, exp=now() + 86400)),
            "issuer": signer.sign(_claims(base, iss="https://other.example")),
            "garbage": "a.b.c",
        }
        for case, body in cases.items():
            r = http.post(f"{base}/register", content=body, headers={"content-type": "application/jose"})
            assert r.status_code == 400 and r.json()["error"] == "invalid_request", (case, r.text)
    assert srv.services.storage.clients.count("alpha", dynamic=True) == 3


# --- policy and rate limit ----------------------------------------------------------------------


def test_policy_on_create_and_update(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    srv, base = sqlite_server, sqlite_server.realm_url()
    policy = {"allowed_scopes": ["data-read", "data-write"], "allowed_redirect_hosts": ["example.com"],
              "allowed_grant_types": ["client_credentials"], "max_clients": 2}
    realm_settings(srv.services, protection={"policy": policy})
    with srv.client() as http:
        for changes, rule in [({"scopes": ["email"]}, "allowed_scopes"),
                              ({"redirect_uris": ["https://evil.example/cb"]}, "allowed_redirect_hosts"),
                              ({"grant_types": ["password"]}, "allowed_grant_types")]:
            r = http.post(f"{base}/register", json={**SEED_BODY, **changes})
            assert_oauth_error(r, 400, "invalid_client_metadata")
            assert rule in r.json()["error_description"]
        reg = http.post(f"{base}/register", json=SEED_BODY).json()
        rat = reg["registration_access_token"]
        put = http.put(reg["registration_client_uri"], headers={"Authorization": f"Bearer {rat}"},
                       json={**SEED_BODY, "client_id": reg["client_id"], "scopes": ["email"]})
        assert_oauth_error(put, 400, "invalid_client_metadata")
        assert "allowed_scopes" in put.json()["error_description"]
        # The refused update changed nothing, and the token did not rotate.
        get = http.get(reg["registration_client_uri"], headers={"Authorization": f"Bearer {rat}"})
        assert get.status_code == 200 and get.json()["scopes"] == ["data-read", "data-write"]
        assert http.post(f"{base}/register", json=SEED_BODY).status_code == 201
        full = http.post(f"{base}/register", json=SEED_BODY)
        assert_oauth_error(full, 400, "invalid_client_metadata")
        assert "max_clients" in full.json()["error_description"]


def test_rate_limit(frozen: tuple[Server, FrozenClock]) -> None:
    srv, clock = frozen
    base = srv.realm_url()
    realm_settings(srv.services, protection={"policy": {"rate_limit_per_minute": 3}})
    with srv.client() as http:
        for _ in range(3):
            assert http.post(f"{base}/register", json=SEED_BODY).status_code == 201
        r = http.post(f"{base}/register", json=SEED_BODY)
        assert_oauth_error(r, 429, "too_many_requests")
        assert 1 <= int(r.headers["retry-after"]) <= 60
        assert http.post(f"{srv.realm_url('bravo')}/register", json=SEED_BODY).status_code == 201
        clock.advance(61)
        assert http.post(f"{base}/register", json=SEED_BODY).status_code == 201


# --- registration access tokens -----------------------------------------------------------------


def test_registration_token_refusals(frozen: tuple[Server, FrozenClock]) -> None:
    srv, clock = frozen
    base = srv.realm_url()
    with srv.client() as http:
        a = http.post(f"{base}/register", json=SEED_BODY).json()
        b = http.post(f"{base}/register", json=SEED_BODY).json()
        uri_a = a["registration_client_uri"]
        answers = [
            http.get(uri_a),
            http.get(uri_a, headers={"Authorization": "Bearer wrong"}),
            http.get(uri_a, headers={"Authorization": f"Basic {a['registration_access_token']}"}),
            http.get(uri_a, headers={"Authorization": f"Bearer {b['registration_access_token']}"}),
            http.get(f"{base}/register/{uuid.uuid4()}", headers={"Authorization": f"Bearer {a['registration_access_token']}"}),
            http.get(f"{base}/register/demo-client", headers={"Authorization": f"Bearer {a['registration_access_token']}"}),
            http.get(f"{base}/register", headers={"Authorization": f"Bearer {a['registration_access_token']}"}),
            http.delete(uri_a, headers={"Authorization": f"Bearer {b['registration_access_token']}"}),
            http.put(uri_a, json={**SEED_BODY, "client_id": a["client_id"]},
                     headers={"Authorization": f"Bearer {b['registration_access_token']}"}),
        ]
        for r in answers:
            assert_oauth_error(r, 401, "invalid_token")
            assert r.json() == answers[0].json()
            assert "invalid_token" in r.headers["www-authenticate"]
        clock.advance(86400 * 30 + 1)
        assert_oauth_error(http.get(uri_a, headers={"Authorization": f"Bearer {a['registration_access_token']}"}),
                     401, "invalid_token")


def test_put_body_rules(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    base = sqlite_server.realm_url()
    with sqlite_server.client() as http:
        reg = http.post(f"{base}/register", json=SEED_BODY).json()
        uri, rat = reg["registration_client_uri"], reg["registration_access_token"]
        auth = {"Authorization": f"Bearer {rat}"}
        for body, field in [(SEED_BODY, "client_id:"), ({**SEED_BODY, "client_id": "other"}, "client_id:"),
                            ({**SEED_BODY, "client_id": reg["client_id"], "client_secret": "wrong"}, "client_secret:"),
                            ({**SEED_BODY, "client_id": reg["client_id"], "redirect_uris": ["http://evil.example"]},
                             "redirect_uris:")]:
            r = http.put(uri, json=body, headers=auth)
            expected = "invalid_redirect_uri" if field == "redirect_uris:" else "invalid_client_metadata"
            assert_oauth_error(r, 400, expected)
            assert r.json()["error_description"].startswith(field)
        assert http.get(uri, headers=auth).status_code == 200


CLIENT_ID_REFUSED = ("client_id: the server generates the client ID; send the registration without one "
                     "(to change an existing registration, PUT it to its registration_client_uri).")


@pytest.mark.parametrize("endpoint", ["/register", "/aiagent/register"])
@pytest.mark.parametrize("client_id", ["my-agent", "", 7])
def test_registration_endpoints_refuse_client_id(sqlite_server: Server, sqlite_demo: dict[str, str], endpoint: str,
                                                 client_id: object) -> None:
    """A client ID sent to a registration endpoint is refused (never silently replaced), whatever its value
    (`null` is no value: left out); nothing is registered. An RFC 7592 PUT, where the client ID must be
    sent, still works."""
    base = sqlite_server.realm_url()
    before = len(sqlite_server.services.storage.clients.all("alpha", dynamic=True))
    with sqlite_server.client() as http:
        r = http.post(f"{base}{endpoint}", json={**SEED_BODY, "client_id": client_id})
        assert_oauth_error(r, 400, "invalid_client_metadata")
        assert r.json()["error_description"] == CLIENT_ID_REFUSED
        assert len(sqlite_server.services.storage.clients.all("alpha", dynamic=True)) == before
        reg = http.post(f"{base}{endpoint}", json={**SEED_BODY, "client_id": None})
        assert reg.status_code == 201, reg.text
        put = http.put(reg.json()["registration_client_uri"], json={**SEED_BODY, "client_id": reg.json()["client_id"]},
                       headers={"Authorization": f"Bearer {reg.json()['registration_access_token']}"})
        assert put.status_code == 200 and put.json()["client_id"] == reg.json()["client_id"], put.text


def test_signed_registration_request_refuses_client_id(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    """The same rule for metadata carried by a signed request body."""
    srv, base, signer = sqlite_server, sqlite_server.realm_url(), Signer()
    _signed_realm(srv, signer)
    jws = signer.sign(_claims(base, client_id="mine"))
    with srv.client() as http:
        r = http.post(f"{base}/register", content=jws, headers={"Content-Type": "application/jose"})
        assert_oauth_error(r, 400, "invalid_client_metadata")
        assert r.json()["error_description"] == CLIENT_ID_REFUSED


def test_stateless_initial_access_token_is_one_time(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    from credo.management.clients import create_client

    srv, base = sqlite_server, sqlite_server.realm_url()
    realm_settings(srv.services, allow_open_registration=False)
    _, secret = create_client(srv.services, "alpha", "iat-jwt", scopes=("dcr_register",),
                              attributes={"providerOverridesEnabled": ["true"], "statelessTokensEnabled": ["true"]})
    assert secret is not None
    with srv.client() as http:
        token = access_token(http, base, "iat-jwt", secret)
        assert token.count(".") == 2
        assert http.post(f"{base}/register", json=SEED_BODY,
                         headers={"Authorization": f"Bearer {token}"}).status_code == 201
        assert_oauth_error(http.post(f"{base}/register", json=SEED_BODY, headers={"Authorization": f"Bearer {token}"}),
                     401, "invalid_token")


def test_signed_body_without_keys_and_signed_update(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    base, signer = sqlite_server.realm_url(), Signer()
    with sqlite_server.client() as http:
        r = http.post(f"{base}/register", content=signer.sign(_claims(base)), headers={"content-type": "application/jose"})
        assert_oauth_error(r, 400, "invalid_request")
        reg = http.post(f"{base}/register", json=SEED_BODY).json()
        put = http.put(reg["registration_client_uri"], content=signer.sign(_claims(base)),
                       headers={"content-type": "application/jose",
                                "Authorization": f"Bearer {reg['registration_access_token']}"})
        assert_oauth_error(put, 415, "invalid_request")


def test_head_does_not_rotate(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    with sqlite_server.client() as http:
        reg = http.post(f"{sqlite_server.realm_url()}/register", json=SEED_BODY).json()
        auth = {"Authorization": f"Bearer {reg['registration_access_token']}"}
        head = http.head(reg["registration_client_uri"], headers=auth)
        assert head.status_code == 405
        assert http.get(reg["registration_client_uri"], headers=auth).status_code == 200
