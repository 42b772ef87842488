"""The command line answers a refused change with one `error: ...` line naming the field and exit
status 2 (1 when the thing named does not exist), never a Python traceback; and a refused change leaves the running server as it was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.procs import run_cli
from tests.support import Server


def _refused(result, message: str, status: int = 2) -> None:  # type: ignore[no-untyped-def]
    assert result.returncode == status, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == f"error: {message}"


def test_unknown_realm(sqlite_server: Server, sqlite_demo: dict[str, str], tmp_path: Path) -> None:
    _refused(run_cli(tmp_path, "realm", "settings", "nosuch"), "Realm 'nosuch' does not exist.", status=1)
    _refused(run_cli(tmp_path, "client", "create", "nosuch", "c1"), "Realm 'nosuch' does not exist.", status=1)
    with sqlite_server.client() as http:
        r = http.post(f"{sqlite_server.realm_url('nosuch')}/access_token", data={"grant_type": "client_credentials"})
        assert r.status_code == 404 and r.json()["error"] == "not_found"


def test_duplicate_client(sqlite_server: Server, sqlite_demo: dict[str, str], tmp_path: Path) -> None:
    _refused(run_cli(tmp_path, "client", "create", "alpha", "demo-client"), "client_id: 'demo-client' already exists.")
    with sqlite_server.client() as http:  # the demo client still works with its secret
        r = http.post(f"{sqlite_server.realm_url()}/access_token", data={
            "grant_type": "client_credentials", "client_id": "demo-client", "client_secret": sqlite_demo["demo-client"]})
        assert r.status_code == 200, r.text


@pytest.mark.parametrize("change, message", [
    ({"grant_types": ["client_credential"]}, "grant_types: unknown grant type client_credential; known: "
     "client_credentials, password, urn:ietf:params:oauth:grant-type:token-exchange, refresh_token, "
     "authorization_code, urn:ietf:params:oauth:grant-type:jwt-bearer, implicit."),
    ({"allow_open_registraton": True}, "allow_open_registraton: is not a known setting."),
    ({"access_token_lifetime": 5}, "access_token_lifetime: must be at least 60."),
    ({"protection": {"policy": {"max_clients": -1}}}, "protection.policy.max_clients: "
     "must be at least 0."),
    (["grant_types"], "settings: the changes must be a JSON object of setting names and values."),
])
def test_bad_settings_refused_and_discovery_unchanged(sqlite_server: Server, sqlite_demo: dict[str, str],
                                                      tmp_path: Path, change: object, message: str) -> None:
    url = f"{sqlite_server.realm_url()}/.well-known/openid-configuration"
    with sqlite_server.client() as http:
        before = http.get(url).json()
        _refused(run_cli(tmp_path, "realm", "settings", "alpha", "--set", json.dumps(change)), message)
        assert http.get(url).json() == before


def test_good_settings_reach_the_running_server(sqlite_server: Server, sqlite_demo: dict[str, str],
                                                tmp_path: Path) -> None:
    done = run_cli(tmp_path, "realm", "settings", "alpha", "--set",
                   '{"registration_scope_allowlist": ["data-read", "dcr_register"]}')
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["registration_scope_allowlist"] == ["data-read", "dcr_register"]
    with sqlite_server.client() as http:
        doc = http.get(f"{sqlite_server.realm_url()}/.well-known/openid-configuration").json()
        assert doc["scopes_supported"] == ["data-read", "dcr_register"]


def test_import_broken_yaml(sqlite_server: Server, sqlite_demo: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("realm: alpha\nsettings:\n  grant_types: [client_credentials\n")
    _refused(run_cli(tmp_path, "import", str(bad)),
             f"{bad} is not valid YAML or JSON: expected ',' or ']', but got '<stream end>' (line 4, column 1)")
    binary = tmp_path / "bad.bin"
    binary.write_bytes(b"\xff\xfe\x00realm")
    _refused(run_cli(tmp_path, "import", str(binary)), f"{binary} is not valid YAML or JSON: UnicodeDecodeError")
