"""Issue finding: open registration granted privileged scopes (`am-introspect-all-tokens` let anyone
introspect every token of the realm) and the password grant. Anonymous registration never gets a
privileged scope or a grant outside `open_registration_grant_types`, whatever the allowlist says; an
initial access token or a software statement still can; discovery does not advertise privileged scopes."""

from __future__ import annotations

from tests.factories import SEED_BODY, Signer, assert_oauth_error, iat_client, realm_settings
from tests.support import Server


def _register(http, base: str, **body):  # type: ignore[no-untyped-def]
    """The seed's registration with `body`'s members; without the seed's `scopes` when the scope comes
    from elsewhere (the `scope` spelling, a software statement)."""
    seed = {k: v for k, v in SEED_BODY.items() if k != "scopes" or not ({"scope", "software_statement"} & set(body))}
    return http.post(f"{base}/register", json={**seed, **body})


def test_anonymous_registration_gets_no_privileged_scope(server: Server, demo: dict[str, str]) -> None:
    base = server.realm_url("alpha")
    with server.client() as http:
        for spelling in ({"scopes": ["data-read", "am-introspect-all-tokens"]}, {"scope": "fr:idm:* data-read"}):
            r = _register(http, base, **spelling)
            assert_oauth_error(r, 400, "invalid_client_metadata")
            assert "open registration" in r.json()["error_description"]
        ok = _register(http, base, scopes=["data-read"])
        assert ok.status_code == 201, ok.text
        # Nor can it add one later through RFC 7592 with its registration access token.
        client = ok.json()
        update = http.put(client["registration_client_uri"], headers={
            "authorization": f"Bearer {client['registration_access_token']}"}, json={
            **SEED_BODY, "client_id": client["client_id"], "scopes": ["data-read", "am-introspect-all-tokens"]})
        assert_oauth_error(update, 400, "invalid_client_metadata")
        doc = http.get(f"{base}/.well-known/openid-configuration").json()
        assert "am-introspect-all-tokens" not in doc["scopes_supported"] and "data-read" in doc["scopes_supported"]


def test_anonymous_registration_gets_no_password_grant(server: Server, demo: dict[str, str]) -> None:
    base = server.realm_url("alpha")
    with server.client() as http:
        r = _register(http, base, grant_types=["password"], response_types=[])
        assert_oauth_error(r, 400, "invalid_client_metadata")
        assert r.json()["error_description"].startswith("grant_types: password")
        realm = server.services.realm("alpha")
        realm_settings(server.services, "alpha",
                       open_registration_grant_types=[*realm.settings.open_registration_grant_types, "password"])
        assert _register(http, base, grant_types=["password"], response_types=[]).status_code == 201


def test_an_initial_access_token_or_a_statement_may_grant_them(server: Server, demo: dict[str, str]) -> None:
    base = server.realm_url("alpha")
    client_id, secret = iat_client(server.services)
    with server.client() as http:
        iat = http.post(f"{base}/access_token", data={"grant_type": "client_credentials", "scope": "dcr_register",
                                                      "client_id": client_id, "client_secret": secret})
        assert iat.status_code == 200, iat.text
        realm_settings(server.services, "alpha", allow_open_registration=False)
        r = http.post(f"{base}/register", json={**SEED_BODY, "scopes": ["am-introspect-all-tokens"]},
                      headers={"authorization": f"Bearer {iat.json()['access_token']}"})
        assert r.status_code == 201 and r.json()["scopes"] == ["am-introspect-all-tokens"], r.text
        realm_settings(server.services, "alpha", allow_open_registration=True)
        signer = Signer()
        realm_settings(server.services, "alpha", protection={"software_statement_keys": {"jwks": signer.jwks}})
        statement = signer.sign({"iss": "https://publisher.example", "scope": "am-introspect-all-tokens"})
        r = _register(http, base, software_statement=statement)
        assert r.status_code == 201 and r.json()["scopes"] == ["am-introspect-all-tokens"], r.text
