"""`credo script create | list | show | update | delete | test | use`: DCR scripts from the command line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from credo.admin.api import shapes
from credo.cli.common import open_services
from credo.cli.output import JSON, done, emit_list, emit_one, exit_status
from credo.domain.errors import OAuthError
from credo.management import scripts as manage
from credo.scripting.api import ScriptError

script_app = typer.Typer(help="DCR scripts (OAuth2 Dynamic Client Registration).", no_args_is_help=True)
T = TypeVar("T")


def _guard(action: Callable[[], T]) -> T:
    try:
        return action()
    except OAuthError as exc:
        typer.echo(f"error: {exc.description}", err=True)
        raise typer.Exit(exit_status(exc)) from exc


def _read(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        typer.echo(f"error: cannot read {file}: {exc}", err=True)
        raise typer.Exit(2) from exc


def _attributes(pairs: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            typer.echo(f"error: --attr expects name=value, got {pair!r}", err=True)
            raise typer.Exit(2)
        out.setdefault(name, []).append(value)
    return out


def _summary(script: Any) -> str:
    return json.dumps({"id": script.id, "name": script.name, "type": script.type, "description": script.description})


@script_app.command("create")
def script_create(realm: str, name: str = typer.Option(..., help="Script name."),
                  file: Path = typer.Option(..., help="JavaScript source file."),
                  description: str = typer.Option("", help="What the script does.")) -> None:
    """Create a DCR script; prints its id."""
    source = _read(file)
    services = open_services()
    script = _guard(lambda: manage.create_script(services, realm, name=name, source=source,
                                                 description=description, actor="cli"))
    typer.echo(_summary(script))


@script_app.command("list")
def script_list(realm: str, as_json: bool = JSON) -> None:
    """List a realm's scripts (without their sources); the one the realm runs is marked `selected`."""
    services = open_services()
    from credo.management.realms import get_realm

    selected = _guard(lambda: get_realm(services, realm)).settings.dcr_script
    rows = [{**json.loads(_summary(s)), "selected": s.id == selected} for s in manage.list_scripts(services, realm)]
    emit_list(rows, ("id", "name", "type", "description", "selected"), as_json=as_json, title=f"scripts of {realm}")


@script_app.command("show")
def script_show(realm: str, script_id: str, as_json: bool = JSON) -> None:
    """Show a script with its source."""
    services = open_services()
    script = _guard(lambda: manage.get_script(services, realm, script_id))
    if as_json:
        emit_one(shapes.script(script), as_json=True)
        return
    emit_one({k: v for k, v in shapes.script(script).items() if k != "source"}, as_json=False)
    typer.echo(script.source)


@script_app.command("update")
def script_update(realm: str, script_id: str, name: str = typer.Option(None, help="A new name."),
                  file: Path = typer.Option(None, help="A JavaScript file with the new source."),
                  description: str = typer.Option(None, help="A new description.")) -> None:
    """Change a script (only the options given; a new source is checked as on creation); prints its summary."""
    source = _read(file) if file is not None else None
    services = open_services()
    script = _guard(lambda: manage.update_script(services, realm, script_id, name=name, source=source,
                                                 description=description, actor="cli"))
    typer.echo(_summary(script))


@script_app.command("delete")
def script_delete(realm: str, script_id: str, as_json: bool = JSON) -> None:
    """Delete a script (refused while the realm runs it: `credo script use REALM none` first)."""
    services = open_services()
    _guard(lambda: manage.delete_script(services, realm, script_id, actor="cli"))
    done(f"deleted script {script_id} of realm {realm}", {"deleted": "script", "realm": realm, "id": script_id},
         as_json=as_json)


@script_app.command("test")
def script_test(realm: str, file: Path = typer.Option(..., help="JavaScript source file."),
                agent: bool = typer.Option(True, "--agent/--no-agent", help="Pretend the client is an AI agent."),
                operation: str = typer.Option("CREATE", help="CREATE, UPDATE or DELETE."),
                attr: list[str] = typer.Option([], "--attr", help="A client attribute name=value (repeat).")) -> None:
    """Run a script against a sample client (nothing is registered); prints the resulting attributes."""
    source = _read(file)
    services = open_services()
    try:
        output = _guard(lambda: manage.test_script(services, realm, source=source, operation=operation,
                                                   is_ai_agent=agent, attributes=_attributes(attr)))
    except ScriptError as exc:
        for line in exc.logs:
            typer.echo(f"log: {line}", err=True)
        typer.echo(f"error ({exc.reason}): {exc}", err=True)
        raise typer.Exit(1) from exc
    for line in output.logs:
        typer.echo(f"log: {line}", err=True)
    typer.echo(f"stored: {str(output.stored).lower()}", err=True)
    typer.echo(json.dumps(output.attributes, indent=2, sort_keys=True))


@script_app.command("use")
def script_use(realm: str, script_id: str = typer.Argument(..., help="Script id, or 'none' to run no script.")) -> None:
    """Select the script the realm runs on dynamic client registration."""
    services = open_services()
    chosen = None if script_id == "none" else script_id
    updated = _guard(lambda: manage.select_realm_script(services, realm, chosen, actor="cli"))
    typer.echo(json.dumps({"realm": realm, "dcr_script": updated.settings.dcr_script}))
