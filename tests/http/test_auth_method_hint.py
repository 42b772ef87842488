"""A client that authenticates with a method it did not register gets told which one to use, but only
once it has proved it holds the secret (RFC 7591 makes client_secret_basic the default, while the
onboarding guides send the secret in the body)."""

from __future__ import annotations

from tests.factories import register
from tests.support import Server

GENERIC = "Client authentication failed."


def test_basic_client_posting_its_secret_is_told_to_use_basic(sqlite_server: Server,
                                                               sqlite_demo: dict[str, str]) -> None:
    base = sqlite_server.realm_url("alpha")
    with sqlite_server.client() as http:
        reg = register(http, base, {"client_name": "no method named", "scopes": ["data-read"]})
        assert reg["token_endpoint_auth_method"] == "client_secret_basic"
        form = {"grant_type": "client_credentials", "client_id": reg["client_id"],
                "client_secret": reg["client_secret"]}
        r = http.post(f"{base}/access_token", data=form)
        assert r.status_code == 401
        assert r.json() == {"error": "invalid_client", "error_description":
                            "This client is registered for client_secret_basic: send client_id and client_secret "
                            "in an HTTP Basic Authorization header."}
        assert r.headers["cache-control"] == "no-store"

        wrong = http.post(f"{base}/access_token", data={**form, "client_secret": "not-the-secret"})
        assert wrong.status_code == 401
        assert wrong.json() == {"error": "invalid_client", "error_description": GENERIC}

        ok = http.post(f"{base}/access_token", data={"grant_type": "client_credentials"},
                       auth=(reg["client_id"], reg["client_secret"]))
        assert ok.status_code == 200, ok.text


def test_post_client_using_basic_is_told_to_post(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    base = sqlite_server.realm_url("alpha")
    with sqlite_server.client() as http:
        r = http.post(f"{base}/introspect", data={"token": "x"}, auth=("demo-client", sqlite_demo["demo-client"]))
        assert r.status_code == 401
        assert r.json()["error"] == "invalid_client"
        assert r.json()["error_description"] == ("This client is registered for client_secret_post: send client_id "
                                                 "and client_secret as form parameters in the request body.")
        guess = http.post(f"{base}/introspect", data={"token": "x"}, auth=("demo-client", "guess"))
        assert guess.status_code == 401 and guess.json()["error_description"] == GENERIC
        only_id = http.post(f"{base}/access_token", data={"grant_type": "client_credentials",
                                                          "client_id": "demo-client"})
        assert only_id.status_code == 401 and only_id.json()["error_description"] == GENERIC
