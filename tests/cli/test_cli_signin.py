"""The command line on what browser sign-in added: `credo user create|update --name --email`, `credo app
create|update` and `credo client create` with `--redirect-uri`, `--post-logout-redirect-uri`, `--resource`,
`--application-type` and `--skip-consent`, `credo app show`, and `credo realm settings --set` as a JSON
merge patch; `--strict-auth-method` on `credo client|app|agent create` and `credo app update`. On a
SQLite data directory, as an operator runs them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from credo.cli.main import app
from tests.support import SIGNIN_FIELDS_MISSING, cli_data_dir, keeps_signin_fields, make_storage

MCP = "https://mcp.example.com/mcp"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cli_data_dir(monkeypatch, tmp_path)
    run("realm", "create", "alpha")
    return tmp_path


def run(*args: str) -> Any:
    """Run a command that must succeed; its last JSON output (a line, or the whole output)."""
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = result.stdout.strip()
    if out.startswith("{\n"):  # indented (realm settings)
        return json.loads(out)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else None


def refused(*args: str, status: int = 2) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == status, result.output
    return str(result.output).strip()


def test_signin_options_reach_the_use_cases(env: Path) -> None:
    user = run("user", "create", "alpha", "ada", "--password", "ada-password-1", "--name", "Ada Lovelace",
               "--email", "ada@example.com")
    assert (user["name"], user["email"], user["active"]) == ("Ada Lovelace", "ada@example.com", True)
    changed = run("user", "update", "alpha", "ada", "--email", "ada@lovelace.example")
    assert changed["email"] == "ada@lovelace.example" and changed["id"] == user["id"]
    assert run("user", "update", "alpha", user["id"], "--name", "")["name"] == ""
    created = run("app", "create", "alpha", "phone-app", "--grant", "authorization_code", "--grant", "refresh_token",
                  "--auth-method", "none", "--application-type", "native", "--redirect-uri", "com.example.phone:/cb",
                  "--redirect-uri", "http://127.0.0.1/cb", "--post-logout-redirect-uri", "com.example.phone:/bye",
                  "--resource", MCP, "--skip-consent")
    assert created["client_secret"] is None and created["application_type"] == "native" and created["skip_consent"]
    assert created["redirect_uris"] == ["com.example.phone:/cb", "http://127.0.0.1/cb"]
    assert created["post_logout_redirect_uris"] == ["com.example.phone:/bye"] and created["resources"] == [MCP]
    # Back to a web application: its native (private-use scheme) URIs are re-checked, so they go too.
    assert refused("app", "update", "alpha", "phone-app", "--application-type", "web", "--redirect-uri",
                   "https://phone.example/cb").startswith("error: post_logout_redirect_uris: 'com.example.phone:/bye'")
    updated = run("app", "update", "alpha", "phone-app", "--application-type", "web", "--redirect-uri",
                  "https://phone.example/cb", "--post-logout-redirect-uri", "", "--no-skip-consent", "--resource", "")
    assert (updated["application_type"], updated["redirect_uris"], updated["skip_consent"], updated["resources"]) == (
        "web", ["https://phone.example/cb"], False, [])
    client = run("client", "create", "alpha", "api", "--resource", "https://api.example.com/",
                 "--redirect-uri", "https://api.example.com/cb")
    assert client["resources"] == ["https://api.example.com/"] and client["client_secret"]


def test_refusals_name_the_field(env: Path) -> None:
    assert refused("user", "create", "alpha", "bob", "--password", "bob-password-1", "--email", "bob") == (
        "error: email: 'bob' is not an email address (one '@' between a name and a domain, at most 255 characters).")
    assert refused("app", "create", "alpha", "web-app", "--redirect-uri", "http://app.example.com/cb") == (
        "error: redirect_uris: 'http://app.example.com/cb' must be an absolute https URL (http only on a loopback "
        "host: localhost, 127.0.0.1, [::1]).")
    assert refused("app", "create", "alpha", "web-app", "--application-type", "desktop") == (
        "error: application_type: must be 'web' or 'native'.")
    run("app", "create", "alpha", "web-app", "--resource", MCP)
    assert refused("app", "update", "alpha", "web-app", "--resource", f"{MCP}#x").startswith(
        "error: resources: 'https://mcp.example.com/mcp#x' must not have a fragment")
    assert refused("app", "update", "alpha", "nobody", "--skip-consent", status=1) == (
        "error: client_id: application 'nobody' does not exist.")


def test_settings_set_is_a_merge_patch(env: Path) -> None:
    run("realm", "settings", "alpha", "--set", json.dumps({
        "session_lifetime": 900, "refresh_requires_offline_access": True,
        "scope_descriptions": {"openid": "Sign you in", "email": "Your email"},
        "protection": {"policy": {"max_clients": 3}}}))
    s = run("realm", "settings", "alpha", "--set", json.dumps({
        "scope_descriptions": {"email": None, "profile": "Your name"}, "protection": {"require_signed_request": True},
        "grant_types": ["client_credentials", "authorization_code"]}))
    assert s["scope_descriptions"] == {"openid": "Sign you in", "profile": "Your name"}
    assert s["protection"]["policy"]["max_clients"] == 3 and s["protection"]["require_signed_request"] is True
    assert (s["session_lifetime"], s["refresh_requires_offline_access"]) == (900, True)
    assert run("realm", "settings", "alpha") == s


def test_round_trip_through_the_database(env: Path) -> None:
    (env / "probe").mkdir()
    with make_storage("sqlite", env / "probe") as storage:
        if not keeps_signin_fields(storage):
            pytest.skip(SIGNIN_FIELDS_MISSING)
    run("user", "create", "alpha", "ada", "--password", "ada-password-1", "--name", "Ada", "--email", "ada@example.com")
    run("app", "create", "alpha", "web-app", "--grant", "authorization_code", "--redirect-uri", "https://a.example/cb",
        "--post-logout-redirect-uri", "https://a.example/", "--resource", MCP, "--skip-consent")
    run("app", "update", "alpha", "web-app", "--application-type", "native", "--redirect-uri", "com.example.a:/cb")
    shown = run("app", "show", "alpha", "web-app", "--json")
    assert (shown["application_type"], shown["redirect_uris"], shown["post_logout_redirect_uris"]) == (
        "native", ["com.example.a:/cb"], ["https://a.example/"])
    assert shown["resources"] == [MCP] and shown["skip_consent"] is True
    assert refused("app", "create", "alpha", "other", "--resource", MCP).startswith(
        f"error: resources: '{MCP}' is already a resource identifier of client 'web-app'")
    [user] = json.loads(CliRunner().invoke(app, ["user", "list", "alpha", "--json"]).stdout)
    assert (user["name"], user["email"]) == ("Ada", "ada@example.com")
    exported = yaml.safe_load(CliRunner().invoke(app, ["export", "alpha"]).stdout)
    [web] = exported["applications"]
    assert (web["application_type"], web["resources"], web["skip_consent"]) == ("native", [MCP], True)
    assert (exported["users"][0]["name"], exported["users"][0]["email"]) == ("Ada", "ada@example.com")


def test_strict_auth_method_option_reaches_the_use_cases(env: Path) -> None:
    assert run("client", "create", "alpha", "plain")["strict_auth_method"] is False
    assert run("client", "create", "alpha", "pinned", "--strict-auth-method")["strict_auth_method"] is True
    assert run("app", "create", "alpha", "app", "--strict-auth-method")["strict_auth_method"] is True
    assert run("app", "update", "alpha", "app", "--any-secret-method")["strict_auth_method"] is False
    assert run("app", "update", "alpha", "app", "--strict-auth-method")["strict_auth_method"] is True
    assert run("app", "update", "alpha", "app", "--skip-consent")["strict_auth_method"] is True  # left as it was
    run("agent", "create", "alpha", "bot", "--strict-auth-method")
    exported = run("export", "alpha", "--format", "json")  # stored as the attribute an import document sets
    assert [a["attributes"].get("strictAuthMethod") for a in exported["applications"] + exported["agents"]] == \
        [["true"], ["true"]]
