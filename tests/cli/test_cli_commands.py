"""Every entity's `list | show | update | delete` on the command line: success and failure, exit statuses
(0 done, 1 not found or refused, 2 a value or usage it cannot take), one JSON document with `--json` (a list:
an array, with stable keys), a table for people, and an unknown realm is an error, never an empty list."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from credo import __version__
from credo.cli.main import app
from tests.support import cli_data_dir

CLIENT_KEYS = {"client_id", "name", "kind", "enabled", "grant_types", "scopes", "auth_method", "created_at"}
USER_KEYS = {"id", "username", "active", "name", "email", "created_at"}
POLICY_KEYS = {"agent_id", "application_id", "subjects", "subject_groups", "permissions"}
ACCOUNT_KEYS = {"name", "description", "access", "scopes", "realms", "enabled", "created_at", "updated_at"}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cli_data_dir(monkeypatch, tmp_path)
    ok("realm", "create", "alpha")
    return tmp_path


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def ok(*args: str) -> str:
    result = invoke(*args)
    assert result.exit_code == 0, (args, result.output)
    assert "Traceback" not in result.output
    return str(result.stdout)


def js(*args: str) -> Any:
    """The command's one JSON document (with --json)."""
    out = ok(*args, "--json")
    return json.loads(out)


def err(status: int, *args: str) -> str:
    """A refused command: its exit status and its one `error:` line on stderr (nothing on stdout)."""
    result = invoke(*args)
    assert result.exit_code == status, (args, result.output)
    assert result.stdout == "" and "Traceback" not in result.output, result.output
    assert result.stderr.startswith("error: "), result.stderr
    return str(result.stderr.strip())


def test_version_and_usage(env: Path) -> None:
    assert ok("--version").strip() == f"credo {__version__}"
    assert invoke("user", "list").exit_code == 2  # a missing argument is a usage error
    assert invoke("user", "frobnicate", "alpha").exit_code == 2


@pytest.mark.parametrize("command", [
    ("user", "list"), ("group", "list"), ("app", "list"), ("agent", "list"), ("client", "list"),
    ("script", "list"), ("keys", "list"), ("audit",), ("policy", "list", "{realm}", "bot"),
])
def test_an_unknown_realm_is_an_error_not_an_empty_list(env: Path, command: tuple[str, ...]) -> None:
    args = [a.replace("{realm}", "nosuch") for a in command]
    if "{realm}" not in command:
        args.append("nosuch")
    assert err(1, *args) == "error: Realm 'nosuch' does not exist."
    assert err(1, *args, "--json") == "error: Realm 'nosuch' does not exist."


def test_realms(env: Path) -> None:
    assert js("realm", "list") == [{"name": "alpha", "path": "/alpha", "created_at": js("realm", "list")[0][
        "created_at"]}]
    assert "alpha" in ok("realm", "list") and "name" in ok("realm", "list")  # a table for people
    shown = js("realm", "show", "alpha")
    assert shown["name"] == "alpha" and shown["settings"]["access_token_lifetime"] > 0
    assert json.loads(ok("realm", "update", "alpha", "--set", '{"access_token_lifetime": 600}'))[
        "access_token_lifetime"] == 600
    assert err(2, "realm", "update", "alpha", "--set", '{"access_token_lifetime": 5}').startswith(
        "error: access_token_lifetime:")
    assert err(2, "realm", "update", "alpha", "--set", "{not json") .startswith("error: --set: not valid JSON")
    assert err(1, "realm", "show", "nosuch") == "error: Realm 'nosuch' does not exist."
    ok("realm", "create", "beta")
    assert "--yes" in err(2, "realm", "delete", "beta")  # destructive: asks for --yes
    assert js("realm", "delete", "beta", "--yes") == {"deleted": "realm", "name": "beta"}
    assert err(1, "realm", "delete", "beta", "--yes") == "error: Realm 'beta' does not exist."
    assert [r["name"] for r in js("realm", "list")] == ["alpha"]


def test_users_and_groups(env: Path) -> None:
    assert js("user", "list", "alpha") == []
    ok("user", "create", "alpha", "ann", "--password", "ann-password-1", "--name", "Ann")
    [ann] = js("user", "list", "alpha")
    assert set(ann) == USER_KEYS and ann["username"] == "ann"
    assert "ann" in ok("user", "list", "alpha")
    ok("group", "put", "alpha", "staff", "--member", "ann")
    assert js("user", "show", "alpha", "ann") == {**ann, "groups": ["staff"]}
    assert js("user", "show", "alpha", ann["id"])["username"] == "ann"  # by id too
    assert json.loads(ok("user", "update", "alpha", "ann", "--email", "ann@example.com"))["email"] == "ann@example.com"
    assert err(2, "user", "update", "alpha", "ann", "--email", "not-an-email").startswith("error: email:")
    assert err(1, "user", "show", "alpha", "bob") == "error: username: 'bob' does not exist."

    assert js("group", "list", "alpha") == [{"name": "staff", "members": [ann["id"]]}]
    assert js("group", "show", "alpha", "staff") == {"name": "staff", "members": [ann["id"]], "usernames": ["ann"]}
    assert err(1, "group", "show", "alpha", "nobody") == "error: name: group 'nobody' does not exist."
    assert err(2, "group", "put", "alpha", "staff", "--member", "ghost").startswith("error: members:")
    assert js("group", "delete", "alpha", "staff") == {"deleted": "group", "realm": "alpha", "name": "staff"}
    assert err(1, "group", "delete", "alpha", "staff") == "error: name: group 'staff' does not exist."

    assert ok("user", "delete", "alpha", "ann").strip() == "deleted user ann of realm alpha"
    assert err(1, "user", "delete", "alpha", "ann") == "error: username: 'ann' does not exist."
    assert js("user", "list", "alpha") == []


def test_applications_agents_policies_and_clients(env: Path) -> None:
    ok("user", "create", "alpha", "ann", "--password", "ann-password-1")
    ok("app", "create", "alpha", "billing", "--scope", "invoices-read")
    ok("agent", "create", "alpha", "bot", "--scope", "invoices-read")
    ok("client", "create", "alpha", "plain", "--scope", "read")

    [billing] = js("app", "list", "alpha")
    assert CLIENT_KEYS <= set(billing) and billing["kind"] == "application"
    assert not {"client_secret", "secret_hash"} & set(billing)
    assert js("app", "show", "alpha", "billing") == billing
    assert "billing" in ok("app", "show", "alpha", "billing")
    assert err(1, "app", "show", "alpha", "bot") == "error: client_id: application 'bot' does not exist."

    [bot] = js("agent", "list", "alpha")
    assert CLIENT_KEYS <= set(bot) and bot["kind"] == "agent" and bot["applications"] == []
    assert js("agent", "show", "alpha", "bot")["client_id"] == "bot"
    assert err(1, "agent", "show", "alpha", "billing") == "error: agent_id: AI agent 'billing' does not exist."
    assert json.loads(ok("agent", "update", "alpha", "bot", "--overrides"))["overrides_enabled"] is True

    ok("policy", "put", "alpha", "bot", "billing", "--subject", "ann")
    [policy] = js("policy", "list", "alpha", "bot")
    assert set(policy) == POLICY_KEYS and policy["application_id"] == "billing"
    assert js("policy", "show", "alpha", "bot", "billing") == policy
    assert js("agent", "show", "alpha", "bot")["applications"] == ["billing"]
    assert err(1, "policy", "show", "alpha", "bot", "nothing") == (
        "error: application_id: agent 'bot' has no policy for 'nothing'.")
    assert err(1, "policy", "list", "alpha", "billing") == "error: agent_id: AI agent 'billing' does not exist."
    assert js("policy", "delete", "alpha", "bot", "billing")["deleted"] == "policy"
    assert err(1, "policy", "delete", "alpha", "bot", "billing").startswith("error: application_id:")

    [plain] = js("client", "list", "alpha")
    assert CLIENT_KEYS <= set(plain) and plain["kind"] == "client" and plain["scopes"] == ["read"]
    changed = js("client", "update", "alpha", "plain", "--scope", "read write", "--disabled", "--new-secret")
    assert changed["scopes"] == ["read", "write"] and changed["enabled"] is False and changed["client_secret"]
    assert js("client", "show", "alpha", "plain")["enabled"] is False
    assert err(2, "client", "update", "alpha", "plain", "--grant", "nonsense").startswith("error: grant_types:")
    assert err(1, "client", "show", "alpha", "billing") == (
        "error: client_id: client 'billing' does not exist in realm 'alpha'.")

    assert js("agent", "delete", "alpha", "bot")["deleted"] == "agent"
    assert js("app", "delete", "alpha", "billing")["deleted"] == "application"
    assert js("client", "delete", "alpha", "plain")["deleted"] == "client"
    for kind in ("agent", "app", "client"):
        assert js(kind, "list", "alpha") == []
    assert err(1, "app", "delete", "alpha", "billing").startswith("error: client_id: application 'billing'")


def test_scripts(env: Path, tmp_path: Path) -> None:
    source = tmp_path / "s.js"
    source.write_text("var x = 1;")
    created = json.loads(ok("script", "create", "alpha", "--name", "first", "--file", str(source)))
    [listed] = js("script", "list", "alpha")
    assert set(listed) == {"id", "name", "type", "description", "selected"} and listed["selected"] is False
    shown = js("script", "show", "alpha", created["id"])
    assert shown["source"] == "var x = 1;" and shown["name"] == "first"
    assert "var x = 1;" in ok("script", "show", "alpha", created["id"])
    source.write_text("var y = 2;")
    ok("script", "update", "alpha", created["id"], "--file", str(source), "--description", "second")
    assert js("script", "show", "alpha", created["id"])["description"] == "second"
    source.write_text("this is not javascript (")
    assert err(2, "script", "update", "alpha", created["id"], "--file", str(source)).startswith("error: source:")
    ok("script", "use", "alpha", created["id"])
    assert err(2, "script", "delete", "alpha", created["id"]).startswith("error: script_id:")  # in use
    ok("script", "use", "alpha", "none")
    assert js("script", "delete", "alpha", created["id"])["deleted"] == "script"
    assert err(1, "script", "show", "alpha", created["id"]).startswith("error: script_id:")


def test_keys_and_audit(env: Path) -> None:
    [key] = js("keys", "list", "alpha")
    assert {"kid", "alg", "active", "public_jwk"} <= set(key) and "d" not in key["public_jwk"]
    ok("user", "create", "alpha", "ann", "--password", "ann-password-1")
    events = js("audit", "alpha", "--action", "user.create")
    assert [e["actor"] for e in events] == ["cli"] and {"ts", "action", "actor", "decision", "target"} <= set(events[0])
    assert "user.create" in ok("audit", "alpha")


def test_service_accounts_and_admin_tokens(env: Path) -> None:
    created = json.loads(ok("service-account", "create", "deployer", "--access", "write", "--realm", "alpha"))
    assert created["client_id"] == "deployer" and created["client_secret"] and created["realms"] == ["alpha"]
    [listed] = js("service-account", "list")
    assert set(listed) == ACCOUNT_KEYS and listed["scopes"] == ["admin:read", "admin:write"]
    assert "deployer" in ok("service-account", "list")
    changed = js("service-account", "update", "deployer", "--access", "read", "--realm", "alpha", "--realm", "beta")
    assert (changed["access"], changed["realms"]) == ("read", ["alpha", "beta"])
    assert js("service-account", "update", "deployer", "--new-secret")["client_secret"] != created["client_secret"]
    assert err(2, "service-account", "update", "deployer", "--access", "root").startswith("error: access:")
    assert err(2, "service-account", "create", "other", "--realm", "Bad Realm").startswith("error: realms:")
    assert err(2, "service-account", "create", "other").startswith("error: realms:")
    assert err(2, "service-account", "create", "deployer", "--realm", "alpha").startswith("error: name:")
    assert err(1, "service-account", "show", "nobody") == "error: name: service account 'nobody' does not exist."
    assert js("admin", "token", "list") == []
    assert err(1, "admin", "token", "revoke", "abc") == "error: id: admin token 'abc' does not exist or expired."
    assert js("service-account", "delete", "deployer") == {"deleted": "service_account", "name": "deployer"}
    assert err(1, "service-account", "delete", "deployer").startswith("error: name:")
    assert js("service-account", "list") == []
