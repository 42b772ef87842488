"""The DCR onboarding seed over real HTTP: discovery → /register → client credentials → introspect,
and the RFC 7592 life cycle of the registered client, on SQLite and PostgreSQL."""

from __future__ import annotations

from tests.factories import SEED_BODY, assert_oauth_error, register
from tests.support import Server


def test_seed_register_token_introspect(server: Server, demo: dict[str, str]) -> None:
    base = server.realm_url("alpha")
    with server.client() as http:
        conf = http.get(f"{base}/.well-known/openid-configuration").json()
        assert conf["registration_endpoint"] == f"{base}/register"
        assert {"data-read", "data-write"} <= set(conf["scopes_supported"])

        reg = register(http, conf["registration_endpoint"].removesuffix("/register"))
        assert len(reg["client_id"]) == 36 and reg["client_secret"]
        assert reg["grant_types"] == ["client_credentials"] and reg["response_types"] == ["token"]
        assert reg["redirect_uris"] == ["https://example.com/callback"]
        assert reg["scopes"] == ["data-read", "data-write"] and reg["scope"] == "data-read data-write"
        assert reg["client_name"] == "Retail Chatbot"
        assert reg["token_endpoint_auth_method"] == "client_secret_post"
        assert reg["client_secret_expires_at"] == 0 and reg["client_id_issued_at"] > 0
        assert reg["registration_client_uri"] == f"{base}/register/{reg['client_id']}"
        assert reg["registration_access_token"]
        assert 86400 * 30 - 5 <= reg["registration_access_token_expires_in"] <= 86400 * 30

        cid, secret = reg["client_id"], reg["client_secret"]
        r = http.post(f"{base}/access_token", data={"grant_type": "client_credentials", "client_id": cid,
                                                    "client_secret": secret, "scope": "data-read"})
        assert r.status_code == 200, r.text
        tok = r.json()
        assert tok["scope"] == "data-read" and tok["token_type"] == "Bearer"
        info = http.post(f"{base}/introspect", data={"token": tok["access_token"], "client_id": cid,
                                                     "client_secret": secret}).json()
        assert info["active"] is True and info["scope"] == "data-read" and info["realm"] == "/alpha"
        assert info["client_id"] == info["sub"] == info["user_id"] == info["username"] == cid
        assert info["iss"] == base

        stored = server.services.storage.clients.get("alpha", cid)
        assert stored is not None and stored.dynamic and stored.kind == "client"
        assert stored.secret_hash != secret and secret not in str(stored)
        assert stored.registration_token_hash != reg["registration_access_token"]


def test_lifecycle_read_update_delete_with_rotation(server: Server, demo: dict[str, str]) -> None:
    base = server.realm_url("alpha")
    with server.client() as http:
        reg = register(http, base)
        cid, secret, rat0 = reg["client_id"], reg["client_secret"], reg["registration_access_token"]
        uri = reg["registration_client_uri"]

        got = http.get(uri, headers={"Authorization": f"Bearer {rat0}"})
        assert got.status_code == 200, got.text
        read = got.json()
        assert "client_secret" not in read
        assert read["client_id"] == cid and read["scopes"] == ["data-read", "data-write"]
        rat1 = read["registration_access_token"]
        assert rat1 != rat0
        old = http.get(uri, headers={"Authorization": f"Bearer {rat0}"})
        assert_oauth_error(old, 401, "invalid_token")
        assert "invalid_token" in old.headers["www-authenticate"]

        # The query form of the same resource.
        q = http.get(f"{base}/register", params={"client_id": cid}, headers={"Authorization": f"Bearer {rat1}"})
        assert q.status_code == 200, q.text
        rat2 = q.json()["registration_access_token"]

        new_body = {**SEED_BODY, "client_id": cid, "client_secret": secret, "scopes": ["data-read"],
                    "client_name": "Renamed", "registration_access_token": "ignored", "client_id_issued_at": 1}
        put = http.put(uri, json=new_body, headers={"Authorization": f"Bearer {rat2}"})
        assert put.status_code == 200, put.text
        updated = put.json()
        assert updated["scopes"] == ["data-read"] and updated["client_name"] == "Renamed"
        assert updated["client_id_issued_at"] == reg["client_id_issued_at"]
        rat3 = updated["registration_access_token"]
        assert rat3 not in (rat2, "ignored")
        assert_oauth_error(http.put(uri, json=new_body, headers={"Authorization": f"Bearer {rat2}"}), 401, "invalid_token")

        # Fields omitted from a PUT are removed.
        minimal = {"client_id": cid, "grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_post"}
        put2 = http.put(uri, json=minimal, headers={"Authorization": f"Bearer {rat3}"})
        assert put2.status_code == 200, put2.text
        assert put2.json()["scopes"] == [] and "client_name" not in put2.json() and put2.json()["redirect_uris"] == []
        rat4 = put2.json()["registration_access_token"]

        # The secret still works (a PUT does not change it).
        r = http.post(f"{base}/access_token", data={"grant_type": "client_credentials", "client_id": cid,
                                                    "client_secret": secret})
        assert r.status_code == 200, r.text
        token = r.json()["access_token"]
        auth = {"client_id": cid, "client_secret": secret}
        assert http.post(f"{base}/introspect", data={"token": token, **auth}).json()["active"] is True

        d = http.delete(uri, headers={"Authorization": f"Bearer {rat4}"})
        assert d.status_code == 204 and d.content == b""
        assert_oauth_error(http.get(f"{base}/tokeninfo", params={"access_token": token}), 401, "invalid_token")
        gone = http.post(f"{base}/access_token", data={"grant_type": "client_credentials", "client_id": cid,
                                                       "client_secret": secret})
        assert_oauth_error(gone, 401, "invalid_client")
        assert_oauth_error(http.get(uri, headers={"Authorization": f"Bearer {rat4}"}), 401, "invalid_token")
        assert server.services.storage.clients.get("alpha", cid) is None
        actions = [e.action for e in server.services.storage.audit.query("alpha", target=cid)]
        assert {"dcr.register", "dcr.read", "dcr.update", "dcr.delete"} <= set(actions)
