"""`credo admin create`, `credo import FILE`, `credo export REALM` and the first-start admin."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
import yaml

from credo.cli.common import open_services
from credo.cli.output import exit_status
from credo.domain.errors import OAuthError
from credo.management.admins import bootstrap_admin, create_admin
from credo.management.export import export_realm, import_document, import_warnings
from credo.oauth.services import Services

admin_app = typer.Typer(help="Administrator accounts.", no_args_is_help=True)


@admin_app.command("create")
def admin_create(username: str = typer.Argument(..., help="The administrator's username."),
                 password: bool = typer.Option(False, "--password", help="Prompt for the password instead of "
                                               "generating one.")) -> None:
    """Create an administrator (or reset one's password); a generated password is printed once."""
    chosen = typer.prompt("Password", hide_input=True, confirmation_prompt=True) if password else None
    services = open_services()
    try:
        _, plain = create_admin(services, username, chosen, actor="cli")
    except OAuthError as exc:
        typer.echo(f"error: {exc.description}", err=True)
        raise typer.Exit(exit_status(exc)) from exc
    typer.echo(f"administrator {username} is ready" + ("" if chosen else f"; one-time password: {plain}"))


def print_first_admin(services: Services) -> None:
    """At start-up: when no administrator exists, create one and print its one-time password to stderr."""
    created = bootstrap_admin(services)
    if created:
        print(f"\nNo administrator existed: created '{created[0]}' with the one-time password\n\n    {created[1]}\n\n"
              "Sign in at /admin and keep it safe; it is not shown again.\n", file=sys.stderr)


LARGE_IMPORT = 100  # entries from which an import at a terminal shows its progress


def import_file(file: Path = typer.Argument(..., exists=True, dir_okay=False, help="A YAML or JSON document.")) -> None:
    """Bring a realm in line with a configuration document: it adds and updates, never removes (idempotent).
    Passwords and secrets are hashed in parallel; a large document at a terminal shows its progress."""
    doc = _load(file)
    services = open_services()
    try:
        with _progress(doc) as progress:
            counts = import_document(services, doc, actor="cli-import", progress=progress)
    except OAuthError as exc:
        typer.echo(f"error: {exc.description}", err=True)
        raise typer.Exit(exit_status(exc)) from exc
    typer.echo(json.dumps(counts))
    if counts.get("secrets_kept"):
        typer.echo(f"note: {counts['secrets_kept']} existing password(s) or secret(s) differ from the document's "
                   "and were kept; add reset_password: true (users) or reset_secret: true (clients) to an entry "
                   "to replace them.", err=True)
    for warning in import_warnings(services, doc):
        typer.echo(f"warning: {warning}", err=True)


_PHASES = {"secrets": "hashing passwords and secrets", "users": "users", "groups": "groups",
           "applications": "applications", "agents": "agents"}


@contextmanager
def _progress(doc: Any) -> Iterator[Callable[[str, int, int], None] | None]:
    """A rich progress display on stderr for a large document at a terminal (nothing for scripts and pipes)."""
    sections = ("users", "groups", "applications", "agents")
    size = sum(len(doc.get(s) or []) for s in sections if isinstance(doc.get(s), list)) if isinstance(doc, dict) else 0
    if size < LARGE_IMPORT or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=False) as bar:
        tasks: dict[str, Any] = {}

        def tell(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(_PHASES.get(phase, phase), total=total)
            bar.update(tasks[phase], completed=done)

        yield tell


class StrictLoader(yaml.SafeLoader):  # type: ignore[misc,unused-ignore]  # untyped without the yaml stubs
    """Safe YAML without aliases (a few hundred bytes of nested aliases expand to gigabytes: the document
    is taken as written, never expanded) and without duplicate keys (which one would win is a guess)."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._path: list[str] = []  # where the node being composed is, for the messages
        self._paths: dict[int, str] = {}  # id(mapping node) -> its path

    def compose_node(self, parent: Any, index: Any) -> Any:
        step = index.value if isinstance(index, yaml.ScalarNode) else f"[{index}]" if isinstance(index, int) else None
        self._path.append(step or "")
        try:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()  # type: ignore[no-untyped-call]
                raise yaml.composer.ComposerError(None, None, f"{self._where()}: aliases (*{event.anchor}) are not "
                                                  "allowed; write the value out", event.start_mark)
            node = super().compose_node(parent, index)
            if isinstance(node, yaml.MappingNode):
                self._paths[id(node)] = self._joined()
            return node
        finally:
            self._path.pop()

    def _joined(self) -> str:
        return "".join(s if s.startswith("[") else f".{s}" for s in self._path if s).lstrip(".")

    def _where(self) -> str:
        return self._joined() or "the document"

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[str] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, str):
                if key in seen:
                    where = ".".join(p for p in (self._paths.get(id(node), ""), key) if p)
                    raise yaml.constructor.ConstructorError(None, None, f"{where}: duplicate key", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str) -> Any:
    """A YAML (or JSON) document parsed strictly: no aliases, no duplicate keys (yaml.YAMLError otherwise)."""
    return yaml.load(text, Loader=StrictLoader)  # noqa: S506  # a SafeLoader subclass


def _load(file: Path) -> Any:
    """The parsed document, or one `error:` line saying where the YAML (or JSON) is broken."""
    try:
        return load_yaml(file.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        typer.echo(f"error: {file} is not valid YAML or JSON: {problem}{where}", err=True)
        raise typer.Exit(2) from exc


def export(realm: str = typer.Argument(..., help="Realm to export."),
           fmt: str = typer.Option("yaml", "--format", help="yaml or json.")) -> None:
    """Print a realm's configuration (secrets only as hashes)."""
    if fmt not in ("yaml", "json"):
        typer.echo("error: --format must be yaml or json", err=True)
        raise typer.Exit(2)
    try:
        doc = export_realm(open_services(), realm)
    except OAuthError as exc:
        typer.echo(f"error: {exc.description}", err=True)
        raise typer.Exit(exit_status(exc)) from exc
    typer.echo(json.dumps(doc, indent=2) if fmt == "json" else to_yaml(doc))


class _Dumper(yaml.SafeDumper):  # type: ignore[misc,unused-ignore]  # untyped without the yaml stubs
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(doc: object) -> str:
    """YAML with multi-line strings (script sources) as literal blocks."""
    return str(yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True))


def register(app: typer.Typer) -> None:
    app.add_typer(admin_app, name="admin")
    app.command("import")(import_file)
    app.command("export")(export)
