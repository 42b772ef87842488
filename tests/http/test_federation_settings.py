"""Every surface an administrator uses sets a realm's federation (trusted workload issuers, ID-JAG issuers,
ID-JAG rules): the admin API (a JSON merge patch), the console's settings form (the JSON field), the
command line (`credo realm settings --set`) and a configuration import; each refuses a bad entry naming
the field."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from credo.cli.main import main
from credo.management.export import export_realm, import_document
from tests.cli.test_cli_signin import run as cli
from tests.factories import Signer, assert_oauth_error
from tests.http.admin_support import Admin, console_session, submit
from tests.support import Server, cli_data_dir

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SIGNER = Signer()
FEDERATION: dict[str, Any] = {
    "workload_issuers": [{"issuer": "https://kubernetes.default.svc", "jwks": SIGNER.jwks, "audiences": ["credo"],
                          "subjects": {"system:serviceaccount:ns:bot": "bot"}}],
    "id_jag_issuers": [{"issuer": "https://idp.example", "jwks_uri": "https://idp.example/jwks"}],
    "id_jag_rules": [{"client_id": "mcp-client", "audience": "https://as.example", "groups": ["eng"],
                      "scopes": ["mcp:tools"]}],
}


def test_admin_api(sqlite_server: Server) -> None:
    admin = Admin(sqlite_server)
    s = admin("PATCH", "/realms/root/settings", {"federation": FEDERATION, "grant_types": [JWT_BEARER]}).json()
    assert s["federation"]["workload_issuers"][0]["subjects"] == {"system:serviceaccount:ns:bot": "bot"}
    assert s["federation"]["id_jag_rules"][0]["audience"] == "https://as.example"
    assert s["federation"]["id_jag_lifetime"] == 300
    # Both an inline JWK Set and a jwks_uri for one issuer: refused, naming the field.
    both = {"workload_issuers": [{**FEDERATION["workload_issuers"][0], "jwks_uri": "https://k8s.example/jwks"}]}
    assert_oauth_error(admin("PATCH", "/realms/root/settings", {"federation": both}), 400, "invalid_request")
    private = {"id_jag_issuers": [{"issuer": "x", "jwks": {"keys": [{"kty": "EC", "d": "secret"}]}}]}
    assert_oauth_error(admin("PATCH", "/realms/root/settings", {"federation": private}), 400, "invalid_request")
    hmac = {"id_jag_issuers": [{"issuer": "x", "realm": "root", "algorithms": ["HS256"]}]}
    assert_oauth_error(admin("PATCH", "/realms/root/settings", {"federation": hmac}), 400, "invalid_request")
    assert admin("GET", "/realms/root/settings").json()["federation"] == s["federation"]
    admin.close()


def test_console_form(sqlite_server: Server) -> None:
    http, _ = console_session(sqlite_server)
    try:
        page = "/admin/r/root/settings?tab=federation"
        r = submit(http, page, "settings-form", federation=json.dumps(FEDERATION))
        assert r.status_code == 303, r.text[:500]
        stored = sqlite_server.services.realm("root").settings.federation
        assert stored.id_jag_rules[0].client_id == "mcp-client" and stored.workload_issuers[0].audiences == ("credo",)
        shown = http.get(page).text
        assert "system:serviceaccount:ns:bot" in shown
        # The form shown again and saved unchanged keeps the settings as they are.
        assert submit(http, page, "settings-form").status_code == 303
        assert sqlite_server.services.realm("root").settings.federation == stored
        bad = submit(http, page, "settings-form", federation="{not json")
        assert bad.status_code == 400 and "not valid JSON" in bad.text
        bad = submit(http, page, "settings-form", federation=json.dumps({"workload_issuers": [{"issuer": "x"}]}))
        assert bad.status_code == 400 and "exactly one of jwks and jwks_uri" in bad.text
        assert sqlite_server.services.realm("root").settings.federation == stored
    finally:
        http.close()


def test_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    cli_data_dir(monkeypatch, tmp_path)
    cli("realm", "create", "alpha")
    s = cli("realm", "settings", "alpha", "--set", json.dumps({"federation": FEDERATION}))
    assert s["federation"]["id_jag_issuers"][0]["jwks_uri"] == "https://idp.example/jwks"
    s = cli("realm", "settings", "alpha", "--set", json.dumps({"federation": {"id_jag_lifetime": 120}}))
    assert s["federation"]["id_jag_lifetime"] == 120 and s["federation"]["id_jag_rules"]  # merged, kept
    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", ["credo", "realm", "settings", "alpha", "--set",
                                      json.dumps({"federation": {"id_jag_lifetime": 5}})])
    with pytest.raises(SystemExit) as refused:
        main()
    assert refused.value.code == 2
    assert capsys.readouterr().err.startswith("error: federation.id_jag_lifetime: must be at least 30")


def test_import_and_export(sqlite_server: Server) -> None:
    services = sqlite_server.services
    import_document(services, {"version": 1, "realm": "fed", "settings": {"federation": FEDERATION,
                                                                           "grant_types": [JWT_BEARER]}})
    federation = services.realm("fed").settings.federation
    assert federation.workload_issuers[0].issuer == "https://kubernetes.default.svc"
    exported = export_realm(services, "fed")
    assert exported["settings"]["federation"]["id_jag_rules"][0]["groups"] == ["eng"]
