"""The one form parser (and its escape-free splitter) gives exactly what parse_qsl with the same rules gives,
errors included."""

from __future__ import annotations

import random
import re
from urllib.parse import parse_qsl

import pytest

from credo.domain.errors import InvalidRequest
from credo.http.forms import parse_form, parse_plain


def parse_pairs(raw: str) -> dict[str, str]:
    """The reference: the rules on top of the standard library's parse_qsl (what the server used before
    its own splitter), with the same errors."""
    if re.search(r"%(?![0-9A-Fa-f]{2})", raw):
        raise InvalidRequest("malformed percent-encoding",
                             description="The request contains malformed percent-encoding.")
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, strict_parsing=False, max_num_fields=100, errors="strict")
    except UnicodeDecodeError as exc:
        raise InvalidRequest("percent-encoded bytes not UTF-8",
                             description="A parameter is not valid UTF-8 once decoded.") from exc
    except ValueError as exc:
        raise InvalidRequest("too many fields", description="The request has too many parameters.") from exc
    params: dict[str, str] = {}
    for key, value in pairs:
        if key in params:
            raise InvalidRequest(f"repeated {key}", description=f"The '{key}' parameter is repeated.")
        if "\x00" in value or "\x00" in key:
            raise InvalidRequest("NUL byte", description="A parameter contains a NUL character.")
        params[key] = value
    return params

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


ESCAPED = ["a=%41&b=+", "a%3D=1", "a=1&a%3D=2", "a=%41&a=A", "a=%ff", "a=1&a=1&b=%ff", "a=%00", "%00=1", "a=%4", "a=%zz&b=1",
           "a=%2B+%20", "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=x.y.z",
           "&".join(f"k{i}=%41" for i in range(100)), "&".join(f"k{i}=%41" for i in range(101)), "%C3%A9=%E2%82%AC",
           "grant_type=urn%3aietf%3aparams%3aoauth%3agrant-type%3atoken-exchange&subject_token_type="
           "urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt&subject_token=a.b.c&requested_token_type="
           "urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Arefresh_token&actor_token_type="
           "urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aid_token&x=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token",
           "urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt=1&a=%00urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt",
           "a=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt&a=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt",
           "a=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt&b=%ff", "a=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3AJWT"]


@pytest.mark.parametrize("raw", CASES + ESCAPED)
def test_escaped_parser_same_result_as_the_general_parser(raw: str) -> None:
    assert _outcome(parse_form, raw) == _outcome(parse_pairs, raw)


def test_escaped_parser_same_result_on_random_bodies() -> None:
    rng = random.Random(2)
    alphabet = ["a", "b", "=", "&", "+", "%", "%41", "%3D", "%26", "%00", "%ff", "%C3", "%A9", "%2", "\x00", "~",
                "urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt", "urn%3aietf%3aparams%3aoauth%3agrant-type%3atoken-exchange",
                "%30", "0"]
    for _ in range(5000):
        raw = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 10)))
        assert _outcome(parse_form, raw) == _outcome(parse_pairs, raw), raw
