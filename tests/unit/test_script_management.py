"""Script management: create, update, delete, test, select; validation names the field."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from credo.domain.errors import InvalidRequest, NotFound
from credo.management import scripts as m
from credo.management.realms import ensure_realm, get_realm
from credo.oauth.services import Services
from credo.scripting.api import ScriptError
from credo.scripting.quickjs_runner import QuickJsRunner
from credo.storage.memory import MemoryStorage
from credo.storage.protocols import Storage
from tests.support import MASTER_KEY, Server, services_for

SEED_PATH = Path(__file__).parent.parent / "fixtures" / "seed_dcr_script.js"
SEED = SEED_PATH.read_text()


@pytest.fixture
def services(tmp_path: Path) -> Services:
    svc = services_for(MemoryStorage(), tmp_path)
    ensure_realm(svc, "alpha")
    ensure_realm(svc, "bravo")
    return svc


def test_create_get_list_on_every_backend(any_storage: Storage, tmp_path: Path) -> None:
    svc = services_for(any_storage, tmp_path)
    ensure_realm(svc, "alpha")
    script = m.create_script(svc, "alpha", name="AI Agent Dynamic Client Registration Script", source=SEED,
                             description="Script to configure AI agent access settings", actor="admin")
    assert uuid.UUID(script.id) and script.type == "OAUTH2_DYNAMIC_CLIENT_REGISTRATION"
    assert m.get_script(svc, "alpha", script.id) == script
    assert [s.id for s in m.list_scripts(svc, "alpha")] == [script.id]
    events = svc.storage.audit.query("alpha", action="script.create")
    assert [(e.actor, e.target) for e in events] == [("admin", script.id)]


def test_update_changes_only_the_given_fields(services: Services) -> None:
    script = m.create_script(services, "alpha", name="one", source=SEED)
    updated = m.update_script(services, "alpha", script.id, name="two", description="d", actor="admin")
    assert (updated.name, updated.description, updated.source) == ("two", "d", SEED)
    assert m.get_script(services, "alpha", script.id) == updated
    event = services.storage.audit.query("alpha", action="script.update")[0]
    assert event.details == {"changed": ["description", "name"]}


def test_scripts_belong_to_one_realm(services: Services) -> None:
    script = m.create_script(services, "alpha", name="a", source=SEED)
    assert m.list_scripts(services, "bravo") == []
    with pytest.raises(NotFound):
        m.get_script(services, "bravo", script.id)


@pytest.mark.parametrize("kwargs, field", [
    ({"name": "", "source": SEED}, "name:"),
    ({"name": "   ", "source": SEED}, "name:"),
    ({"name": "n" * 256, "source": SEED}, "name:"),
    ({"name": "n", "source": ""}, "source:"),
    ({"name": "n", "source": "//" + "x" * (64 * 1024)}, "source:"),
    ({"name": "n", "source": "if (operation === "}, "source:"),
    ({"name": "n", "source": SEED, "description": "d" * 5000}, "description:"),
])
def test_create_validation_names_the_field(services: Services, kwargs: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        m.create_script(services, "alpha", **kwargs)
    assert info.value.error == "invalid_request" and info.value.status == 400
    assert info.value.description.startswith(field)
    assert m.list_scripts(services, "alpha") == []


def test_update_validation_names_the_field(services: Services) -> None:
    script = m.create_script(services, "alpha", name="n", source=SEED)
    with pytest.raises(InvalidRequest) as info:
        m.update_script(services, "alpha", script.id, source="function (")
    assert info.value.description.startswith("source: the script does not compile: SyntaxError")
    with pytest.raises(InvalidRequest) as info:
        m.update_script(services, "alpha", script.id, name="")
    assert info.value.description.startswith("name:")
    assert m.get_script(services, "alpha", script.id).source == SEED


def test_unknown_realm_and_script(services: Services) -> None:
    with pytest.raises(NotFound) as info:
        m.create_script(services, "nope", name="n", source=SEED)
    assert info.value.status == 404
    for call in (lambda: m.get_script(services, "alpha", "missing"),
                 lambda: m.update_script(services, "alpha", "missing", name="x"),
                 lambda: m.delete_script(services, "alpha", "missing"),
                 lambda: m.select_realm_script(services, "alpha", "missing")):
        with pytest.raises(NotFound) as info:
            call()
        assert info.value.error == "not_found" and info.value.description.startswith("script_id:")


def test_select_delete_and_the_selected_script_is_protected(services: Services) -> None:
    script = m.create_script(services, "alpha", name="n", source=SEED)
    assert m.select_realm_script(services, "alpha", script.id, actor="admin").settings.dcr_script == script.id
    assert get_realm(services, "alpha").settings.dcr_script == script.id
    with pytest.raises(InvalidRequest) as info:
        m.delete_script(services, "alpha", script.id)
    assert info.value.description.startswith("script_id:")
    assert m.get_script(services, "alpha", script.id) == script
    m.select_realm_script(services, "alpha", None)
    m.delete_script(services, "alpha", script.id, actor="admin")
    assert m.list_scripts(services, "alpha") == []
    assert [e.target for e in services.storage.audit.query("alpha", action="script.delete")] == [script.id]


def test_test_script_runs_the_seed_against_a_sample_and_registers_nothing(services: Services) -> None:
    output = m.test_script(services, "alpha", source=SEED, attributes={"AgentType": ["bot"]})
    assert output.stored is True
    assert output.attributes["providerOverridesEnabled"] == ["true"] and output.attributes["AgentType"] == ["bot"]
    assert m.test_script(services, "alpha", source=SEED, is_ai_agent=False).stored is False
    assert m.test_script(services, "alpha", source=SEED, operation="UPDATE").stored is False
    assert services.storage.clients.all("alpha") == [] and m.list_scripts(services, "alpha") == []


def test_test_script_reports_failures(services: Services) -> None:
    with pytest.raises(ScriptError) as info:
        m.test_script(services, "alpha", source="if (")
    assert info.value.reason == "exception" and "SyntaxError" in str(info.value)
    with pytest.raises(ScriptError) as info:
        m.test_script(services, "alpha", source="while (true) {}")
    assert info.value.reason == "timeout"


@pytest.mark.parametrize("kwargs, field", [({"operation": "PATCH"}, "operation:"),
                                           ({"attributes": {"a": "not-a-list"}}, "attributes:"),
                                           ({"attributes": {"a": [1]}}, "attributes:")])
def test_test_script_validation_names_the_field(services: Services, kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        m.test_script(services, "alpha", source=SEED, **kwargs)  # type: ignore[arg-type]
    assert info.value.description.startswith(field)


def test_the_server_is_wired_with_the_quickjs_runner(sqlite_server: Server) -> None:
    runner = sqlite_server.services.script_runner
    assert isinstance(runner, QuickJsRunner)
    ensure_realm(sqlite_server.services, "alpha")
    assert m.test_script(sqlite_server.services, "alpha", source=SEED).stored is True


def test_cli_create_list_test_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from credo.cli.main import app

    monkeypatch.setenv("CREDO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CREDO_MASTER_KEY", MASTER_KEY)
    cli = CliRunner()
    assert cli.invoke(app, ["realm", "create", "alpha"]).exit_code == 0
    created = cli.invoke(app, ["script", "create", "alpha", "--name", "AI agents", "--file", str(SEED_PATH)])
    assert created.exit_code == 0, created.output
    script_id = json.loads(created.stdout)["id"]

    tested = cli.invoke(app, ["script", "test", "alpha", "--file", str(SEED_PATH), "--attr", "AgentType=bot",
                              "--attr", "aiAgentIdentityUid=u1"])
    assert tested.exit_code == 0, tested.output
    attrs = json.loads(tested.stdout)
    assert attrs["statelessTokensEnabled"] == ["true"] and attrs["aiAgentIdentityUid"] == ["u1"]
    plain = cli.invoke(app, ["script", "test", "alpha", "--file", str(SEED_PATH), "--no-agent"])
    assert json.loads(plain.stdout) == {}

    bad = tmp_path / "bad.js"
    bad.write_text("throw new Error('nope');")
    failed = cli.invoke(app, ["script", "test", "alpha", "--file", str(bad)])
    assert failed.exit_code == 1 and "error (exception): Error: nope" in failed.stderr

    used = cli.invoke(app, ["script", "use", "alpha", script_id])
    assert used.exit_code == 0 and json.loads(used.stdout)["dcr_script"] == script_id
    listed = json.loads(cli.invoke(app, ["script", "list", "alpha", "--json"]).stdout)
    assert [(s["id"], s["selected"]) for s in listed] == [(script_id, True)]
    missing = cli.invoke(app, ["script", "use", "alpha", "nope"])
    assert missing.exit_code == 1 and "script_id:" in missing.stderr


def test_console_test_run_reports_success_and_failure(services: Services) -> None:
    from credo.management.script_test_run import run_script_test

    ok = run_script_test(services, "alpha", source=SEED, attributes_json='{"AgentType": ["bot"]}',
                         metadata_json='{"client_name": "Retail Chatbot"}')
    assert ok.ok and ok.stored and ok.attributes["AgentType"] == ["bot"] and ok.error_reason is None
    assert json.loads(ok.attributes_json) == ok.attributes and ok.elapsed_ms > 0
    failed = run_script_test(services, "alpha", source="logger.warn('w'); null.x;")
    assert (failed.ok, failed.error_reason, failed.logs) == (False, "exception", ["WARN w"])
    assert "TypeError" in (failed.error_message or "")
    for kwargs, field in (({"attributes_json": "{"}, "attributes:"), ({"metadata_json": "[1]"}, "metadata:"),
                          ({"attributes_json": '{"a": "b"}'}, "attributes:")):
        with pytest.raises(InvalidRequest) as info:
            run_script_test(services, "alpha", source=SEED, **kwargs)
        assert info.value.description.startswith(field)
