"""Compact JWS (RFC 7515) signing and signature checking for ES256 and RS256, straight on `cryptography`.

PyJWT validates base64url input one character at a time in Python and serialises JSON with the
standard library; on the token and introspection endpoints that cost more than the signature itself.
This module does the same work with C-implemented pieces (a compiled regular expression, binascii,
orjson) and is deliberately small: two algorithms, fixed key types, no header-supplied keys. The
claim checks (issuer, times, audience, required claims) stay in keyring.py.
"""

from __future__ import annotations

import binascii
import re
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

_SEGMENT = re.compile(rb"[A-Za-z0-9_-]*")
_SHA256 = hashes.SHA256()
_ECDSA = ec.ECDSA(_SHA256)
_PKCS1 = padding.PKCS1v15()
ES256_SIG_BYTES = 64


class MalformedJws(ValueError):
    """The token is not a compact JWS this module accepts; the message is for the log only."""


def b64url(data: bytes) -> bytes:
    return binascii.b2a_base64(data, newline=False).translate(_TO_URL).rstrip(b"=")


def b64url_decode(segment: bytes) -> bytes:
    if _SEGMENT.fullmatch(segment) is None or len(segment) % 4 == 1:
        raise MalformedJws("not base64url")
    try:
        return binascii.a2b_base64(segment.translate(_TO_STD) + b"=" * (-len(segment) % 4), strict_mode=True)
    except binascii.Error as exc:
        raise MalformedJws("not base64url") from exc


_TO_STD = bytes.maketrans(b"-_", b"+/")
_TO_URL = bytes.maketrans(b"+/", b"-_")


def encoded_header(alg: str, kid: str, typ: str) -> bytes:
    """The first segment of every token signed with this key and type (computed once per key)."""
    return b64url(orjson.dumps({"alg": alg, "kid": kid, "typ": typ}))


def sign(header_segment: bytes, claims: dict[str, Any], private: Any, alg: str) -> str:
    signing_input = header_segment + b"." + b64url(orjson.dumps(claims))
    if alg == "ES256":
        r, s = decode_dss_signature(private.sign(signing_input, _ECDSA))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    elif alg == "RS256":
        signature = private.sign(signing_input, _PKCS1, _SHA256)
    else:
        raise ValueError(f"unsupported signing algorithm {alg}")
    return (signing_input + b"." + b64url(signature)).decode()


def split(token: str) -> tuple[dict[str, Any], bytes, bytes, bytes]:
    """(header, payload bytes, signing input, signature) of a compact JWS; nothing is verified yet."""
    try:
        raw = token.encode("ascii")
    except UnicodeEncodeError as exc:
        raise MalformedJws("non-ASCII token") from exc
    parts = raw.split(b".")
    if len(parts) != 3:
        raise MalformedJws("not three segments")
    header = _json_object(b64url_decode(parts[0]))
    payload = b64url_decode(parts[1])
    return header, payload, parts[0] + b"." + parts[1], b64url_decode(parts[2])


def claims_of(payload: bytes) -> dict[str, Any]:
    return _json_object(payload)


def _json_object(data: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise MalformedJws("not JSON") from exc
    if not isinstance(value, dict):
        raise MalformedJws("not a JSON object")
    return value


def signature_valid(public: Any, alg: str, signing_input: bytes, signature: bytes) -> bool:
    """Check a signature with a key of the expected type for `alg` (anything else is refused)."""
    try:
        if alg == "ES256" and isinstance(public, ec.EllipticCurvePublicKey):
            if len(signature) != ES256_SIG_BYTES or not isinstance(public.curve, ec.SECP256R1):
                return False
            der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
            public.verify(der, signing_input, _ECDSA)
            return True
        if alg == "RS256" and isinstance(public, rsa.RSAPublicKey):
            public.verify(signature, signing_input, _PKCS1, _SHA256)
            return True
    except InvalidSignature:
        return False
    return False
