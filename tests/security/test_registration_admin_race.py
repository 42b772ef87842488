"""An administrator's change of a dynamically registered client against the client's own RFC 7592 reads
and updates, on SQLite and PostgreSQL: no lost update in either direction, a disabled client's
registration is not managed, and a registration token rotation invalidates nothing cached."""

from __future__ import annotations

from dataclasses import replace

from credo.management.clients import update_client
from credo.storage.cached import CachedStorage
from tests.factories import SEED_BODY, admin_against_agent, register_agent
from tests.support import Server


def test_an_administrators_disable_and_secret_rotation_survive_a_hammering_agent(server: Server,
                                                                                 demo: dict[str, str]) -> None:
    admin_against_agent(server.services, server, rounds=100)


def test_a_disabled_clients_registration_is_refused_as_an_unknown_token(server: Server,
                                                                        demo: dict[str, str]) -> None:
    base = server.realm_url()
    with server.client() as http:
        reg = register_agent(http, base)
        uri, auth = reg["registration_client_uri"], {"Authorization": f"Bearer {reg['registration_access_token']}"}
        update_client(server.services, "alpha", reg["client_id"], {"enabled": False})
        unknown = http.get(f"{base}/register/no-such-client", headers=auth)
        for r in (http.get(uri, headers=auth), http.put(uri, headers=auth, json={**SEED_BODY, "client_id": reg["client_id"]}),
                  http.delete(uri, headers=auth)):
            assert (r.status_code, r.json()) == (unknown.status_code, unknown.json()) == (401, {
                "error": "invalid_token", "error_description": unknown.json()["error_description"]}), r.text
        assert server.services.storage.clients.current("alpha", reg["client_id"]) is not None  # not deleted
        update_client(server.services, "alpha", reg["client_id"], {"enabled": True})
        assert http.get(uri, headers=auth).status_code == 200  # the same token works once enabled again


def test_an_administrators_write_brings_back_no_used_registration_token(server: Server,
                                                                        demo: dict[str, str]) -> None:
    base = server.realm_url()
    clients = server.services.storage.clients
    with server.client() as http:
        reg = register_agent(http, base)
        uri = reg["registration_client_uri"]
        first = {"Authorization": f"Bearer {reg['registration_access_token']}"}
        read_by_admin = clients.current("alpha", reg["client_id"])  # an administrator's read
        assert read_by_admin is not None
        r = http.get(uri, headers=first)  # the agent rotates its token meanwhile
        assert r.status_code == 200, r.text
        assert clients.update(replace(read_by_admin, name="renamed by the administrator")) is True
        assert http.get(uri, headers=first).status_code == 401  # the used token stays used
        second = {"Authorization": f"Bearer {r.json()['registration_access_token']}"}
        assert http.get(uri, headers=second).json()["client_name"] == "Retail Chatbot"  # the PUT-able metadata
        assert clients.current("alpha", reg["client_id"]).name == "renamed by the administrator"  # type: ignore[union-attr]


def test_a_registration_read_moves_no_change_counter_and_a_disable_does(server: Server,
                                                                         demo: dict[str, str]) -> None:
    storage = server.services.storage
    assert isinstance(storage, CachedStorage)
    base = server.realm_url()
    with server.client() as http:
        reg = register_agent(http, base)
        token = reg["registration_access_token"]
        assert storage.clients.get("alpha", reg["client_id"]) is not None  # cached
        before, cached = storage.change_counter(), len(storage.cache)
        for _ in range(5):
            r = http.get(reg["registration_client_uri"], headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200, r.text
            token = r.json()["registration_access_token"]
        assert storage.change_counter() == before
        assert len(storage.cache) >= cached > 0  # nothing cached was dropped
        update_client(server.services, "alpha", reg["client_id"], {"enabled": False})
        assert storage.change_counter() > before
