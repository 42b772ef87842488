"""HTTP Basic client authentication accepts a secret holding `+` or `%` both form-encoded (RFC 6749
§2.3.1) and as sent by clients that do not encode it (`curl -u`)."""

from __future__ import annotations

from urllib.parse import quote_plus

from credo.management.clients import create_client
from tests.support import Server

SECRET = "Secret+with%2Bplus-1234"


def test_basic_secret_raw_or_encoded(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    create_client(sqlite_server.services, "alpha", "plus-client", secret=SECRET, scopes=("data-read",),
                  auth_method="client_secret_basic")
    url = f"{sqlite_server.realm_url()}/access_token"
    form = {"grant_type": "client_credentials"}
    with sqlite_server.client() as http:
        for sent in (SECRET, quote_plus(SECRET)):
            r = http.post(url, data=form, auth=("plus-client", sent))
            assert r.status_code == 200, (sent, r.text)
        for wrong in ("Secret with+plus-1234", "Secret+with%2Bplus-123", quote_plus(quote_plus(SECRET))):
            r = http.post(url, data=form, auth=("plus-client", wrong))
            assert r.status_code == 401 and r.json() == {"error": "invalid_client",
                                                         "error_description": "Client authentication failed."}
