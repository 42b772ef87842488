"""JOSE attacks on stateless access tokens, through tokeninfo and introspection over real HTTP.

Every forged token must be refused: tokeninfo answers 401 invalid_token, introspection exactly
{"active": false}. A correctly re-signed control token proves the forging helpers are sound.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm

from credo.domain.clock import FrozenClock
from credo.management.demo import ensure_demo
from tests.support import Server, in_process_server, make_storage


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def compact(header: dict[str, Any], claims: dict[str, Any], sign: Callable[[bytes], bytes]) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}".encode()
    return signing_input.decode() + "." + b64(sign(signing_input))


@dataclass
class Env:
    srv: Server
    clock: FrozenClock
    secret: str
    http: httpx.Client
    token: str  # a genuine stateless token of bench-client in realm alpha

    @property
    def base(self) -> str:
        return self.srv.realm_url("alpha")

    @property
    def claims(self) -> dict[str, Any]:
        return dict(jwt.decode(self.token, options={"verify_signature": False}))

    @property
    def header(self) -> dict[str, Any]:
        return dict(jwt.get_unverified_header(self.token))

    def realm_private_key(self, realm: str = "alpha") -> Any:
        return self.srv.services.keys._active(realm).private

    def realm_public_key(self, realm: str = "alpha") -> Any:
        return self.realm_private_key(realm).public_key()

    def issue(self, realm: str = "alpha") -> str:
        r = self.http.post(self.srv.realm_url(realm) + "/access_token",
                           data={"grant_type": "client_credentials", "client_id": "bench-client",
                                 "client_secret": self.secret})
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])

    def assert_refused(self, token: str) -> None:
        info = self.http.get(f"{self.base}/tokeninfo", headers={"Authorization": f"Bearer {token}"})
        assert info.status_code == 401, info.text
        assert info.json()["error"] == "invalid_token"
        assert info.headers["cache-control"] == "no-store"
        r = self.http.post(f"{self.base}/introspect", data={"token": token, "client_id": "bench-client",
                                                            "client_secret": self.secret})
        assert r.status_code == 200 and r.json() == {"active": False}

    def assert_accepted(self, token: str) -> None:
        info = self.http.get(f"{self.base}/tokeninfo", headers={"Authorization": f"Bearer {token}"})
        assert info.status_code == 200, info.text
        r = self.http.post(f"{self.base}/introspect", data={"token": token, "client_id": "bench-client",
                                                            "client_secret": self.secret})
        assert r.json()["active"] is True


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """One server for the module's tests, none of which changes it (see test_retired_and_purged_key)."""
    with _env(tmp_path_factory.mktemp("jose")) as e:
        yield e


@contextmanager
def _env(tmp: Path) -> Iterator[Env]:
    clock = FrozenClock(int(time.time()))
    with make_storage("sqlite", tmp) as storage, in_process_server(storage, tmp, clock=clock) as srv:
        creds = {c.client_id: c.client_secret for c in ensure_demo(srv.services)}
        secret = creds["bench-client"]
        with srv.client() as http:
            e = Env(srv, clock, secret, http, "")
            e.token = e.issue()
            yield e


def es256(private: Any) -> Callable[[bytes], bytes]:
    return lambda data: ECAlgorithm(ECAlgorithm.SHA256).sign(data, private)


def test_genuine_and_resigned_control_tokens_are_accepted(env: Env) -> None:
    env.assert_accepted(env.token)
    resigned = compact(env.header, env.claims, es256(env.realm_private_key()))
    env.assert_accepted(resigned)


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none(env: Env, alg: str) -> None:
    header = {**env.header, "alg": alg}
    env.assert_refused(compact(header, env.claims, lambda _d: b""))
    env.assert_refused(compact(header, env.claims, lambda _d: b"x"))


def test_signature_stripped(env: Env) -> None:
    head, body, _sig = env.token.split(".")
    env.assert_refused(f"{head}.{body}.")


@pytest.mark.parametrize("alg, digest", [("HS256", hashlib.sha256), ("HS384", hashlib.sha384),
                                         ("HS512", hashlib.sha512)])
@pytest.mark.parametrize("form", ["pem", "pem-stripped", "der", "jwk", "jwk-compact"])
def test_hmac_keyed_with_the_public_key(env: Env, alg: str, digest: Any, form: str) -> None:
    public = env.realm_public_key()
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    jwk = env.srv.services.keys.jwks("alpha")["keys"][-1]
    secret = {"pem": pem, "pem-stripped": pem.strip(),
              "der": public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
              "jwk": json.dumps(jwk).encode(),
              "jwk-compact": json.dumps(jwk, separators=(",", ":")).encode()}[form]
    token = compact({**env.header, "alg": alg}, env.claims, lambda d: hmac.new(secret, d, digest).digest())
    env.assert_refused(token)


def _attacker() -> tuple[Any, dict[str, Any]]:
    private = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(ECAlgorithm.to_jwk(private.public_key()))
    return private, jwk


@pytest.mark.parametrize("keep_kid", [True, False])
def test_embedded_jwk_header(env: Env, keep_kid: bool) -> None:
    private, jwk = _attacker()
    header = {"alg": "ES256", "typ": "at+jwt", "jwk": jwk}
    if keep_kid:
        header["kid"] = env.header["kid"]
    env.assert_refused(compact(header, env.claims, es256(private)))


@pytest.mark.parametrize("name", ["jku", "x5u"])
def test_remote_key_headers(env: Env, name: str) -> None:
    private, _jwk = _attacker()
    header = {**env.header, name: "https://attacker.example/keys"}
    env.assert_refused(compact(header, env.claims, es256(private)))
    # Even with the realm's own signature, a header pointing elsewhere for keys is refused.
    env.assert_refused(compact(header, env.claims, es256(env.realm_private_key())))


def test_x5c_header(env: Env) -> None:
    header = {**env.header, "x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]}
    env.assert_refused(compact(header, env.claims, es256(env.realm_private_key())))


def test_attacker_key_with_the_realm_kid(env: Env) -> None:
    private, _jwk = _attacker()
    env.assert_refused(compact(env.header, env.claims, es256(private)))


def test_unknown_crit(env: Env) -> None:
    header = {**env.header, "crit": ["urn:example:must-understand"], "urn:example:must-understand": True}
    env.assert_refused(compact(header, env.claims, es256(env.realm_private_key())))


def test_expired(env: Env) -> None:
    now = env.clock.now()
    claims = {**env.claims, "iat": now - 7200, "nbf": now - 7200, "exp": now - 1}
    env.assert_refused(compact(env.header, claims, es256(env.realm_private_key())))
    claims["exp"] = now
    env.assert_refused(compact(env.header, claims, es256(env.realm_private_key())))


def test_not_yet_valid(env: Env) -> None:
    now = env.clock.now()
    claims = {**env.claims, "iat": now + 3600, "nbf": now + 3600, "exp": now + 7200}
    env.assert_refused(compact(env.header, claims, es256(env.realm_private_key())))


@pytest.mark.parametrize("change", [{"exp": "9999999999"}, {"exp": None}, {"exp": 1e20}, {"exp": True}])
def test_malformed_exp(env: Env, change: dict[str, Any]) -> None:
    env.assert_refused(compact(env.header, {**env.claims, **change}, es256(env.realm_private_key())))


@pytest.mark.parametrize("iss", ["https://attacker.example/am/oauth2", "", None])
def test_wrong_issuer(env: Env, iss: str | None) -> None:
    claims = {**env.claims, "iss": iss}
    if iss is None:
        del claims["iss"]
    env.assert_refused(compact(env.header, claims, es256(env.realm_private_key())))


def test_bravo_issuer_in_alpha(env: Env) -> None:
    claims = {**env.claims, "iss": env.srv.realm_url("bravo")}
    env.assert_refused(compact(env.header, claims, es256(env.realm_private_key())))


def test_another_realms_token(env: Env) -> None:
    from credo.management.clients import create_client

    _, secret = create_client(env.srv.services, "bravo", "bench-bravo", scopes=("data-read",),
                              attributes={"providerOverridesEnabled": ["true"], "statelessTokensEnabled": ["true"]})
    r = env.http.post(env.srv.realm_url("bravo") + "/access_token",
                      data={"grant_type": "client_credentials", "client_id": "bench-bravo", "client_secret": secret})
    bravo_token = r.json()["access_token"]
    assert bravo_token.count(".") == 2
    env.assert_refused(bravo_token)
    # Same claims, re-signed with the bravo key but claiming alpha's issuer: still refused (unknown kid).
    bravo_key = env.realm_private_key("bravo")
    header = {**env.header, "kid": env.srv.services.keys._active("bravo").kid}
    env.assert_refused(compact(header, env.claims, es256(bravo_key)))


@pytest.mark.parametrize("typ", ["JWT", "jwt", "at+jwt+x", "", None, "application/jwt", "dpop+jwt"])
def test_wrong_typ(env: Env, typ: str | None) -> None:
    header = {**env.header, "typ": typ}
    if typ is None:
        del header["typ"]
    env.assert_refused(compact(header, env.claims, es256(env.realm_private_key())))


def test_application_at_jwt_typ_accepted(env: Env) -> None:
    header = {**env.header, "typ": "application/at+jwt"}
    env.assert_accepted(compact(header, env.claims, es256(env.realm_private_key())))


def test_alg_confusion_between_asymmetric_algorithms(env: Env) -> None:
    header = {k: v for k, v in env.header.items() if k != "alg"}
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    env.assert_refused(jwt.encode(env.claims, rsa_key, algorithm="RS256", headers=header))
    # The realm's own EC key, but an algorithm other than the one the key was made for.
    ec384 = ECAlgorithm(ECAlgorithm.SHA384)
    env.assert_refused(compact({**header, "alg": "ES384"}, env.claims,
                               lambda d: ec384.sign(d, env.realm_private_key())))


def test_header_alg_must_be_the_keys_even_with_the_keys_own_signature(env: Env) -> None:
    """Signed by the realm's ES256 key the ES256 way, but the header claims RS256 (also allowed): the
    key only verifies the algorithm it was made for, whatever the signature would say."""
    env.assert_refused(compact({**env.header, "alg": "RS256"}, env.claims, es256(env.realm_private_key())))


@pytest.mark.parametrize("kid", [None, "", 7, ["x"], "../../etc/passwd", "unknown-kid"])
def test_bad_kid(env: Env, kid: Any) -> None:
    header = {**env.header, "kid": kid}
    if kid is None:
        del header["kid"]
    env.assert_refused(compact(header, env.claims, es256(env.realm_private_key())))


def test_tampered_claims(env: Env) -> None:
    head, _body, sig = env.token.split(".")
    claims = {**env.claims, "scope": "data-read data-write am-introspect-all-tokens"}
    env.assert_refused(f"{head}.{b64(json.dumps(claims).encode())}.{sig}")


# --- JWTs from outside: software statements and signed registration requests ---------------------


def _non_finite(claims: dict[str, Any], name: str, literal: str) -> dict[str, Any]:
    """`claims` whose `name` serialises as `literal` (json.dumps writes NaN / Infinity for these floats)."""
    return {**claims, name: {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}[literal]}


@pytest.fixture
def statement_signer(env: Env) -> Iterator[Any]:
    from tests.factories import Signer, realm_settings

    signer = Signer()
    realm_settings(env.srv.services, protection={"require_software_statement": True,
                                           "software_statement_keys": {"jwks": signer.jwks,
                                                                       "issuers": ["https://issuer.example"]},
                                           "signed_request_keys": {"jwks": signer.jwks,
                                                                   "issuers": ["https://issuer.example"]}})
    try:
        yield signer
    finally:
        realm_settings(env.srv.services, protection={})


def _signed_by(signer: Any, claims: dict[str, Any]) -> str:
    return compact({"alg": "ES256", "kid": signer.kid, "typ": "JWT"}, claims, es256(signer.key))


@pytest.mark.parametrize("literal", ["NaN", "Infinity"])
@pytest.mark.parametrize("name", ["exp", "nbf", "iat"])
def test_software_statement_with_non_finite_time(env: Env, statement_signer: Any, name: str, literal: str) -> None:
    """A NaN exp compares false with everything, so a lenient decoder would take it as never expiring."""
    from tests.factories import SEED_BODY, assert_oauth_error, now

    good = {"iss": "https://issuer.example", "iat": now(), "nbf": now(), "exp": now() + 600, "software_id": "nan-test"}
    bad = _signed_by(statement_signer, _non_finite(good, name, literal))
    assert literal in base64.urlsafe_b64decode(bad.split(".")[1] + "==").decode()
    r = env.http.post(f"{env.base}/register", json={**SEED_BODY, "software_statement": bad})
    assert_oauth_error(r, 400, "invalid_software_statement")
    fractional = _signed_by(statement_signer, {**good, name: good[name] + 0.5})
    assert_oauth_error(env.http.post(f"{env.base}/register", json={**SEED_BODY, "software_statement": fractional}),
                 400, "invalid_software_statement")


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("name", ["exp", "nbf", "iat"])
def test_signed_registration_request_with_non_finite_time(env: Env, statement_signer: Any, name: str,
                                                          literal: str) -> None:
    import uuid

    from tests.factories import SEED_BODY, assert_oauth_error, now

    claims = {**SEED_BODY, "iss": "https://issuer.example", "aud": f"{env.base}/register", "iat": now(),
              "nbf": now(), "exp": now() + 300, "jti": uuid.uuid4().hex}
    statement = _signed_by(statement_signer, {"iss": "https://issuer.example", "iat": now()})
    bad = _signed_by(statement_signer, {**_non_finite(claims, name, literal), "software_statement": statement})
    r = env.http.post(f"{env.base}/register", content=bad, headers={"content-type": "application/jose"})
    assert_oauth_error(r, 400, "invalid_request")


def test_registration_controls_are_accepted(env: Env, statement_signer: Any) -> None:
    """The same statement and signed request with finite integer times are accepted (the helpers are sound)."""
    import uuid

    from tests.factories import SEED_BODY, now

    statement = _signed_by(statement_signer, {"iss": "https://issuer.example", "iat": now(), "nbf": now(),
                                              "exp": now() + 600, "software_id": "nan-test"})
    r = env.http.post(f"{env.base}/register", json={**SEED_BODY, "software_statement": statement})
    assert r.status_code == 201, r.text
    claims = {**SEED_BODY, "iss": "https://issuer.example", "aud": f"{env.base}/register", "iat": now(),
              "nbf": now(), "exp": now() + 300, "jti": uuid.uuid4().hex, "software_statement": statement}
    r = env.http.post(f"{env.base}/register", content=_signed_by(statement_signer, claims),
                      headers={"content-type": "application/jose"})
    assert r.status_code == 201, r.text


def test_retired_and_purged_key(tmp_path: Path) -> None:
    with _env(tmp_path) as env:  # a server of its own: it rotates alpha's key
        _retired_and_purged_key(env)


def _retired_and_purged_key(env: Env) -> None:
    old = env.issue()
    env.assert_accepted(old)
    keys = env.srv.services.keys
    keys.rotate("alpha", "ES256", longest_token_lifetime=60)
    env.assert_accepted(old)  # retired but still published
    env.clock.advance(61)
    try:
        assert keys.purge_retired("alpha") == 1
        env.assert_refused(old)  # not expired (lifetime 3600), but its key is gone
        env.assert_accepted(env.issue())
    finally:
        env.clock.advance(-61)
