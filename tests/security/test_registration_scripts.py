"""A failing DCR script fails the registration operation with a 500, changes nothing and is audited:
a script that throws, loops forever, or allocates without bound; on CREATE, UPDATE and DELETE."""

from __future__ import annotations

import pytest

from tests.factories import SEED_BODY, assert_oauth_error
from tests.flows.test_dcr_ai_agent import install_script
from tests.support import Server

FAILING = [
    ("exception", 'throw new Error("refused by policy");'),
    ("timeout", "while (true) {}"),
    ("memory", "var a = []; while (true) { a.push(new Array(100000).fill(1)); }"),
]


@pytest.mark.parametrize("reason, source", FAILING, ids=[f[0] for f in FAILING])
def test_failing_script_on_create(sqlite_server: Server, sqlite_demo: dict[str, str], reason: str,
                                  source: str) -> None:
    base = sqlite_server.realm_url()
    script_id = install_script(sqlite_server.services, source)
    with sqlite_server.client() as http:
        for path in ("/register", "/aiagent/register"):
            r = http.post(f"{base}{path}", json=SEED_BODY)
            assert_oauth_error(r, 500, "server_error")
            assert r.json()["error_description"] == f"The realm's registration script failed ({reason})."
    services = sqlite_server.services
    assert services.storage.clients.count("alpha", dynamic=True) == 0
    events = services.storage.audit.query("alpha", action="dcr.script_failed")
    assert len(events) == 2 and all(e.decision == "deny" and e.reason == reason for e in events)
    assert all(e.details["script"] == script_id and e.details["operation"] == "CREATE" for e in events)


def test_failing_script_on_update_and_delete(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    base = sqlite_server.realm_url()
    services = sqlite_server.services
    with sqlite_server.client() as http:
        reg = http.post(f"{base}/register", json=SEED_BODY).json()
        uri, auth = reg["registration_client_uri"], {"Authorization": f"Bearer {reg['registration_access_token']}"}
        install_script(services, 'if (operation !== "CREATE") { throw new Error("frozen"); }')
        put = http.put(uri, headers=auth, json={**SEED_BODY, "client_id": reg["client_id"], "client_name": "changed"})
        assert_oauth_error(put, 500, "server_error")
        assert put.json()["error_description"] == "The realm's registration script failed (exception)."
        assert_oauth_error(http.delete(uri, headers=auth), 500, "server_error")
        stored = services.storage.clients.get("alpha", reg["client_id"])
        assert stored is not None and stored.name == "Retail Chatbot"
        # Nothing rotated either: the same token still reads the client.
        assert http.get(uri, headers=auth).status_code == 200
    ops = sorted(e.details["operation"] for e in services.storage.audit.query("alpha", action="dcr.script_failed"))
    assert ops == ["DELETE", "UPDATE"]


def test_missing_script_fails_closed(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    from credo.management.realms import update_settings

    update_settings(sqlite_server.services, "alpha", {"dcr_script": "no-such-script"})
    with sqlite_server.client() as http:
        r = http.post(f"{sqlite_server.realm_url()}/register", json=SEED_BODY)
        assert_oauth_error(r, 500, "server_error")
    assert sqlite_server.services.storage.clients.count("alpha", dynamic=True) == 0


def test_script_sees_metadata_and_update(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    source = """
    if (operation === "UPDATE") {
      clientIdentity.setAttribute("updatedBy", ["script"]);
      clientIdentity.store();
    }
    """
    base = sqlite_server.realm_url()
    with sqlite_server.client() as http:
        reg = http.post(f"{base}/register", json=SEED_BODY).json()
        install_script(sqlite_server.services, source)
        put = http.put(reg["registration_client_uri"], json={**SEED_BODY, "client_id": reg["client_id"]},
                       headers={"Authorization": f"Bearer {reg['registration_access_token']}"})
        assert put.status_code == 200, put.text
    stored = sqlite_server.services.storage.clients.get("alpha", reg["client_id"])
    assert stored is not None and stored.attributes == {"updatedBy": ["script"]}
