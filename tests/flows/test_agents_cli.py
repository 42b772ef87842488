"""The on-behalf-of set-up made entirely with the CLI, against the database of a running server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from credo.cli.main import app as cli
from tests.factories import Party, assert_oauth_error, exchange, password_token
from tests.support import Server, demo_server_the_cli_reaches

TE = "urn:ietf:params:oauth:grant-type:token-exchange"


@pytest.fixture
def shared_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    with demo_server_the_cli_reaches(tmp_path, monkeypatch) as srv:
        yield srv


def run(*args: str) -> list[dict[str, object]]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def audit(*args: str) -> list[dict[str, object]]:
    result = CliRunner().invoke(cli, ["audit", *args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_cli_setup_then_exchange(shared_db: Server) -> None:
    [user] = run("user", "create", "alpha", "barbara.jensen", "--password", "barbara-password")
    run("group", "put", "alpha", "assistants", "--member", "barbara.jensen")
    [app] = run("app", "create", "alpha", "assistant-app", "--type", "web", "--scope", "openid read-data write-data",
                "--grant", "password", "--grant", "refresh_token", "--secret", "assistant-app-secret-1",
                "--owner", "admin")
    [agent] = run("agent", "create", "alpha", "assistant-agent", "--grant", TE, "--overrides", "--stateless",
                  "--accept-audience")
    [policy] = run("agent", "policy", "alpha", "assistant-agent", "assistant-app", "--group", "assistants",
                   "--permission", "read-data")
    assert policy["subject_groups"] == ["assistants"] and policy["permissions"] == ["read-data"]
    assert app["client_secret"] == "assistant-app-secret-1" and isinstance(agent["client_secret"], str)
    app_party = Party("assistant-app", "assistant-app-secret-1")
    agent_party = Party("assistant-agent", str(agent["client_secret"]))
    base = shared_db.realm_url("alpha")
    with shared_db.client() as http:
        user_token = password_token(http, base, app_party, username="barbara.jensen",
                                    password="barbara-password").json()["access_token"]
        r = exchange(http, base, agent_party, user_token, "assistant-app")
        assert r.status_code == 200, r.text
        info = http.post(f"{base}/introspect", data={"token": r.json()["access_token"], **agent_party.auth}).json()
        assert info["sub"] == user["id"] and info["act"] == {"sub": "assistant-agent"} and info["scope"] == "read-data"
        assert_oauth_error(exchange(http, base, agent_party, user_token, "assistant-app", "write-data"), 400, "invalid_scope")

        [allow] = audit("alpha", "--action", "token_exchange", "--decision", "allow")
        [deny] = audit("alpha", "--action", "token_exchange", "--decision", "deny")
        assert allow["actor"] == deny["actor"] == "assistant-agent" and allow["target"] == "assistant-app"
        assert str(deny["reason"]).startswith("invalid_scope")

        run("agent", "enable", "alpha", "assistant-agent", "--disabled")
        assert_oauth_error(exchange(http, base, agent_party, user_token, "assistant-app"), 401, "invalid_client")


def test_cli_errors_name_the_field(shared_db: Server) -> None:
    result = CliRunner().invoke(cli, ["agent", "policy", "alpha", "nobody", "nothing"])
    assert result.exit_code == 1 and "agent_id" in result.output  # not found: 1; a value it cannot take: 2
    result = CliRunner().invoke(cli, ["app", "create", "alpha", "bad id", "--type", "service"])
    assert result.exit_code == 2 and "client_id" in result.output
    result = CliRunner().invoke(cli, ["app", "create", "alpha", "x", "--type", "desktop"])
    assert result.exit_code == 2 and "app_type" in result.output


@pytest.mark.parametrize("command", [("app", "create"), ("agent", "create")])
def test_cli_refuses_a_long_client_name(shared_db: Server, command: tuple[str, str]) -> None:
    result = CliRunner().invoke(cli, [*command, "alpha", "long-name", "--name", "n" * 256])
    assert result.exit_code == 2, result.output
    assert "error: name: must be a string of at most 255 characters." in result.output
    assert shared_db.services.storage.clients.get("alpha", "long-name") is None
    [ok] = run(*command, "alpha", "long-name", "--name", "n" * 255)
    assert ok["client_id"] == "long-name"
    assert shared_db.services.storage.clients.get("alpha", "long-name").name == "n" * 255  # type: ignore[union-attr]


def test_cli_overrides_need_their_switch(shared_db: Server) -> None:
    refused = CliRunner().invoke(cli, ["agent", "create", "alpha", "lone", "--stateless"])
    assert refused.exit_code == 2 and refused.stderr.startswith(
        "error: stateless_tokens: Use Client-Side Access & Refresh Tokens (statelessTokensEnabled) needs "
        "overrides_enabled (Enable OAuth2 Provider Overrides (providerOverridesEnabled))"), refused.output
    assert shared_db.services.storage.clients.get("alpha", "lone") is None
    run("agent", "create", "alpha", "switched", "--grant", TE, "--overrides", "--accept-audience")
    refused = CliRunner().invoke(cli, ["agent", "update", "alpha", "switched", "--no-overrides", "--stateless"])
    assert refused.exit_code == 2 and refused.stderr.startswith("error: stateless_tokens: "), refused.output
    # Overrides switched off alone: the flag is kept, shown as stored, and warned of.
    updated = CliRunner().invoke(cli, ["agent", "update", "alpha", "switched", "--no-overrides"])
    assert updated.exit_code == 0, updated.output
    shown = json.loads(updated.stdout)
    warning = ("Accept audience parameters in token exchange requests (acceptAudienceParametersInTokenExchangeRequests)"
               " is set but does nothing: Enable OAuth2 Provider Overrides (providerOverridesEnabled) is off.")
    assert (shown["overrides_enabled"], shown["accept_audience"], shown["warnings"]) == (False, True, [warning])
    assert updated.stderr == f"warning: {warning}\n"
    agents = json.loads(CliRunner().invoke(cli, ["agent", "list", "alpha", "--json"]).stdout)
    [listed] = [a for a in agents if a["client_id"] == "switched"]
    assert listed["warnings"] == [warning]
    [fixed] = run("agent", "update", "alpha", "switched", "--overrides")
    assert fixed["warnings"] == [] and fixed["accept_audience"] is True
