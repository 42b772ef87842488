"""private_key_jwt keys and the Client ID Metadata Documents setting through every administrative surface:
the admin API (every answer checked against its OpenAPI document), the CLI, import and export, and the
console's settings form; each client made there then authenticates with its key at the token endpoint."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from credo.cli.main import app as cli
from credo.management.config_import import import_document
from credo.management.export import export_realm
from credo.oauth.client_assertion import ASSERTION_TYPE
from tests.factories import Signer, assert_oauth_error
from tests.http.admin_support import Admin, console_session, submit
from tests.support import InProcessServer, demo_server_the_cli_reaches


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcessServer]:
    with demo_server_the_cli_reaches(tmp_path, monkeypatch) as srv:
        yield srv


def authenticates(server: InProcessServer, client_id: str, signer: Signer) -> int:
    base = server.realm_url("alpha")
    now = int(time.time())
    value = signer.sign({"iss": client_id, "sub": client_id, "aud": base, "exp": now + 60, "jti": uuid.uuid4().hex})
    with server.client() as http:
        r = http.post(f"{base}/access_token", data={"grant_type": "client_credentials", "client_assertion": value,
                                                    "client_assertion_type": ASSERTION_TYPE})
    return r.status_code


def test_admin_api(server: InProcessServer) -> None:
    signer, other = Signer(), Signer()
    admin = Admin(server)
    r = admin("POST", "/realms/alpha/agents", {"client_id": "api-agent", "auth_method": "private_key_jwt",
                                               "keys": {"jwks": signer.jwks}, "grant_types": ["client_credentials"]})
    assert r.status_code == 201, r.text
    assert r.json()["client_secret"] is None and r.json()["keys"] == {"jwks": signer.jwks}
    assert r.json()["has_secret"] is False
    assert authenticates(server, "api-agent", signer) == 200
    r = admin("PATCH", "/realms/alpha/agents/api-agent", {"keys": {"jwks": other.jwks,
                                                                   "token_endpoint_auth_signing_alg": "ES256"}})
    assert r.status_code == 200 and r.json()["keys"]["token_endpoint_auth_signing_alg"] == "ES256", r.text
    assert authenticates(server, "api-agent", signer) == 401  # the old key is gone
    assert authenticates(server, "api-agent", other) == 200
    no_secret = admin("POST", "/realms/alpha/agents/api-agent/secret", {})  # none it could ever use
    assert_oauth_error(no_secret, 400, "invalid_request")
    assert no_secret.json()["error_description"] == "client_secret: a private_key_jwt client has no secret."
    assert authenticates(server, "api-agent", other) == 200  # and its key still works
    refused = admin("POST", "/realms/alpha/applications", {"client_id": "no-keys", "auth_method": "private_key_jwt"})
    assert_oauth_error(refused, 400, "invalid_client_metadata")
    assert refused.json()["error_description"].startswith("token_endpoint_auth_method: 'private_key_jwt' needs")
    bad_alg = admin("POST", "/realms/alpha/applications", {"client_id": "hs", "auth_method": "private_key_jwt",
                                                           "keys": {"jwks": signer.jwks,
                                                                    "token_endpoint_auth_signing_alg": "HS256"}})
    assert_oauth_error(bad_alg, 400, "invalid_client_metadata")
    r = admin("PATCH", "/realms/alpha/settings", {"client_id_metadata_documents": {"enabled": True,
                                                                                   "allowed_hosts": [".example.com"]}})
    assert r.status_code == 200, r.text
    assert r.json()["client_id_metadata_documents"] == {"enabled": True, "allowed_hosts": [".example.com"],
                                                        "denied_hosts": []}
    admin.close()


def test_cli(server: InProcessServer, tmp_path: Path) -> None:
    signer = Signer()
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps(signer.jwks))
    for command in (["agent", "create"], ["app", "create"], ["client", "create"]):
        cid = f"cli-{command[0]}"
        result = CliRunner().invoke(cli, [*command, "alpha", cid, "--auth-method", "private_key_jwt",
                                          "--jwks", str(jwks_file), "--signing-alg", "ES256"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        printed = json.loads(result.stdout.strip().splitlines()[-1])
        assert printed["client_secret"] is None
        assert authenticates(server, cid, signer) == 200, cid
    refused = CliRunner().invoke(cli, ["agent", "create", "alpha", "cli-bad", "--auth-method", "private_key_jwt",
                                       "--jwks-uri", "http://keys.example/jwks"])
    assert refused.exit_code != 0 and "jwks_uri: must be an absolute https URL" in refused.output
    result = CliRunner().invoke(cli, ["realm", "settings", "alpha", "--set",
                                      '{"client_id_metadata_documents": {"enabled": true, "denied_hosts": ["bad.example"]}}'])
    assert result.exit_code == 0, result.output
    settings = server.services.storage.realms.get("alpha")
    assert settings is not None and settings.settings.client_id_metadata_documents.denied_hosts == ("bad.example",)


def test_import_and_export(server: InProcessServer) -> None:
    signer, rotated = Signer(), Signer()
    doc = {"version": 1, "realm": "alpha",
           "settings": {"client_id_metadata_documents": {"enabled": True}},
           "agents": [{"client_id": "imported-agent", "auth_method": "private_key_jwt", "keys": {"jwks": signer.jwks},
                       "grant_types": ["client_credentials"]}]}
    import_document(server.services, doc)
    assert authenticates(server, "imported-agent", signer) == 200
    exported = export_realm(server.services, "alpha")
    [agent] = [a for a in exported["agents"] if a["client_id"] == "imported-agent"]
    assert agent["keys"] == {"jwks": signer.jwks} and agent["auth_method"] == "private_key_jwt"
    assert exported["settings"]["client_id_metadata_documents"]["enabled"] is True
    doc["agents"][0]["keys"] = {"jwks": rotated.jwks}  # a second import replaces the keys
    import_document(server.services, doc)
    assert authenticates(server, "imported-agent", rotated) == 200
    assert authenticates(server, "imported-agent", signer) == 401


def test_console_settings_form(server: InProcessServer) -> None:
    http, _ = console_session(server)
    try:
        r = submit(http, "/admin/r/alpha/settings", "settings-form", cimd_enabled=["on"],
                   cimd_allowed_hosts="agents.example .trusted.example", cimd_denied_hosts="bad.trusted.example")
        assert r.status_code == 303, r.text[:500]
        realm = server.services.storage.realms.get("alpha")
        assert realm is not None
        assert realm.settings.client_id_metadata_documents.model_dump() == {
            "enabled": True, "allowed_hosts": ("agents.example", ".trusted.example"),
            "denied_hosts": ("bad.trusted.example",)}
        refused = submit(http, "/admin/r/alpha/settings", "settings-form", cimd_allowed_hosts="https://x.example/")
        assert (refused.status_code == 400 and 'id="cimd_allowed_hosts' in refused.text) or "a host name such as" in refused.text
        page = http.get("/admin/r/alpha/dynamic")
        assert page.status_code == 200
    finally:
        http.close()


def test_discovery_follows_the_setting(server: InProcessServer) -> None:
    base = server.realm_url("alpha")
    with server.client() as http:
        assert "client_id_metadata_document_supported" not in http.get(f"{base}/.well-known/openid-configuration").json()
