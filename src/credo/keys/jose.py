"""The one JOSE module: compact JWS signing and verification on PyJWT, with an explicit algorithm allow-list.

Every JWT Credo signs or verifies goes through here (the realm keyring, software statements, signed
registration requests). The rules:

- only the asymmetric algorithms in `ASYMMETRIC_ALGS` exist here, and every verification names its own
  allow-list (a subset); `none` and the HMAC algorithms are never accepted, whatever the token says;
- the key always comes from a key set we own (the realm's keys, or a JWK Set the administrator
  configured), looked up by `kid`; headers that carry or point to key material (`jwk`, `jku`, `x5u`,
  `x5c`) or demand unknown processing (`crit`) are refused, and a key only verifies the algorithm it was
  prepared for;
- header and claims are decoded with a strict JSON decoder (orjson: no `NaN`, `Infinity` or numbers
  that overflow to infinity) and must be JSON objects; the NumericDate claims `exp`, `nbf` and `iat`
  must be integers (no floats, strings or booleans);
- base64url segments are strict: URL-safe alphabet, no padding, no whitespace.

The cryptography (signature creation and checking, key type and curve checks, JWK import and export)
is PyJWT's (`jwt.algorithms`, `jwt.PyJWK`). The compact serialisation around it is done here with
C-implemented pieces (a compiled regular expression, binascii, orjson): PyJWT's own `PyJWS` parses
base64url in a Python loop and re-serialises the header with the standard JSON module on every call,
which costs more than the signature itself on the token and introspection endpoints.
"""

from __future__ import annotations

import binascii
import re
import threading
from collections.abc import Collection, Iterable
from typing import Any

import orjson
from cachetools import LRUCache
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from jwt import PyJWK
from jwt.algorithms import Algorithm, get_default_algorithms
from jwt.exceptions import PyJWTError

from credo.domain.values import value_object

ASYMMETRIC_ALGS = frozenset({"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                             "EdDSA"})
FORBIDDEN_HEADERS = ("jku", "jwk", "x5u", "x5c", "crit")
NUMERIC_DATES = ("exp", "nbf", "iat")
_ALGORITHMS: dict[str, Algorithm] = {name: alg for name, alg in get_default_algorithms().items()
                                     if name in ASYMMETRIC_ALGS}
_SEGMENT = re.compile(rb"[A-Za-z0-9_-]*")
_TO_STD = bytes.maketrans(b"-_", b"+/")
_TO_URL = bytes.maketrans(b"+/", b"-_")

_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
# Public keys imported from JWKs, by (the JWK as canonical JSON, alg): 2,048 keys of a few hundred bytes.
_prepared: LRUCache[tuple[bytes, str], Key] = LRUCache(maxsize=2048)
_prepared_lock = threading.Lock()  # stateless: one object for every ES256 signature


class JoseError(ValueError):
    """A token, key or claim was refused; the message is for the log only."""


@value_object
class Key:
    """A key prepared by PyJWT for exactly one algorithm (type and curve checked)."""

    alg: str
    key: Any
    kid: str | None = None


def prepare(key: Any, alg: str, kid: str | None = None) -> Key:
    """A private or public `cryptography` key, checked to fit `alg`."""
    algorithm = _algorithm(alg)
    try:
        return Key(alg, algorithm.prepare_key(key), kid)
    except (PyJWTError, TypeError, ValueError) as exc:
        raise JoseError(f"key does not fit {alg}: {type(exc).__name__}") from exc


def key_from_jwk(jwk: dict[str, Any], alg: str) -> Key:
    """The public key of a JWK from a key set we trust, for `alg`. Private (`d`) and symmetric (`oct`)
    JWKs and JWKs made for another algorithm are refused. Prepared keys are remembered by the JWK's exact
    content and the algorithm (a key set checked on every request, as a client's for private_key_jwt,
    is imported once)."""
    if "d" in jwk or jwk.get("kty") == "oct" or jwk.get("alg") not in (None, alg):
        raise JoseError("JWK not usable for this algorithm")
    _algorithm(alg)
    try:
        memo = (orjson.dumps(jwk, option=orjson.OPT_SORT_KEYS), alg)
    except TypeError as exc:
        raise JoseError("unusable JWK: not JSON") from exc
    with _prepared_lock:
        known = _prepared.get(memo)
    if known is not None:
        return known
    try:
        parsed = PyJWK(jwk, algorithm=alg)
    except (PyJWTError, TypeError, ValueError, KeyError) as exc:
        raise JoseError(f"unusable JWK: {type(exc).__name__}") from exc
    kid = jwk.get("kid")
    key = prepare(parsed.key, alg, kid if isinstance(kid, str) else None)
    with _prepared_lock:
        _prepared[memo] = key
    return key


def public_jwk(public_key: Any, kid: str, alg: str) -> dict[str, Any]:
    jwk: dict[str, Any] = dict(_algorithm(alg).to_jwk(public_key, as_dict=True))
    jwk.update({"kid": kid, "alg": alg, "use": "sig"})
    return jwk


# --- compact serialisation ----------------------------------------------------------------------


def b64url(data: bytes) -> bytes:
    return binascii.b2a_base64(data, newline=False).translate(_TO_URL).rstrip(b"=")


def b64url_decode(segment: bytes) -> bytes:
    if _SEGMENT.fullmatch(segment) is None or len(segment) % 4 == 1:
        raise JoseError("not base64url")
    try:
        return binascii.a2b_base64(segment.translate(_TO_STD) + b"=" * (-len(segment) % 4), strict_mode=True)
    except binascii.Error as exc:
        raise JoseError("not base64url") from exc


def loads(data: bytes) -> dict[str, Any]:
    """A JSON object, strictly: NaN, Infinity and numbers overflowing to infinity are refused."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise JoseError("not JSON") from exc
    if not isinstance(value, dict):
        raise JoseError("not a JSON object")
    return value


def encoded_header(alg: str, kid: str, typ: str) -> bytes:
    """The first segment of every token signed with this key and type (computed once per key)."""
    _algorithm(alg)
    return b64url(orjson.dumps({"alg": alg, "kid": kid, "typ": typ}))


def sign(header_segment: bytes, claims: dict[str, Any], key: Key) -> str:
    """A compact JWS of `claims` under a header made by `encoded_header` for the same key."""
    signing_input = header_segment + b"." + b64url(orjson.dumps(claims))
    if key.alg == "ES256":  # the access-token default: the raw r||s signature without PyJWT's per-call objects
        r, s = decode_dss_signature(key.key.sign(signing_input, _ECDSA_SHA256))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:
        signature = _algorithm(key.alg).sign(signing_input, key.key)
    return (signing_input + b"." + b64url(signature)).decode()


@value_object
class Compact:
    """A parsed compact JWS whose header passed the checks below; its signature is not checked yet."""

    header: dict[str, Any]
    alg: str
    kid: str | None
    payload: bytes
    signing_input: bytes
    signature: bytes


def split(token: str) -> tuple[dict[str, Any], bytes, bytes, bytes]:
    """A compact JWS's decoded header, payload and signature, and its signing input; JoseError when it is
    not ASCII, not three segments, or a segment does not decode (nothing is checked yet)."""
    try:
        raw = token.encode("ascii")
    except UnicodeEncodeError as exc:
        raise JoseError("malformed token: non-ASCII") from exc
    parts = raw.split(b".")
    if len(parts) != 3:
        raise JoseError("malformed token: not three segments")
    try:
        header = loads(b64url_decode(parts[0]))
        payload, signature = b64url_decode(parts[1]), b64url_decode(parts[2])
    except JoseError as exc:
        raise JoseError(f"malformed token: {exc}") from exc
    return header, payload, signature, parts[0] + b"." + parts[1]


def parse(token: str, algorithms: Collection[str]) -> Compact:
    """Split a compact JWS and check its header: `alg` in `algorithms` (which may hold only asymmetric
    algorithms), a string `kid` if any, no header pointing elsewhere for key material."""
    header, payload, signature, signing_input = split(token)
    for name in FORBIDDEN_HEADERS:
        if name in header:
            raise JoseError(f"forbidden header {name}")
    alg, kid = header.get("alg"), header.get("kid")
    if not isinstance(alg, str) or alg not in algorithms or alg not in _ALGORITHMS:
        raise JoseError(f"algorithm {alg!r} not allowed")
    if kid is not None and not isinstance(kid, str):
        raise JoseError("kid is not a string")
    return Compact(header, alg, kid, payload, signing_input, signature)


def signature_valid(token: Compact, key: Key) -> bool:
    """True if `key` (prepared for the token's algorithm) made the signature."""
    if key.alg != token.alg:
        return False
    return bool(_algorithm(key.alg).verify(token.signing_input, key.key, token.signature))


def claims_of(token: Compact) -> dict[str, Any]:
    """The claims (a strict JSON object) with integer NumericDates; call after `signature_valid`."""
    claims = loads(token.payload)
    check_numeric_dates(claims)
    return claims


def check_numeric_dates(claims: dict[str, Any], names: Iterable[str] = NUMERIC_DATES) -> None:
    """`exp`, `nbf` and `iat`, when present, must be integers (finite by construction); floats, strings
    and booleans are refused, not coerced."""
    for name in names:
        if name in claims and type(claims[name]) is not int:
            raise JoseError(f"{name} is not an integer NumericDate")


# --- verification against a key set we trust -------------------------------------------------------


def verify_with_key_set(token: str, jwks: dict[str, Any], *, algorithms: Collection[str], now: int,
                        require: Iterable[str] = (), audience: str | None = None,
                        nbf_leeway: int = 0) -> dict[str, Any]:
    """The claims of a JWS signed by one of `jwks`'s keys (the one named by `kid`, or any when the token
    names none) with an allowed algorithm, not expired at `now`, with every `require`d claim (not null),
    the `audience` when given, and string `sub` / `jti` when present. JoseError otherwise."""
    parsed = parse(token, algorithms)
    candidates = [k for k in jwks.get("keys", []) if isinstance(k, dict)
                  and (parsed.kid is None or k.get("kid") == parsed.kid)]
    if not candidates:
        raise JoseError("no trusted key matches the kid")
    for data in candidates:
        try:
            key = key_from_jwk(data, parsed.alg)
        except JoseError:
            continue
        if signature_valid(parsed, key):
            break
    else:
        raise JoseError("no trusted key verified the signature")
    claims = claims_of(parsed)
    for name in require:
        if claims.get(name) is None:
            raise JoseError(f"missing claim {name}")
    if "exp" in claims and claims["exp"] <= now:
        raise JoseError("expired")
    if "nbf" in claims and claims["nbf"] > now + nbf_leeway:
        raise JoseError("not yet valid")
    if audience is not None and not audience_matches(claims, audience):
        raise JoseError("wrong audience")
    for name in ("sub", "jti"):
        if name in claims and not isinstance(claims[name], str):
            raise JoseError(f"{name} is not a string")
    return claims


def audience_matches(claims: dict[str, Any], audience: str) -> bool:
    aud = claims.get("aud")
    return aud == audience or (isinstance(aud, list) and audience in aud)


def _algorithm(alg: str) -> Algorithm:
    try:
        return _ALGORITHMS[alg]
    except KeyError:
        raise JoseError(f"algorithm {alg!r} not supported") from None
