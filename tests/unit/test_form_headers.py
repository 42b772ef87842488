"""The form reader's one-pass header scan finds what Starlette's `request.headers` finds."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from credo.http.forms import _content_headers, _media_type

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
]


@pytest.mark.parametrize("headers", HEADERS)
def test_same_as_starlette(headers: list[tuple[bytes, bytes]]) -> None:
    request = Request({"type": "http", "method": "POST", "path": "/", "headers": headers, "query_string": b""})
    assert _content_headers(request) == (_media_type(request), request.headers.get("content-length"))
