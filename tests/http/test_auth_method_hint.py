"""A client with a secret may send it in an HTTP Basic header or in the body, whichever it registered (RFC
7591 makes client_secret_basic the default, the onboarding guides and openid-client send the secret in the
body, Authlib in a Basic header), at the token, introspection and revocation endpoints alike. An
administrator may pin a client's method: the other way is then refused, and the client is told which
method to use, but only once it has proved it holds the secret."""

from __future__ import annotations

from typing import Any

import httpx

from tests.factories import assert_oauth_error, pin_auth_method, register
from tests.support import Server

GENERIC = "Client authentication failed."
TO_BASIC = ("This client is registered for client_secret_basic: send client_id and client_secret in an HTTP Basic "
            "Authorization header.")
TO_POST = ("This client is registered for client_secret_post: send client_id and client_secret as form parameters "
           "in the request body.")


def _token(http: httpx.Client, base: str, client_id: str, secret: str, *, basic: bool) -> httpx.Response:
    if basic:
        return http.post(f"{base}/access_token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
    return http.post(f"{base}/access_token", data={"grant_type": "client_credentials", "client_id": client_id,
                                                   "client_secret": secret})


def _refused(r: httpx.Response, description: str) -> None:
    assert_oauth_error(r, 401, "invalid_client")
    assert r.json()["error_description"] == description
    assert r.headers["www-authenticate"].startswith("Basic")


def test_secret_either_way_at_every_endpoint(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    base = sqlite_server.realm_url("alpha")
    with sqlite_server.client() as http:
        reg = register(http, base, {"client_name": "no method named", "scopes": ["data-read"]})
        assert reg["token_endpoint_auth_method"] == "client_secret_basic"
        cid, secret = reg["client_id"], reg["client_secret"]
        posted = _token(http, base, cid, secret, basic=False)  # the body, for a client registered for Basic
        assert posted.status_code == 200, posted.text
        token = posted.json()["access_token"]
        as_post: dict[str, Any] = {"client_id": cid, "client_secret": secret}
        assert http.post(f"{base}/introspect", data={"token": token, **as_post}).json()["active"] is True
        # demo-client registered client_secret_post; it introspects and revokes with Basic.
        demo = ("demo-client", sqlite_demo["demo-client"])
        assert _token(http, base, *demo, basic=True).status_code == 200
        assert http.post(f"{base}/introspect", data={"token": token}, auth=demo).json() == {"active": False}
        assert http.post(f"{base}/token/revoke", data={"token": token, **as_post}).status_code == 200
        assert http.post(f"{base}/introspect", data={"token": token}, auth=(cid, secret)).json() == {"active": False}
        # Still exactly one method per request, and the wrong secret either way is the generic answer.
        both = http.post(f"{base}/access_token", data={"grant_type": "client_credentials", "client_secret": secret},
                         auth=(cid, secret))
        _refused(both, GENERIC)
        _refused(_token(http, base, cid, "not-the-secret", basic=False), GENERIC)
        _refused(_token(http, base, "demo-client", "not-the-secret", basic=True), GENERIC)


def test_pinned_basic_client_posting_its_secret_is_told_to_use_basic(sqlite_server: Server,
                                                                     sqlite_demo: dict[str, str]) -> None:
    base = sqlite_server.realm_url("alpha")
    with sqlite_server.client() as http:
        reg = register(http, base, {"client_name": "pinned", "scopes": ["data-read"]})
        cid, secret = reg["client_id"], reg["client_secret"]
        pin_auth_method(sqlite_server.services, "alpha", cid)
        _refused(_token(http, base, cid, secret, basic=False), TO_BASIC)
        _refused(_token(http, base, cid, "not-the-secret", basic=False), GENERIC)
        ok = _token(http, base, cid, secret, basic=True)
        assert ok.status_code == 200, ok.text
        _refused(http.post(f"{base}/token/revoke", data={"token": ok.json()["access_token"], "client_id": cid,
                                                         "client_secret": secret}), TO_BASIC)


def test_pinned_post_client_using_basic_is_told_to_post(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    base = sqlite_server.realm_url("alpha")
    pin_auth_method(sqlite_server.services, "alpha", "demo-client")
    with sqlite_server.client() as http:
        _refused(http.post(f"{base}/introspect", data={"token": "x"}, auth=("demo-client", sqlite_demo["demo-client"])),
                 TO_POST)
        _refused(http.post(f"{base}/introspect", data={"token": "x"}, auth=("demo-client", "guess")), GENERIC)
        _refused(http.post(f"{base}/access_token", data={"grant_type": "client_credentials",
                                                         "client_id": "demo-client"}), GENERIC)
        assert _token(http, base, "demo-client", sqlite_demo["demo-client"], basic=False).status_code == 200
