"""Parse a request once at the edge into frozen typed values: the headers the endpoints read
(`RequestHeaders`: media type, declared length, Basic client credentials, Bearer token, the DPoP proof
and a DPoP access token) and the body
(`Form`, or a JSON object), with the size cap, the content-type check and repeated parameters refused.

Everything here reads the raw ASGI scope and messages; the handlers and the core see only the values.
The one form parser (`parse_form`) also parses query strings.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.types import Scope

from credo.domain.errors import InvalidRequest, OAuthError
from credo.domain.settings import GRANT_TOKEN_EXCHANGE
from credo.domain.values import value_object
from credo.oauth.credentials import BasicCredentials, BearerToken, parse_basic

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


@value_object
class RequestHeaders:
    """The request headers the public endpoints read, parsed once (the first of repeated headers,
    as `request.headers.get` gives it)."""

    media_type: str  # the Content-Type's type/subtype, lower case; "" without one
    content_length: str | None  # as declared (checked against the limit when the body is read)
    basic: BasicCredentials | None  # `Authorization: Basic ...` (RFC 6749 §2.3.1), malformed or not
    bearer: BearerToken | None  # `Authorization: Bearer <non-empty>`
    origin: bool = False  # an `Origin` header came (a browser's fetch): CORS endpoints answer it
    dpop: str | None = None  # the `DPoP` proof header (RFC 9449); "" when empty or repeated (refused later)
    dpop_token: BearerToken | None = None  # `Authorization: DPoP <non-empty>` (a DPoP-bound access token)


@value_object
class Form:
    """An application/x-www-form-urlencoded body (or a query string): every name once (RFC 6749 §3.1)."""

    params: dict[str, str]
    resources: tuple[str, ...] = ()  # every `resource` parameter (RFC 8707 lets it repeat); params has the first


def request_headers(scope: Scope) -> RequestHeaders:
    """One pass over the raw ASGI headers (names are lower case there)."""
    kind = length = authorization = dpop = None
    origin = False
    for name, value in scope["headers"]:
        if name == b"content-type":
            if kind is None:
                kind = value
        elif name == b"content-length":
            if length is None:
                length = value
        elif name == b"authorization" and authorization is None:
            authorization = value
        elif name == b"origin":
            origin = True
        elif name == b"dpop":
            dpop = value if dpop is None else b""  # RFC 9449 §4.3: exactly one DPoP header
    media = kind.decode("latin-1").split(";")[0].strip().lower() if kind is not None else ""
    basic = bearer = dpop_token = None
    if authorization is not None:
        auth = authorization.decode("latin-1")
        scheme = auth[:7].lower()
        if scheme[:6] == "basic ":
            basic = parse_basic(auth[6:])
        elif scheme == "bearer ":
            token = auth[7:].strip()
            bearer = BearerToken(token) if token else None
        elif scheme[:5] == "dpop ":
            token = auth[5:].strip()
            dpop_token = BearerToken(token) if token else None
    declared = length.decode("latin-1") if length is not None else None
    if dpop is None and dpop_token is None:
        return RequestHeaders(media, declared, basic, bearer, origin)
    proof = None if dpop is None else dpop.decode("latin-1").strip()
    return RequestHeaders(media, declared, basic, bearer, origin, proof, dpop_token)


async def read_body(request: Request, headers: RequestHeaders) -> bytes:
    """The body, refused past the server's size limit (413)."""
    declared = headers.content_length
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


def parse_plain(raw: str, resources: list[str] | None = None) -> dict[str, str]:
    """parse_form for a body without escapes ('%' or '+'), the usual case: decoding is the identity,
    so it only splits. Same rules: blank values kept, empty parts skipped, 100 fields at most."""
    if raw.count("&") >= MAX_FIELDS:
        raise InvalidRequest("too many fields", description="The request has too many parameters.")
    params: dict[str, str] = {}
    nul = "\x00" in raw
    for part in raw.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        _put(params, key, value, resources)
        if nul and ("\x00" in key or "\x00" in value):
            raise InvalidRequest("NUL byte", description="A parameter contains a NUL character.")
    return params


def _put(params: dict[str, str], key: str, value: str, resources: list[str] | None) -> None:
    """One parameter into `params`; a repeat is refused (RFC 6749 §3.1) except `resource` when the caller
    collects resources (RFC 8707 §2)."""
    if resources is not None and key == "resource":
        resources.append(value)
        params.setdefault(key, value)
        return
    if key in params:
        raise InvalidRequest(f"repeated {key}", description=f"The '{key}' parameter is repeated.")
    params[key] = value


def _unescape(text: str) -> str:
    return unquote_plus(text, errors="strict") if "%" in text or "+" in text else text


def _pair(part: str) -> tuple[str, str]:
    key, _, value = part.partition("=")
    if "%" in part or "+" in part:
        return _unescape(key), _DECODED.get(value) or _unescape(value)
    return key, value


def parse_form(raw: str, resources: list[str] | None = None) -> dict[str, str]:
    """The parameters of an application/x-www-form-urlencoded text, as `urllib.parse.parse_qsl` reads it
    (blank values kept, empty parts skipped, 100 fields at most), but only the parts with an escape are
    decoded (a token exchange body carries long tokens without escapes next to short escaped URNs).
    Refused, in this order: malformed escapes, too many fields, undecodable bytes, repeats and NULs."""
    if "%" not in raw and "+" not in raw:
        return parse_plain(raw, resources)
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
    return _unique(pairs, nul="\x00" in raw or "%00" in raw, resources=resources)  # only %00 decodes to NUL


async def read_form(request: Request, headers: RequestHeaders) -> Form:
    """The form body of a POST (RFC 6749 §3.2 requires application/x-www-form-urlencoded)."""
    if headers.media_type != FORM:
        raise UnsupportedMediaType("not a form body",
                                   description=f"The request body must be {FORM}.")
    body = await read_body(request, headers)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest("body not UTF-8", description="The request body is not valid UTF-8.") from exc
    resources: list[str] = []
    return Form(parse_form(text, resources), tuple(resources))


async def read_json_object(request: Request, headers: RequestHeaders) -> tuple[dict[str, object], bytes]:
    """A JSON object body (registration); returns the object and the raw bytes."""
    if headers.media_type != "application/json":
        raise UnsupportedMediaType("not JSON", description="The request body must be application/json.")
    body = await read_body(request, headers)
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest("malformed JSON", description="The request body is not valid JSON.") from exc
    if not isinstance(value, dict):
        raise InvalidRequest("JSON not an object", description="The request body must be a JSON object.")
    return value, body


def query_params(scope: Scope) -> Form:
    """The query string, by the same rules as a form body."""
    try:
        text = scope["query_string"].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest("query not UTF-8", description="A parameter is not valid UTF-8 once decoded.") from exc
    resources: list[str] = []
    return Form(parse_form(text, resources), tuple(resources))


def _unique(pairs: list[tuple[str, str]], *, nul: bool = True, resources: list[str] | None = None) -> dict[str, str]:
    """The parameters as a dict; a repeated name (RFC 6749 §3.1) or a NUL character is refused
    (`nul=False`: the caller knows there is none)."""
    params: dict[str, str] = {}
    for key, value in pairs:
        _put(params, key, value, resources)
        if nul and ("\x00" in value or "\x00" in key):
            raise InvalidRequest("NUL byte", description="A parameter contains a NUL character.")
    return params
