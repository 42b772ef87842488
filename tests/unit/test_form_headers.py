"""The edge's one-pass header scan finds what Starlette's `request.headers` finds, and parses the
Authorization header as client authentication did (RFC 6749 §2.3.1 form-decoding of Basic credentials)."""

from __future__ import annotations

import base64

import pytest
from starlette.requests import Request

from credo.http.forms import parse_basic, request_headers
from credo.oauth.credentials import MALFORMED_BASIC, BasicCredentials, BearerToken

HEADERS: list[list[tuple[bytes, bytes]]] = [
    [],
    [(b"content-type", b"application/x-www-form-urlencoded"), (b"content-length", b"12")],
    [(b"content-type", b"Application/X-WWW-Form-Urlencoded ; charset=UTF-8")],
    [(b"content-type", b"application/json"), (b"content-type", b"application/x-www-form-urlencoded")],
    [(b"content-length", b"1"), (b"content-length", b"99999999"), (b"content-type", b"text/plain")],
    [(b"host", b"x"), (b"content-length", b"abc"), (b"authorization", b"Basic eDp5")],
    [(b"content-type", b""), (b"content-length", b"")],
    [(b"content-type", b";"), (b"x-content-type", b"application/x-www-form-urlencoded")],
    [(b"content-type", "application/x-www-form-urlencoded\u00e9".encode("latin-1"))],
    [(b"authorization", b"Bearer abc"), (b"authorization", b"Basic eDp5")],
]


def _request(headers: list[tuple[bytes, bytes]]) -> Request:
    return Request({"type": "http", "method": "POST", "path": "/", "headers": headers, "query_string": b""})


@pytest.mark.parametrize("headers", HEADERS)
def test_same_as_starlette(headers: list[tuple[bytes, bytes]]) -> None:
    request = _request(headers)
    values = request_headers(request.scope)
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    assert (values.media_type, values.content_length) == (media, request.headers.get("content-length"))
    auth = request.headers.get("authorization", "")
    assert (values.basic is not None) == (auth[:6].lower() == "basic ")
    assert (values.bearer is not None) == (auth[:7].lower() == "bearer " and bool(auth[7:].strip()))


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@pytest.mark.parametrize("header, expected", [
    (f"Basic {_b64(b'app:s3cret')}", BasicCredentials("app", "s3cret", "s3cret")),
    (f"basic   {_b64(b'app:s3cret')}  ", BasicCredentials("app", "s3cret", "s3cret")),
    (f"BASIC {_b64(b'my%20app:a+b%2Bc')}", BasicCredentials("my app", "a b+c", "a+b%2Bc")),
    (f"Basic {_b64(b'app:')}", BasicCredentials("app", "", "")),
    (f"Basic {_b64(b'app:x:y')}", BasicCredentials("app", "x:y", "x:y")),
    (f"Basic {_b64(b'no-colon')}", MALFORMED_BASIC),
    ("Basic " + _b64(b"\xff:x"), MALFORMED_BASIC),  # not UTF-8
    ("Basic !!!", MALFORMED_BASIC),
    ("Basic \u00e9\u00e9==", MALFORMED_BASIC),  # not ASCII: malformed, not a server error
    ("Basic ", MALFORMED_BASIC),
    ("Basic", None), ("Basicx", None), ("Bearer x", None), ("", None),
])
def test_basic_credentials(header: str, expected: BasicCredentials | None) -> None:
    values = request_headers(_request([(b"authorization", header.encode("latin-1"))]).scope)
    assert values.basic == expected
    if expected is not None:
        assert parse_basic(header[6:]) == expected


@pytest.mark.parametrize("header, expected", [
    ("Bearer abc", "abc"), ("bearer   abc  ", "abc"), ("BEARER a.b.c", "a.b.c"),
    ("Bearer ", None), ("Bearer    ", None), ("Bearer", None), ("Basic abc", None), ("Bearerabc", None),
])
def test_bearer_token(header: str, expected: str | None) -> None:
    values = request_headers(_request([(b"authorization", header.encode("latin-1"))]).scope)
    assert values.bearer == (BearerToken(expected) if expected is not None else None)
