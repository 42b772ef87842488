"""The target of a token exchange: exactly one application, named by `audience` and/or `resource`."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from credo.domain.errors import InvalidTarget
from credo.oauth.exchange_policy import choose_target

CASES = [
    (("app", None, True), "app"),
    ((" app\t", None, True), "app"),
    ((None, "app", True), "app"),
    (("app", "app", True), "app"),
    (("app", " app ", True), "app"),
    ((None, None, True), "invalid_target: no audience"),
    (("app", None, False), "invalid_target: agent does not accept audience parameters"),
    ((None, "app", False), "invalid_target: agent does not accept audience parameters"),
    (("app other", None, True), "invalid_target: not exactly one target"),
    (("", None, True), "invalid_target: not exactly one target"),
    ((" ", None, True), "invalid_target: not exactly one target"),
    (("app", "other", True), "invalid_target: not exactly one target"),
    (("app", "app other", True), "invalid_target: not exactly one target"),
]


def _outcome(audience: str | None, resource: str | None, accepts: bool) -> str:
    try:
        return choose_target(audience, resource, accepts)
    except InvalidTarget as exc:
        return f"{exc.error}: {exc.detail}"


@pytest.mark.parametrize(("args", "expected"), CASES)
def test_cases(args: tuple[str | None, str | None, bool], expected: str) -> None:
    assert _outcome(*args) == expected


def _reference(audience: str | None, resource: str | None, accepts: bool) -> str:
    """The rule stated independently: one non-blank, single-word name, the same in both parameters."""
    given_ = [v for v in (audience, resource) if v is not None]
    if not given_:
        return "invalid_target: no audience"
    if not accepts:
        return "invalid_target: agent does not accept audience parameters"
    words = [v.split() for v in given_]
    if any(len(w) != 1 for w in words) or len({w[0] for w in words}) != 1:
        return "invalid_target: not exactly one target"
    return words[0][0]


names = st.one_of(st.none(), st.text(alphabet=st.sampled_from("ab \t\n\u00a0\u2003"), max_size=5))


@given(names, names, st.booleans())
def test_same_as_the_stated_rule(audience: str | None, resource: str | None, accepts: bool) -> None:
    assert _outcome(audience, resource, accepts) == _reference(audience, resource, accepts)
