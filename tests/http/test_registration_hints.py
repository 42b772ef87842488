"""Registration errors say where a value the client did not send came from."""

from __future__ import annotations

from tests.support import Server


def test_public_client_told_client_credentials_is_the_default(sqlite_server: Server,
                                                               sqlite_demo: dict[str, str]) -> None:
    url = f"{sqlite_server.realm_url()}/register"
    with sqlite_server.client() as http:
        r = http.post(url, json={"token_endpoint_auth_method": "none"})
        assert r.status_code == 400
        assert r.json() == {"error": "invalid_client_metadata", "error_description":
                            "token_endpoint_auth_method: 'none' (a public client) cannot use the client_credentials "
                            "grant (the default grant_types)."}
        r = http.post(url, json={"token_endpoint_auth_method": "none", "grant_types": ["client_credentials"]})
        assert r.status_code == 400
        assert r.json()["error_description"] == ("token_endpoint_auth_method: 'none' (a public client) cannot use "
                                                 "the client_credentials grant.")
