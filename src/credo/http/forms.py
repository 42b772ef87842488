"""Parse a request once at the edge: size cap, content type, repeated parameters refused."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote_plus

import orjson
from starlette.requests import ClientDisconnect, Request

from credo.domain.errors import InvalidRequest, OAuthError
from credo.domain.settings import GRANT_TOKEN_EXCHANGE

FORM = "application/x-www-form-urlencoded"
MAX_FIELDS = 100
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
# The URNs of a token exchange, as form encoders send them (`:` as %3A or %3a), decoded once: every
# exchange body carries two or three of them, and unquote_plus is the larger part of parsing one.
_URNS = (GRANT_TOKEN_EXCHANGE, *(f"urn:ietf:params:oauth:token-type:{kind}"
                                 for kind in ("access_token", "jwt", "refresh_token", "id_token")))
_DECODED = {urn.replace(":", escape): urn for urn in _URNS for escape in ("%3A", "%3a")}


class PayloadTooLarge(OAuthError):
    error = "invalid_request"
    status = 413
    public_description = "The request body is too large."


class UnsupportedMediaType(OAuthError):
    error = "invalid_request"
    status = 415
    public_description = "The request body has an unsupported content type."


async def read_body(request: Request) -> bytes:
    return await _read_body(request, request.headers.get("content-length"))


async def _read_body(request: Request, declared: str | None) -> bytes:
    limit: int = request.app.state.max_body_bytes
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise PayloadTooLarge(f"declared body size {declared}")
    chunks: list[bytes] = []
    size = 0
    while True:  # the ASGI messages directly: Request.stream() is an async generator, slower per call
        message = await request.receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge("body over the limit")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    request._body = body  # what Request.body() would cache, so a later body() call does not wait
    return body


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _content_headers(request: Request) -> tuple[str, str | None]:
    """The media type and the declared length, as `_media_type` and `request.headers` give them (the
    first of repeated headers), in one pass over the raw ASGI headers (names are lower case there)."""
    kind = length = None
    for name, value in request.scope["headers"]:
        if name == b"content-type":
            if kind is None:
                kind = value
        elif name == b"content-length" and length is None:
            length = value
    media = kind.decode("latin-1").split(";")[0].strip().lower() if kind is not None else ""
    return media, length.decode("latin-1") if length is not None else None


def parse_pairs(raw: str) -> dict[str, str]:
    if _BAD_PERCENT.search(raw):
        raise InvalidRequest("malformed percent-encoding",
                             description="The request contains malformed percent-encoding.")
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, strict_parsing=False, max_num_fields=100, errors="strict")
    except UnicodeDecodeError as exc:
        raise InvalidRequest("percent-encoded bytes not UTF-8",
                             description="A parameter is not valid UTF-8 once decoded.") from exc
    except ValueError as exc:
        raise InvalidRequest("too many fields", description="The request has too many parameters.") from exc
    return _unique(pairs)


def parse_plain(raw: str) -> dict[str, str]:
    """parse_pairs for a body without escapes ('%' or '+'), the usual case: decoding is the identity,
    so it only splits. Same rules: blank values kept, empty parts skipped, 100 fields at most."""
    if raw.count("&") >= MAX_FIELDS:
        raise InvalidRequest("too many fields", description="The request has too many parameters.")
    params: dict[str, str] = {}
    nul = "\x00" in raw
    for part in raw.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        if key in params:
            raise InvalidRequest(f"repeated {key}", description=f"The '{key}' parameter is repeated.")
        if nul and ("\x00" in key or "\x00" in value):
            raise InvalidRequest("NUL byte", description="A parameter contains a NUL character.")
        params[key] = value
    return params


def _unescape(text: str) -> str:
    return unquote_plus(text, errors="strict") if "%" in text or "+" in text else text


def _pair(part: str) -> tuple[str, str]:
    key, _, value = part.partition("=")
    if "%" in part or "+" in part:
        return _unescape(key), _DECODED.get(value) or _unescape(value)
    return key, value


def parse_form(raw: str) -> dict[str, str]:
    """parse_pairs without parse_qsl: only the parts with an escape are decoded (a token exchange body
    carries long tokens without escapes next to short escaped URNs). Same rules and same errors, in
    the same order: malformed escapes, too many fields, undecodable bytes, repeats and NULs."""
    if "%" not in raw and "+" not in raw:
        return parse_plain(raw)
    if _BAD_PERCENT.search(raw):
        raise InvalidRequest("malformed percent-encoding",
                             description="The request contains malformed percent-encoding.")
    if raw.count("&") >= MAX_FIELDS:
        raise InvalidRequest("too many fields", description="The request has too many parameters.")
    try:
        pairs = [_pair(part) for part in raw.split("&") if part]
    except UnicodeDecodeError as exc:
        raise InvalidRequest("percent-encoded bytes not UTF-8",
                             description="A parameter is not valid UTF-8 once decoded.") from exc
    return _unique(pairs, nul="\x00" in raw or "%00" in raw)  # only %00 decodes to NUL


async def read_form(request: Request) -> dict[str, str]:
    """The form body of a POST (RFC 6749 §3.2 requires application/x-www-form-urlencoded)."""
    media_type, declared = _content_headers(request)
    if media_type != FORM:
        raise UnsupportedMediaType("not a form body",
                                   description=f"The request body must be {FORM}.")
    body = await _read_body(request, declared)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest("body not UTF-8", description="The request body is not valid UTF-8.") from exc
    return parse_form(text)


async def read_json_object(request: Request) -> tuple[dict[str, object], bytes]:
    """A JSON object body (registration); returns the object and the raw bytes."""
    if _media_type(request) != "application/json":
        raise UnsupportedMediaType("not JSON", description="The request body must be application/json.")
    body = await read_body(request)
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest("malformed JSON", description="The request body is not valid JSON.") from exc
    if not isinstance(value, dict):
        raise InvalidRequest("JSON not an object", description="The request body must be a JSON object.")
    return value, body


def query_params(request: Request) -> dict[str, str]:
    return parse_pairs(request.url.query)


def _unique(pairs: list[tuple[str, str]], *, nul: bool = True) -> dict[str, str]:
    """The parameters as a dict; a repeated name (RFC 6749 §3.1) or a NUL character is refused
    (`nul=False`: the caller knows there is none)."""
    params: dict[str, str] = {}
    for key, value in pairs:
        if key in params:
            raise InvalidRequest(f"repeated {key}", description=f"The '{key}' parameter is repeated.")
        if nul and ("\x00" in value or "\x00" in key):
            raise InvalidRequest("NUL byte", description="A parameter contains a NUL character.")
        params[key] = value
    return params
