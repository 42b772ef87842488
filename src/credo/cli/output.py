"""How every command answers: one JSON document with `--json` (a list is an array; keys as the admin API
names them), a rich table for people otherwise; an error is one `error: ...` line on stderr naming the
thing, with exit status 1 (not found, refused) or 2 (a value or usage the command cannot take)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from credo.domain.errors import AccessDenied, InsufficientScope, InvalidToken, NotFound, OAuthError
from credo.management.messages import says, where

JSON: Any = typer.Option(False, "--json", help="Print one JSON document (a list: an array) for machines.")

# Exit statuses: 0 done, 1 not found or refused, 2 a value or usage the command cannot take.
NOT_FOUND_OR_REFUSED, USAGE = 1, 2


def exit_status(exc: OAuthError) -> int:
    """1 when the thing named does not exist or the change is refused; 2 for a value that cannot be taken."""
    return NOT_FOUND_OR_REFUSED if isinstance(exc, NotFound | AccessDenied | InsufficientScope | InvalidToken) \
        else USAGE


def fail(message: str, status: int = USAGE) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(status)


@contextmanager
def refusals() -> Iterator[None]:
    """Turn a use case's refusal (or a value a settings model refused) into its `error:` line and exit status."""
    try:
        yield
    except OAuthError as exc:
        fail(exc.description, exit_status(exc))
    except ValidationError as exc:
        fail(first_problem(exc), USAGE)


def first_problem(exc: ValidationError) -> str:
    """The first field pydantic refused, without its links."""
    problem = exc.errors()[0]
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where(problem) or 'settings'}: {says(problem)}{more}."


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _console() -> Console:
    return Console(soft_wrap=False, width=None if sys.stdout.isatty() else 200)


def emit_list(rows: Sequence[dict[str, Any]], columns: Sequence[str], *, as_json: bool, title: str = "") -> None:
    """A list: a JSON array of the full rows, or a table of `columns` (an empty list says so)."""
    if as_json:
        typer.echo(json.dumps(list(rows), sort_keys=True))
        return
    if not rows:
        typer.echo(f"no {title or 'entries'}", err=True)
        return
    table = Table(*columns, title=title or None, title_justify="left")
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    _console().print(table)


def emit_one(row: dict[str, Any], *, as_json: bool) -> None:
    """One thing: its JSON object, or a two-column table of its fields."""
    if as_json:
        typer.echo(json.dumps(row, sort_keys=True))
        return
    table = Table("field", "value", show_header=False)
    for key, value in row.items():
        table.add_row(key, _cell(value))
    _console().print(table)


def done(message: str, row: dict[str, Any], *, as_json: bool) -> None:
    """A change with nothing to show (a deletion): a sentence, or with --json the JSON object."""
    if as_json:
        typer.echo(json.dumps(row, sort_keys=True))
    else:
        typer.echo(message)


def confirm_or_exit(question: str, yes: bool) -> None:
    """A destructive command asks at a terminal unless --yes; without a terminal it needs --yes."""
    if yes:
        return
    if not sys.stdin.isatty():
        fail("this deletes data: add --yes to confirm", USAGE)
    if not typer.confirm(question, default=False):
        raise typer.Exit(1)


YES: Any = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation.")

Runner = Callable[[], Any]
