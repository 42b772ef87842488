"""Value objects (`credo.domain.values.value_object`): immutable to the type checker, and at run time a
dataclass with slots that compares and hashes like a frozen one."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from mypy import api

from credo.domain.values import value_object


@value_object
class Pair:
    a: int
    b: tuple[str, ...] = ()


def test_compares_hashes_and_replaces_like_a_frozen_dataclass() -> None:
    assert Pair(1, ("x",)) == Pair(1, ("x",)) and Pair(1) != Pair(2)
    assert hash(Pair(1, ("x",))) == hash(Pair(1, ("x",)))
    assert {Pair(1), Pair(1)} == {Pair(1)}
    assert dataclasses.replace(Pair(1), b=("y",)) == Pair(1, ("y",))
    assert not hasattr(Pair(1), "__dict__")  # slots: no attribute can be added either
    with pytest.raises(AttributeError):
        Pair(1).c = 3  # type: ignore[attr-defined]


def test_the_type_checker_refuses_an_assignment(tmp_path: Path) -> None:
    """The rule the run-time check of a frozen dataclass used to enforce, checked before the code runs: the
    request's own values (headers from the edge, the grant, the token read) and a value defined here."""
    snippet = tmp_path / "assigns.py"
    snippet.write_text(
        "from credo.domain.values import value_object\n"
        "from credo.http.forms import RequestHeaders\n"
        "from credo.oauth.token_endpoint import Grant\n"
        "@value_object\n"
        "class V:\n"
        "    x: int\n"
        "def change(v: V, h: RequestHeaders, g: Grant) -> None:\n"
        "    v.x = 2\n"
        "    h.media_type = 'text/plain'\n"
        "    g.sub = 'someone else'\n")
    out, _, status = api.run(["--strict", "--no-incremental", "--follow-imports=silent",
                              "--cache-dir", str(tmp_path / "cache"), str(snippet)])
    assert status == 1, out
    for name, owner in (("x", "V"), ("media_type", "RequestHeaders"), ("sub", "Grant")):
        assert f'Property "{name}" defined in "{owner}" is read-only' in out, out
    assert "Found 3 errors" in out, out
