"""The escape-free form splitter gives exactly what the general parser gives, errors included."""

from __future__ import annotations

import random

import pytest

from credo.domain.errors import InvalidRequest
from credo.http.forms import parse_pairs, parse_plain

CASES = ["a=1&b=2", "a&b=", "&&a=1&", "a==b", "", "=x", "a=1&a=2", "x=\x00", "\x00=1", "a=1&&a=2",
         "grant_type=client_credentials&client_id=c&client_secret=s-_.~x&scope=data-read",
         "&".join(f"k{i}=v" for i in range(100)), "&".join(f"k{i}=v" for i in range(101)), "&" * 99, "&" * 100]


def _outcome(parse: object, raw: str) -> object:
    try:
        return parse(raw)  # type: ignore[operator]
    except InvalidRequest as exc:
        return ("invalid_request", exc.description)


@pytest.mark.parametrize("raw", CASES)
def test_same_result_as_the_general_parser(raw: str) -> None:
    assert _outcome(parse_plain, raw) == _outcome(parse_pairs, raw)


def test_same_result_on_random_escape_free_bodies() -> None:
    rng = random.Random(1)
    alphabet = "ab=&_-.~\x00"
    for _ in range(3000):
        raw = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        assert _outcome(parse_plain, raw) == _outcome(parse_pairs, raw), raw


def test_field_limit() -> None:
    assert len(parse_plain("&".join(f"k{i}=v" for i in range(100)))) == 100
    with pytest.raises(InvalidRequest):
        parse_plain("&".join(f"k{i}=v" for i in range(101)))
