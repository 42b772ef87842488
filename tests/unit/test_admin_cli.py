"""`credo admin create`, `credo import` and `credo export` end to end on a SQLite data directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from credo.cli.common import open_services
from credo.cli.main import app
from tests.support import cli_data_dir

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return cli_data_dir(monkeypatch, tmp_path)


def test_admin_create_prints_a_generated_password_once(env: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(app, ["admin", "create", "ops"])
    assert out.exit_code == 0, out.output
    assert "one-time password: " in out.output
    typed = runner.invoke(app, ["admin", "create", "ops2", "--password"],
                          input="a-long-typed-password\na-long-typed-password\n")
    assert typed.exit_code == 0 and "a-long-typed-password" not in typed.output and "one-time" not in typed.output
    bad = runner.invoke(app, ["admin", "create", "bad name"])
    assert bad.exit_code == 2 and "username:" in bad.output


def test_import_twice_then_export(env: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["import", str(EXAMPLES / "on-behalf-of.yaml")])
    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["agents"] == 1
    second = runner.invoke(app, ["import", str(EXAMPLES / "on-behalf-of.yaml")])
    assert set(json.loads(second.output).values()) == {0}
    as_json = runner.invoke(app, ["export", "alpha", "--format", "json"])
    as_yaml = runner.invoke(app, ["export", "alpha"])
    assert as_json.exit_code == 0 and as_yaml.exit_code == 0
    assert json.loads(as_json.output) == yaml.safe_load(as_yaml.output)
    for clear in ("Demo-Passw0rd-Barbara", "demo-web-app-secret-change-me", "demo-assistant-agent-secret-change-me"):
        assert clear not in as_json.output and clear not in as_yaml.output
    missing = runner.invoke(app, ["export", "nowhere"])
    assert missing.exit_code == 1 and "does not exist" in missing.output  # not found: 1
    assert runner.invoke(app, ["export", "alpha", "--format", "xml"]).exit_code == 2


def test_import_keeps_an_existing_password_and_secret_unless_the_entry_says_reset(env: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    doc = yaml.safe_load((EXAMPLES / "on-behalf-of.yaml").read_text())
    assert runner.invoke(app, ["import", str(EXAMPLES / "on-behalf-of.yaml")]).exit_code == 0
    doc["users"][0]["password"] = "Another-Passw0rd-Barbara"
    doc["applications"][0]["secret"] = "another-web-app-secret-0123"
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(doc))
    kept = runner.invoke(app, ["import", str(changed)])
    assert kept.exit_code == 0 and json.loads(kept.stdout)["secrets_kept"] == 2, kept.output
    assert "note: 2 existing password(s) or secret(s) differ" in kept.stderr and "reset_password: true" in kept.stderr
    services = open_services()
    barbara = services.storage.users.by_username("alpha", "barbara.jensen")
    web = services.storage.clients.get("alpha", "digital-assistant-web-app")
    assert barbara is not None and services.hasher.verify("Demo-Passw0rd-Barbara", barbara.password_hash)
    assert web is not None and services.hasher.verify("demo-web-app-secret-change-me", web.secret_hash)
    doc["users"][0]["reset_password"] = True
    doc["applications"][0]["reset_secret"] = True
    changed.write_text(yaml.safe_dump(doc))
    reset = runner.invoke(app, ["import", str(changed)])
    counts = json.loads(reset.stdout)
    assert (counts["users"], counts["applications"], counts["secrets_kept"]) == (1, 1, 0) and "note:" not in reset.stderr
    services = open_services()
    barbara = services.storage.users.by_username("alpha", "barbara.jensen")
    web = services.storage.clients.get("alpha", "digital-assistant-web-app")
    assert barbara is not None and services.hasher.verify("Another-Passw0rd-Barbara", barbara.password_hash)
    assert web is not None and services.hasher.verify("another-web-app-secret-0123", web.secret_hash)


def test_import_refuses_a_bad_document(env: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("realm: alpha\nusers:\n  - username: x\n")
    out = CliRunner().invoke(app, ["import", str(bad)])
    assert out.exit_code == 2 and "users.password" in out.output


def test_import_warns_of_overrides_that_do_nothing(env: Path, tmp_path: Path) -> None:
    doc = tmp_path / "agent.yaml"
    doc.write_text("realm: alpha\nagents:\n  - client_id: bot\n    attributes:\n"
                   "      statelessTokensEnabled: ['true']\n")
    out = CliRunner().invoke(app, ["import", str(doc)])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["agents"] > 0
    assert out.stderr == ("warning: agents[0] 'bot': Use Client-Side Access & Refresh Tokens (statelessTokensEnabled) "
                          "is set but does nothing: Enable OAuth2 Provider Overrides (providerOverridesEnabled) is off.\n")
    doc.write_text(doc.read_text() + "      providerOverridesEnabled: ['true']\n")
    fixed = CliRunner().invoke(app, ["import", str(doc)])
    assert fixed.exit_code == 0 and fixed.stderr == "", fixed.output
