"""Fuzzing what the description-driven fuzzer does not reach: the realm and client-id path segments and
the Authorization header's bytes, on SQLite and PostgreSQL (a NUL or a non-ASCII byte once gave 500 on
one backend only). Whatever arrives, the answer is a 4xx with an RFC-shaped JSON body, never a 5xx."""

from __future__ import annotations

import base64
from urllib.parse import quote

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import Server

EXAMPLES = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SEGMENT = st.text(st.characters(codec="utf-8"), min_size=1, max_size=40).filter(lambda s: s not in (".", ".."))
RAW_BYTES = st.binary(min_size=0, max_size=60)


def _refused(r: httpx.Response) -> None:
    assert r.status_code < 500, (r.status_code, r.text[:300])
    if r.headers.get("content-type", "").startswith("application/json") and r.status_code >= 400:
        assert isinstance(r.json().get("error"), str)


@EXAMPLES
@given(realm=SEGMENT, client_id=SEGMENT)
def test_path_segments(server: Server, demo: dict[str, str], realm: str, client_id: str) -> None:
    base = f"/am/oauth2/realms/root/realms/{quote(realm, safe='')}"
    with server.client() as http:
        _refused(http.get(f"{base}/.well-known/openid-configuration"))
        _refused(http.post(f"{base}/access_token", data={"grant_type": "client_credentials"}))
        _refused(http.get(f"/am/oauth2/realms/root/realms/alpha/register/{quote(client_id, safe='')}",
                          headers={"authorization": "Bearer x"}))
        _refused(http.get("/am/oauth2/realms/root/realms/alpha/authorize", params={"client_id": client_id}))


@EXAMPLES
@given(raw=RAW_BYTES, encoded=RAW_BYTES)
def test_authorization_header_bytes(server: Server, demo: dict[str, str], raw: bytes, encoded: bytes) -> None:
    base = "/am/oauth2/realms/root/realms/alpha"
    basic = b"Basic " + base64.b64encode(encoded)
    with server.client() as http:
        for header in (basic, b"Basic " + raw, b"Bearer " + raw, raw):
            headers = [(b"authorization", header), (b"content-type", b"application/x-www-form-urlencoded")]
            for path in ("/access_token", "/introspect", "/token/revoke"):
                r = http.post(base + path, content=b"grant_type=client_credentials&token=x", headers=headers)
                _refused(r)
            _refused(http.get(base + "/userinfo", headers=headers))
            _refused(http.get(base + "/register/some-client", headers=headers))
