"""Negative tests of the foundation endpoints over real HTTP: every refusal has the exact status, the
exact RFC `error` code, and `Cache-Control: no-store`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from credo.domain.clock import FrozenClock
from credo.domain.settings import ProviderSettings
from credo.management.clients import create_client, update_client
from credo.management.demo import ensure_demo
from credo.management.realms import ensure_realm
from tests.conftest import SQL_BACKENDS
from tests.factories import assert_oauth_error
from tests.support import Server, in_process_server, make_storage


@dataclass
class Env:
    srv: Server
    clock: FrozenClock
    secrets: dict[str, str]
    http: httpx.Client

    @property
    def base(self) -> str:
        return self.srv.realm_url("alpha")

    def token(self, client_id: str = "demo-client", scope: str = "data-read") -> str:
        r = self.http.post(f"{self.base}/access_token", data={"grant_type": "client_credentials", "client_id": client_id,
                                                              "client_secret": self.secrets[client_id], "scope": scope})
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])


@pytest.fixture(scope="module", params=SQL_BACKENDS)
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp: Path = tmp_path_factory.mktemp("token-errors")
    clock = FrozenClock(int(time.time()))
    with make_storage(request.param, tmp) as storage, in_process_server(storage, tmp, clock=clock) as srv:
        services = srv.services
        secrets = {c.client_id: c.client_secret for c in ensure_demo(services)}
        for cid, kw in {"basic-client": {"auth_method": "client_secret_basic", "strict_auth_method": True},
                        "pinned-post": {"strict_auth_method": True},
                        "pw-only": {"grant_types": ("password",)},
                        "off-client": {}, "other-client": {"scopes": ("data-read",)}}.items():
            _, secret = create_client(services, "alpha", cid, scopes=kw.pop("scopes", ("data-read",)), **kw)  # type: ignore[arg-type]
            secrets[cid] = secret  # type: ignore[assignment]
        update_client(services, "alpha", "off-client", {"enabled": False})
        ensure_realm(services, "gamma", ProviderSettings(grant_types=("password",)))
        _, secrets["gamma-client"] = create_client(services, "gamma", "gamma-client")  # type: ignore[assignment]
        with srv.client() as http:
            yield Env(srv, clock, secrets, http)


def cc(env: Env, client_id: str = "demo-client", **extra: str) -> dict[str, str]:
    return {"grant_type": "client_credentials", "client_id": client_id, "client_secret": env.secrets[client_id], **extra}


# --- the token endpoint ---------------------------------------------------------------------------

def test_missing_grant_type(env: Env) -> None:
    data = cc(env)
    del data["grant_type"]
    assert_oauth_error(env.http.post(f"{env.base}/access_token", data=data), 400, "invalid_request")


def test_unknown_grant_type(env: Env) -> None:
    assert_oauth_error(env.http.post(f"{env.base}/access_token", data=cc(env, grant_type="urn:x:magic")),
                 400, "unsupported_grant_type")


def test_grant_not_enabled_in_realm(env: Env) -> None:
    url = env.srv.realm_url("gamma") + "/access_token"
    assert_oauth_error(env.http.post(url, data=cc(env, "gamma-client")), 400, "unsupported_grant_type")


def test_client_without_the_grant(env: Env) -> None:
    assert_oauth_error(env.http.post(f"{env.base}/access_token", data=cc(env, "pw-only")), 400, "unauthorized_client")


@pytest.mark.parametrize("case", ["unknown", "wrong-secret", "basic-and-post", "basic-for-pinned-post-client",
                                  "post-for-pinned-basic-client", "disabled", "no-auth", "bad-basic", "non-ascii-basic",
                                  "empty-secret"])
def test_invalid_client(env: Env, case: str) -> None:
    data = {"grant_type": "client_credentials"}
    auth: tuple[str, str] | None = None
    headers: dict[str, str] = {}
    if case == "unknown":
        data |= {"client_id": "nobody", "client_secret": "x" * 20}
    elif case == "wrong-secret":
        data |= {"client_id": "demo-client", "client_secret": env.secrets["demo-client"] + "x"}
    elif case == "basic-and-post":
        data |= {"client_secret": env.secrets["basic-client"]}
        auth = ("basic-client", env.secrets["basic-client"])
    elif case == "basic-for-pinned-post-client":
        auth = ("pinned-post", env.secrets["pinned-post"])
    elif case == "post-for-pinned-basic-client":
        data |= {"client_id": "basic-client", "client_secret": env.secrets["basic-client"]}
    elif case == "disabled":
        data |= {"client_id": "off-client", "client_secret": env.secrets["off-client"]}
    elif case == "bad-basic":
        headers["Authorization"] = "Basic !!!not-base64"
    elif case == "non-ascii-basic":  # latin-1 bytes in the header: malformed credentials, not a server error
        headers["Authorization"] = "Basic \u00e9\u00e9==".encode("latin-1")  # type: ignore[assignment]
    elif case == "empty-secret":
        data |= {"client_id": "demo-client", "client_secret": ""}
    r = env.http.post(f"{env.base}/access_token", data=data, auth=auth, headers=headers)
    assert_oauth_error(r, 401, "invalid_client")
    assert r.headers["www-authenticate"].startswith("Basic")


def test_pinned_clients_succeed_with_their_method(env: Env) -> None:
    """The positive controls for the cases above: the same clients, the registered method."""
    r = env.http.post(f"{env.base}/access_token", data={"grant_type": "client_credentials"},
                      auth=("basic-client", env.secrets["basic-client"]))
    assert r.status_code == 200, r.text
    assert env.http.post(f"{env.base}/access_token", data=cc(env, "pinned-post")).status_code == 200


@pytest.mark.parametrize("scope", ["data-admin", "data-read data-admin", "profile"])
def test_scope_not_allowed(env: Env, scope: str) -> None:
    assert_oauth_error(env.http.post(f"{env.base}/access_token", data=cc(env, scope=scope)), 400, "invalid_scope")


@pytest.mark.parametrize("scope", ['data"read', "data\\read", "data\u00e9"])
def test_malformed_scope(env: Env, scope: str) -> None:
    assert_oauth_error(env.http.post(f"{env.base}/access_token", data=cc(env, scope=scope)), 400, "invalid_scope")


def test_repeated_parameter(env: Env) -> None:
    body = httpx.QueryParams(cc(env)).add("scope", "data-read").add("scope", "data-write")
    r = env.http.post(f"{env.base}/access_token", content=str(body),
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_oauth_error(r, 400, "invalid_request")


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "multipart/form-data; boundary=x", None])
def test_wrong_content_type(env: Env, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    r = env.http.post(f"{env.base}/access_token", content=str(httpx.QueryParams(cc(env))), headers=headers)
    assert_oauth_error(r, 415, "invalid_request")


def test_body_over_the_limit(env: Env) -> None:
    body = str(httpx.QueryParams(cc(env, padding="a" * 70_000)))
    r = env.http.post(f"{env.base}/access_token", content=body,
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_oauth_error(r, 413, "invalid_request")


def test_body_over_the_limit_chunked(env: Env) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"grant_type=client_credentials&x="
        for _ in range(80):
            yield b"a" * 1024

    r = env.http.post(f"{env.base}/access_token", content=chunks(),
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_oauth_error(r, 413, "invalid_request")


@pytest.mark.parametrize("body", [
    b"grant_type=client_credentials&client_id=demo-client&client_secret=%zz",
    b"grant_type=client_credentials&client_id=demo-client&client_secret=%E0%A4",
    b"grant_type=client_credentials&client_id=demo-client&client_secret=\xff\xfe",
    b"grant_type=client_credentials&client_id=%",
    b"grant_type=client_credentials&client_id=a%00b",
])
def test_malformed_body(env: Env, body: bytes) -> None:
    r = env.http.post(f"{env.base}/access_token", content=body,
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_oauth_error(r, 400, "invalid_request")


@pytest.mark.parametrize("path", ["/access_token", "/introspect", "/token/revoke", "/.well-known/openid-configuration",
                                  "/connect/jwk_uri", "/tokeninfo"])
def test_unknown_realm(env: Env, path: str) -> None:
    url = env.srv.realm_url("no-such-realm") + path
    r = env.http.get(url) if path in ("/.well-known/openid-configuration", "/connect/jwk_uri", "/tokeninfo") \
        else env.http.post(url, data=cc(env))
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    assert r.headers["content-type"].startswith("application/json")


# --- introspection and tokeninfo ------------------------------------------------------------------

def test_introspection_unauthenticated(env: Env) -> None:
    token = env.token()
    r = env.http.post(f"{env.base}/introspect", data={"token": token})
    assert_oauth_error(r, 401, "invalid_client")
    assert "www-authenticate" in r.headers


def _introspect(env: Env, token: str, client_id: str = "other-client") -> dict[str, object]:
    r = env.http.post(f"{env.base}/introspect", data={"token": token, "client_id": client_id,
                                                      "client_secret": env.secrets[client_id]})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    return r.json()  # type: ignore[no-any-return]


def test_introspect_another_clients_token(env: Env) -> None:
    token = env.token("demo-client")
    assert _introspect(env, token, "demo-client")["active"] is True
    assert _introspect(env, token, "other-client") == {"active": False}


@pytest.mark.parametrize("client_id", ["demo-client", "bench-client"])
def test_introspect_expired(env: Env, client_id: str) -> None:
    token = env.token(client_id)
    assert _introspect(env, token, client_id)["active"] is True
    env.clock.advance(3601)
    try:
        assert _introspect(env, token, client_id) == {"active": False}
        gone = env.http.get(f"{env.base}/tokeninfo", params={"access_token": token})
        assert_oauth_error(gone, 401, "invalid_token")
    finally:
        env.clock.advance(-3601)


@pytest.mark.parametrize("client_id", ["demo-client", "bench-client"])
def test_introspect_revoked(env: Env, client_id: str) -> None:
    token = env.token(client_id)
    r = env.http.post(f"{env.base}/token/revoke", data={"token": token, "client_id": client_id,
                                                        "client_secret": env.secrets[client_id]})
    assert r.status_code == 200
    assert _introspect(env, token, client_id) == {"active": False}


@pytest.mark.parametrize("garbage", ["x", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", "A" * 9000, "\u00e9\u00e9"])
def test_introspect_garbage(env: Env, garbage: str) -> None:
    assert _introspect(env, garbage, "demo-client") == {"active": False}


@pytest.mark.parametrize("garbage", ["x", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", "A" * 5000])
def test_tokeninfo_garbage(env: Env, garbage: str) -> None:
    r = env.http.get(f"{env.base}/tokeninfo", headers={"Authorization": f"Bearer {garbage}"})
    assert_oauth_error(r, 401, "invalid_token")
    assert r.headers["www-authenticate"].startswith("Bearer")
    r = env.http.post(f"{env.base}/tokeninfo", data={"access_token": garbage})
    assert_oauth_error(r, 401, "invalid_token")


def test_tokeninfo_without_token(env: Env) -> None:
    assert_oauth_error(env.http.get(f"{env.base}/tokeninfo"), 400, "invalid_request")


def test_revoke_unauthenticated(env: Env) -> None:
    assert_oauth_error(env.http.post(f"{env.base}/token/revoke", data={"token": "x"}), 401, "invalid_client")


def test_revoke_without_token(env: Env) -> None:
    r = env.http.post(f"{env.base}/token/revoke", data={"client_id": "demo-client",
                                                        "client_secret": env.secrets["demo-client"]})
    assert_oauth_error(r, 400, "invalid_request")


# --- failed-authentication throttling ------------------------------------------------------------

def test_failed_authentication_is_throttled(env: Env) -> None:
    _, secret = create_client(env.srv.services, "alpha", "throttled", scopes=("data-read",))
    assert secret is not None
    url = f"{env.base}/access_token"
    wrong = {"grant_type": "client_credentials", "client_id": "throttled", "client_secret": "wrong-" + "x" * 20}
    right = {**wrong, "client_secret": secret}
    for _ in range(10):
        assert_oauth_error(env.http.post(url, data=wrong), 401, "invalid_client")
    blocked = env.http.post(url, data=right)  # the right secret does not help while throttled
    assert_oauth_error(blocked, 429, "too_many_requests")
    assert 1 <= int(blocked.headers["retry-after"]) <= 60
    # Introspection and revocation authenticate the same client and share the counter.
    assert_oauth_error(env.http.post(f"{env.base}/introspect", data={**right, "token": "x"}), 429, "too_many_requests")
    # Another source address is not affected.
    with env.srv.client(source="127.0.0.2") as other:
        assert other.post(url, data=right).status_code == 200
    # Another client from the same address is not affected.
    assert env.http.post(url, data=cc(env)).status_code == 200
    env.clock.advance(60)
    try:
        assert env.http.post(url, data=right).status_code == 200
    finally:
        env.clock.advance(-60)
