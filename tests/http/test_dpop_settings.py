"""The DPoP settings on every surface: a client's `dpop_bound_access_tokens` (RFC 9449 §5.2) through the
admin API, the console, the command line and import/export; the realm's `dpop_nonce_required` in the
console and the admin API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from credo.cli.common import open_services
from credo.cli.main import app as cli
from credo.management.export import export_realm, import_document
from tests.factories import AUTO_AGENT, assert_oauth_error, autonomous_setup
from tests.http.admin_support import Admin, console_session, form_fields, submit
from tests.support import Server, cli_data_dir


def test_admin_api(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    admin = Admin(sqlite_server)
    try:
        r = admin("POST", "/realms/alpha/agents", {"client_id": "dpop-agent", "dpop_bound_access_tokens": True})
        assert r.status_code == 201 and r.json()["dpop_bound_access_tokens"] is True, r.text
        assert sqlite_server.services.client("alpha", "dpop-agent").dpop_bound  # type: ignore[union-attr]
        r = admin("PATCH", "/realms/alpha/agents/dpop-agent", {"dpop_bound_access_tokens": False})
        assert r.status_code == 200 and r.json()["dpop_bound_access_tokens"] is False
        assert_oauth_error(admin("PATCH", "/realms/alpha/agents/dpop-agent", {"dpop_bound_access_tokens": "yes"}),
                           400, "invalid_request")
        r = admin("POST", "/realms/alpha/applications", {"client_id": "dpop-app", "dpop_bound_access_tokens": True})
        assert r.status_code == 201 and r.json()["dpop_bound_access_tokens"] is True, r.text
        r = admin("PATCH", "/realms/alpha/applications/dpop-app", {"dpop_bound_access_tokens": False})
        assert r.json()["dpop_bound_access_tokens"] is False
        r = admin("PATCH", "/realms/alpha/settings", {"dpop_nonce_required": True})
        assert r.status_code == 200 and r.json()["dpop_nonce_required"] is True
    finally:
        admin.close()


def test_console(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    autonomous_setup(sqlite_server.services)
    http, _ = console_session(sqlite_server)
    try:
        page = f"/admin/r/alpha/agents/{AUTO_AGENT}"
        assert form_fields(http.get(page).text, "access-form").get("dpop_bound_access_tokens") in (None, [])
        assert submit(http, page, "access-form", dpop_bound_access_tokens="on").status_code == 303
        assert sqlite_server.services.client("alpha", AUTO_AGENT).dpop_bound  # type: ignore[union-attr]
        assert form_fields(http.get(page).text, "access-form")["dpop_bound_access_tokens"] == ["on"]
        assert submit(http, page, "access-form", dpop_bound_access_tokens=[]).status_code == 303
        assert not sqlite_server.services.client("alpha", AUTO_AGENT).dpop_bound  # type: ignore[union-attr]
        settings = http.get("/admin/r/alpha/settings?tab=tokens").text
        assert 'name="dpop_nonce_required"' in settings
    finally:
        http.close()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return cli_data_dir(monkeypatch, tmp_path)


def test_command_line(env: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["realm", "create", "alpha"]).exit_code == 0
    out = runner.invoke(cli, ["agent", "create", "alpha", "cli-agent", "--dpop-bound"])
    assert out.exit_code == 0, out.output
    out = runner.invoke(cli, ["agent", "update", "alpha", "cli-agent", "--no-dpop-bound"])
    assert out.exit_code == 0 and json.loads(out.output)["dpop_bound_access_tokens"] is False, out.output
    out = runner.invoke(cli, ["app", "create", "alpha", "cli-app", "--dpop-bound"])
    assert out.exit_code == 0 and json.loads(out.output)["dpop_bound_access_tokens"] is True, out.output
    out = runner.invoke(cli, ["app", "update", "alpha", "cli-app", "--no-dpop-bound"])
    assert out.exit_code == 0 and json.loads(out.output)["dpop_bound_access_tokens"] is False, out.output
    out = runner.invoke(cli, ["client", "create", "alpha", "cli-client", "--dpop-bound"])
    assert out.exit_code == 0 and json.loads(out.output)["dpop_bound_access_tokens"] is True, out.output
    services = open_services()
    assert services.client("alpha", "cli-client").dpop_bound  # type: ignore[union-attr]
    assert not services.client("alpha", "cli-agent").dpop_bound  # type: ignore[union-attr]


def test_import_and_export(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    services = sqlite_server.services
    doc: dict[str, Any] = {"realm": "alpha", "settings": {"dpop_nonce_required": True},
                           "applications": [{"client_id": "imported-app", "dpop_bound_access_tokens": True}],
                           "agents": [{"client_id": "imported-agent", "dpop_bound_access_tokens": True}]}
    import_document(services, doc)
    assert services.client("alpha", "imported-app").dpop_bound  # type: ignore[union-attr]
    assert services.client("alpha", "imported-agent").dpop_bound  # type: ignore[union-attr]
    assert services.realm("alpha").settings.dpop_nonce_required
    exported = export_realm(services, "alpha")
    agents = {a["client_id"]: a for a in exported["agents"]}
    assert agents["imported-agent"]["dpop_bound_access_tokens"] is True
    assert "dpop_bound_access_tokens" not in agents.get(AUTO_AGENT, {})
    doc["agents"][0]["dpop_bound_access_tokens"] = False
    import_document(services, doc)
    assert not services.client("alpha", "imported-agent").dpop_bound  # type: ignore[union-attr]
    with pytest.raises(Exception, match="dpop_bound_access_tokens"):
        import_document(services, {"realm": "alpha", "agents": [{"client_id": "x", "dpop_bound_access_tokens": "on"}]})
