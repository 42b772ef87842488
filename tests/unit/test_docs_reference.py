"""The reference documents stay true to the code: every error description they quote is one the code
can give, every provider setting and sign-in option is documented, and every link between them (file and
heading) leads somewhere. (The walkthroughs' commands run in tests/flows/test_walkthroughs_doc.py.)"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import typer.main

from credo.cli.main import app
from credo.domain.settings import ProviderSettings

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
LINKED = [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]
SIGNIN_SETTINGS = ("session_lifetime", "pkce_optional_for_confidential_clients", "skip_consent_for_applications",
                   "refresh_requires_offline_access", "scope_descriptions")
MIN_LITERAL = 12  # characters of fixed text an f-string needs to stand for a description


@cache
def code_texts() -> tuple[frozenset[str], tuple[re.Pattern[str], ...]]:
    """Every string constant in the source, and every f-string as a pattern (each value: any text)."""
    texts: set[str] = set()
    patterns: list[re.Pattern[str]] = []
    for path in (ROOT / "src" / "credo").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                texts.add(node.value)
            elif isinstance(node, ast.JoinedStr):
                parts = [re.escape(v.value) if isinstance(v, ast.Constant) else ".+" for v in node.values]
                literal = "".join(str(v.value) for v in node.values if isinstance(v, ast.Constant))
                if len(literal) >= MIN_LITERAL:
                    patterns.append(re.compile("".join(parts)))
    return frozenset(texts), tuple(patterns)


def quoted_descriptions(doc: Path) -> list[str]:
    """The error descriptions a document's tables quote: a last cell that is one `code span` ending in '.'."""
    out = []
    for line in doc.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
        match = re.fullmatch(r"`([^`]+\.)`", cells[-1]) if cells else None
        if match:
            out.append(match.group(1))
    return out


def is_code_text(text: str, texts: frozenset[str], patterns: tuple[re.Pattern[str], ...]) -> bool:
    """A string or f-string of the code, possibly behind the `field: ` prefix the field-naming errors add."""
    field = re.fullmatch(r"[\w.]+: (.+)", text)
    candidates = (text, field.group(1)) if field else (text,)
    return any(c in texts or any(p.fullmatch(c) for p in patterns) for c in candidates)


@pytest.mark.parametrize("name", ["sign-in.md", "walkthroughs.md"])
def test_quoted_error_descriptions_are_the_codes(name: str) -> None:
    texts, patterns = code_texts()
    quoted = quoted_descriptions(DOCS / name)
    assert len(quoted) >= 10, quoted
    unknown = [d for d in quoted if not is_code_text(d, texts, patterns)]
    assert not unknown, f"{name} quotes descriptions the code does not give: {unknown}"


def test_every_provider_setting_is_documented() -> None:
    schema, signin = (DOCS / "config-schema.md").read_text(), (DOCS / "sign-in.md").read_text()
    missing = [f for f in ProviderSettings.model_fields if f"`{f}`" not in schema]
    assert not missing, f"docs/config-schema.md does not name: {missing}"
    assert [s for s in SIGNIN_SETTINGS if f"`{s}`" not in signin] == []
    assert set(SIGNIN_SETTINGS) <= set(ProviderSettings.model_fields)


def _options(*path: str) -> list[str]:
    command: Any = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    return [opt for param in command.params for opt in param.opts + param.secondary_opts if opt.startswith("--")]


@pytest.mark.parametrize("path", [("app", "create"), ("app", "update"), ("user", "create"), ("user", "update")])
def test_command_options_are_documented(path: tuple[str, ...]) -> None:
    text = "\n".join(p.read_text() for p in (DOCS / "sign-in.md", DOCS / "agents.md", DOCS / "walkthroughs.md"))
    options = [o for o in _options(*path) if o != "--help"]
    assert options
    assert [o for o in options if o not in text] == [], f"credo {' '.join(path)}"


def slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(doc: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", doc.read_text(), flags=re.S)
    return {slug(m) for m in re.findall(r"^#{1,6} (.+)$", text, re.M)}


@pytest.mark.parametrize("doc", LINKED, ids=lambda p: p.name)
def test_links_between_documents_lead_somewhere(doc: Path) -> None:
    text = re.sub(r"```.*?```", "", doc.read_text(), flags=re.S)
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        path = (doc.parent / file).resolve() if file else doc
        if not path.exists() or (anchor and path.suffix == ".md" and anchor not in anchors(path)):
            broken.append(target)
    assert not broken, f"{doc.name}: {broken}"
