"""Validation of client metadata sent to the registration endpoints (RFC 7591 §2).

Every problem raises `InvalidRedirectUri` (redirect URIs) or `InvalidClientMetadata` (everything else)
with a description that names the field. The result is a `Metadata`: the normalized values the
server keeps, with defaults applied.

Fields only an administrator sets (`resources`, `skip_consent`, the agent attributes) are not read here:
sent by a client, they are ignored like any unknown metadata (RFC 7591 §2).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from dataclasses import field
from typing import Any
from urllib.parse import SplitResult, urlsplit

from credo.domain.errors import InvalidClientMetadata, InvalidRedirectUri, InvalidScope
from credo.domain.models import DPOP_BOUND, Realm
from credo.domain.settings import PRIVATE_JWK_MEMBERS, PUBLIC_KTYS, public_client_grant
from credo.domain.values import value_object
from credo.keys.jose import ASYMMETRIC_ALGS
from credo.oauth.scopes import parse_scope

AUTH_METHODS = ("client_secret_post", "client_secret_basic", "none", "private_key_jwt")
DEFAULT_AUTH_METHOD = "client_secret_basic"
RESPONSE_TYPES = ("code", "token")
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
# OpenID Connect Dynamic Client Registration: "web" (the default) or "native" (an app on the user's device).
APPLICATION_TYPES = ("web", "native")
DEFAULT_APPLICATION_TYPE = "web"
# RFC 8252 §7.1: a native app's private-use URI scheme is a domain name it controls, in reverse order
# (com.example.app); a scheme without a dot (http, https, javascript, ftp, myapp) is never one.
PRIVATE_USE_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9-]*(?:\.[A-Za-z0-9-]+)+")
DANGEROUS_SCHEMES = ("javascript", "data", "file", "vbscript")
MIN_RSA_BITS = 2048

# Client-supplied strings kept verbatim (never fetched): URLs, names, contacts, software identity.
URL_FIELDS = ("client_uri", "logo_uri", "policy_uri", "tos_uri")
TEXT_FIELDS = ("software_id", "software_version")
# Values only the server sets: ignored when a client sends them.
SERVER_MANAGED = ("client_secret", "registration_access_token", "registration_client_uri",
                  "client_id_issued_at", "client_secret_expires_at", "registration_access_token_expires_in")
MAX_ITEMS = 50
MAX_STRING = 2000
MAX_JWK_DEPTH = 3  # a key object, its members, one more level (x5c's array of strings)
MAX_JWK_STRING = 16384  # an RSA modulus of 8192 bits is 1,366 characters; a certificate chain entry a few KB


@value_object
class Metadata:
    """Normalized registration metadata."""

    client_name: str
    grant_types: tuple[str, ...]
    response_types: tuple[str, ...]
    redirect_uris: tuple[str, ...]
    scopes: tuple[str, ...]
    auth_method: str
    extra: dict[str, Any] = field(default_factory=dict)  # URL fields, contacts, jwks, software identity
    application_type: str = DEFAULT_APPLICATION_TYPE
    post_logout_redirect_uris: tuple[str, ...] = ()

    @property
    def redirect_hosts(self) -> tuple[str, ...]:
        return uri_hosts(self.redirect_uris)


def uri_hosts(uris: tuple[str, ...]) -> tuple[str, ...]:
    """The host of each (validated) URI; `scheme:` for a native app's private-use scheme URI, which has
    no host."""
    return tuple(_host(urlsplit(u)) for u in uris)


def _host(parts: SplitResult) -> str:
    return parts.hostname or f"{parts.scheme}:"


def validate_metadata(body: dict[str, Any], realm: Realm) -> Metadata:
    grant_types = _grant_types(body, realm)
    response_types = _response_types(body, grant_types)
    auth_method = _auth_method(body, grant_types)
    application_type = _application_type(body)
    redirect_uris = _redirect_uris(body, grant_types, application_type)
    logout_uris = _post_logout_redirect_uris(body, application_type)
    scopes = _scopes(body, realm)
    extra = {**_url_fields(body), **_text_fields(body), **_contacts(body), **_keys(body), **_dpop(body),
             **key_auth_fields(body, auth_method)}
    name = body.get("client_name", "")
    if not isinstance(name, str) or len(name) > 255:
        raise InvalidClientMetadata("bad client_name", description="client_name: must be a string of at most 255 characters.")
    return Metadata(client_name=name, grant_types=grant_types, response_types=response_types,
                    redirect_uris=redirect_uris, scopes=scopes, auth_method=auth_method, extra=extra,
                    application_type=application_type, post_logout_redirect_uris=logout_uris)


def _dpop(body: dict[str, Any]) -> dict[str, Any]:
    """RFC 9449 §5.2 `dpop_bound_access_tokens`: a boolean; kept only when true (false is the default)."""
    value = body.get(DPOP_BOUND)
    if value is None:
        return {}
    if not isinstance(value, bool):
        raise _bad(DPOP_BOUND, "must be true or false")
    return {DPOP_BOUND: True} if value else {}


def _bad(fieldname: str, problem: str) -> InvalidClientMetadata:
    return InvalidClientMetadata(f"{fieldname}: {problem}", description=f"{fieldname}: {problem}.")


def _string_list(body: dict[str, Any], name: str) -> tuple[str, ...] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and 0 < len(v) <= MAX_STRING for v in value):
        raise _bad(name, "must be an array of non-empty strings")
    if len(value) > MAX_ITEMS:
        raise _bad(name, f"at most {MAX_ITEMS} values")
    return tuple(dict.fromkeys(value))


def _grant_types(body: dict[str, Any], realm: Realm) -> tuple[str, ...]:
    grants = _string_list(body, "grant_types")
    if grants is None or not grants:
        grants = ("client_credentials",)
    disabled = [g for g in grants if g not in realm.settings.grant_types]
    if disabled:
        raise _bad("grant_types", f"not enabled in this realm: {' '.join(disabled)}")
    return grants


def _response_types(body: dict[str, Any], grants: tuple[str, ...]) -> tuple[str, ...]:
    given = _string_list(body, "response_types")
    if given is None:
        given = tuple(r for g, r in (("authorization_code", "code"), ("implicit", "token")) if g in grants)
    unknown = [r for r in given if r not in RESPONSE_TYPES]
    if unknown:
        raise _bad("response_types", f"unsupported {' '.join(unknown)}")
    if ("code" in given) != ("authorization_code" in grants):
        raise _bad("response_types", "'code' goes with the authorization_code grant type and only with it")
    if "implicit" in grants and "token" not in given:
        raise _bad("response_types", "the implicit grant type needs the 'token' response type")
    return given


def _auth_method(body: dict[str, Any], grants: tuple[str, ...]) -> str:
    method = body.get("token_endpoint_auth_method", DEFAULT_AUTH_METHOD)
    if method not in AUTH_METHODS:
        raise _bad("token_endpoint_auth_method", f"must be one of {', '.join(AUTH_METHODS)}")
    refused = public_client_grant(str(method), grants)
    if refused is not None:
        default = "" if "grant_types" in body else " (the default grant_types)"
        raise _bad("token_endpoint_auth_method", f"'none' (a public client) cannot use the {refused} grant{default}")
    return str(method)


def _application_type(body: dict[str, Any]) -> str:
    value = body.get("application_type")
    if value is None:
        return DEFAULT_APPLICATION_TYPE
    if value not in APPLICATION_TYPES:
        raise _bad("application_type", "must be 'web' or 'native'")
    return str(value)


def _redirect_uris(body: dict[str, Any], grants: tuple[str, ...], application_type: str) -> tuple[str, ...]:
    value = body.get("redirect_uris")
    if value is None:
        value = []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidRedirectUri("redirect_uris not a string array",
                                 description="redirect_uris: must be an array of strings.")
    if len(value) > MAX_ITEMS:
        raise InvalidRedirectUri("too many redirect URIs", description=f"redirect_uris: at most {MAX_ITEMS} values.")
    if not value and ("authorization_code" in grants or "implicit" in grants):
        raise InvalidRedirectUri("no redirect URI", description="redirect_uris: required for redirect-based grant types.")
    for uri in value:
        problem = redirect_uri_problem(uri, application_type)
        if problem:
            raise InvalidRedirectUri(f"redirect URI refused: {problem}",
                                     description=f"redirect_uris: {problem}.")
    return tuple(dict.fromkeys(value))


def _post_logout_redirect_uris(body: dict[str, Any], application_type: str) -> tuple[str, ...]:
    """OpenID Connect RP-initiated logout: where the client may be sent back after signing out; the same
    rules as redirect URIs (the error is `invalid_client_metadata`: `invalid_redirect_uri` is about
    `redirect_uris`)."""
    uris = _string_list(body, "post_logout_redirect_uris") or ()
    for uri in uris:
        problem = redirect_uri_problem(uri, application_type)
        if problem:
            raise _bad("post_logout_redirect_uris", problem)
    return uris


_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f\\]")


def redirect_uri_problem(uri: str, application_type: str = DEFAULT_APPLICATION_TYPE) -> str | None:
    """Why `uri` cannot be a redirect URI of a client of `application_type`, or None if it can: https, or
    http on a loopback host; for a native app also a private-use scheme (RFC 8252 §7.1)."""
    problem = _text_problem(uri)
    if problem:
        return problem
    scheme = uri.split(":", 1)[0] if ":" in uri else ""
    if PRIVATE_USE_SCHEME.fullmatch(scheme):
        return _private_use_problem(uri, scheme, application_type)
    return _url_problem(uri)


def _text_problem(uri: str) -> str | None:
    """What no redirect URI may hold, whatever its scheme."""
    if not uri or len(uri) > MAX_STRING:
        return "a redirect URI must be a non-empty string of at most 2000 characters"
    scheme = uri.split(":", 1)[0].strip().lower() if ":" in uri else ""
    if scheme in DANGEROUS_SCHEMES:
        return f"the '{scheme}:' scheme is not allowed"
    if _CONTROL_OR_SPACE.search(uri):
        return "a redirect URI must not contain whitespace, control characters or backslashes"
    if "*" in uri:
        return "wildcards are not allowed"
    if "#" in uri:
        return "a redirect URI must not contain a fragment"
    return None


def _private_use_problem(uri: str, scheme: str, application_type: str) -> str | None:
    """A private-use scheme URI (com.example.app:/callback): native apps only, with no authority (one
    slash after the colon, RFC 8252 §7.1)."""
    if application_type != "native":
        return f"the private-use scheme '{scheme}:' is allowed only for native applications (application_type native)"
    rest = uri[len(scheme) + 1:]
    if not rest.startswith("/") or rest.startswith("//"):
        return f"a private-use scheme URI has a path after a single slash, as in {scheme}:/callback"
    return None


def _url_problem(uri: str) -> str | None:
    """An absolute https URL, or http on a loopback host."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return "a redirect URI must be an absolute URL"
    del port
    if not parts.scheme or not parts.netloc or not parts.hostname:
        return "a redirect URI must be an absolute URL"
    if "@" in parts.netloc:
        return "a redirect URI must not contain user information"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http":
        return None if is_loopback_host(parts.hostname) else "plain http is allowed only for loopback hosts"
    return "only https URLs, or http on a loopback host, are allowed"


def is_loopback_host(host: str) -> bool:
    """Exactly 127.0.0.1, ::1 or localhost: never a name that merely starts with one of them."""
    if host.lower() in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host) == ipaddress.ip_address("127.0.0.1")
    except ValueError:
        return False


def _scopes(body: dict[str, Any], realm: Realm) -> tuple[str, ...]:
    from_array = _string_list(body, "scopes")
    raw = body.get("scope")
    if raw is not None and not isinstance(raw, str):
        raise _bad("scope", "must be a space-separated string")
    from_string = _parse(raw, "scope") if raw is not None else None
    if from_array is not None:
        for item in from_array:
            if _parse(item, "scopes") != (item,):
                raise _bad("scopes", "every item must be one scope")
    if from_array is not None and from_string is not None and set(from_array) != set(from_string):
        raise _bad("scope", "'scope' and 'scopes' name different scopes")
    scopes = from_array if from_array is not None else (from_string or ())
    outside = [s for s in scopes if s not in realm.settings.registration_scope_allowlist]
    if outside:
        raise _bad("scope", f"not in the realm's registration allowlist: {' '.join(outside)}")
    return tuple(scopes)


def _parse(value: str, name: str) -> tuple[str, ...]:
    try:
        return parse_scope(value)
    except InvalidScope as exc:
        raise _bad(name, "contains invalid characters") from exc


def _url_fields(body: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in URL_FIELDS:
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or len(value) > MAX_STRING:
            raise _bad(name, "must be a URL string")
        parts = _split(value)
        if parts is None or parts.scheme not in ("https", "http") or not parts.netloc:
            raise _bad(name, "must be an absolute http(s) URL")
        out[name] = value
    return out


def _split(value: str) -> SplitResult | None:
    try:
        return urlsplit(value)
    except ValueError:
        return None


def _text_fields(body: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or len(value) > 255:
            raise _bad(name, "must be a string of at most 255 characters")
        out[name] = value
    return out


def _contacts(body: dict[str, Any]) -> dict[str, Any]:
    contacts = _string_list(body, "contacts")
    return {} if contacts is None else {"contacts": list(contacts)}


def _keys(body: dict[str, Any]) -> dict[str, Any]:
    jwks, jwks_uri = body.get("jwks"), body.get("jwks_uri")
    if jwks is not None and jwks_uri is not None:
        raise _bad("jwks", "'jwks' and 'jwks_uri' cannot both be given")
    if jwks_uri is not None:
        parts = _split(jwks_uri) if isinstance(jwks_uri, str) and len(jwks_uri) <= MAX_STRING else None
        if parts is None or parts.scheme != "https" or not parts.netloc:
            raise _bad("jwks_uri", "must be an absolute https URL")
        return {"jwks_uri": jwks_uri}
    if jwks is None:
        return {}
    check_public_jwks(jwks, "jwks")
    return {"jwks": jwks}


def key_metadata(body: dict[str, Any], auth_method: str) -> dict[str, Any]:
    """The stored key metadata (`jwks` or `jwks_uri`, `token_endpoint_auth_signing_alg`) of `body`, checked
    as registration checks it: for administrators' clients (console, admin API, CLI, import) too."""
    return {**_keys(body), **key_auth_fields(body, auth_method)}


def key_auth_fields(body: dict[str, Any], auth_method: str) -> dict[str, Any]:
    """private_key_jwt (RFC 7523 §2.2): the client's keys are required (`jwks` or `jwks_uri`, checked by
    `_keys`); `token_endpoint_auth_signing_alg`, when given, is one asymmetric algorithm."""
    alg = body.get("token_endpoint_auth_signing_alg")
    if alg is not None and (not isinstance(alg, str) or alg not in ASYMMETRIC_ALGS):
        raise _bad("token_endpoint_auth_signing_alg", f"must be one of {', '.join(sorted(ASYMMETRIC_ALGS))}")
    if auth_method == "private_key_jwt" and body.get("jwks") is None and body.get("jwks_uri") is None:
        raise _bad("token_endpoint_auth_method", "'private_key_jwt' needs the client's public keys in 'jwks' or "
                                                 "'jwks_uri'")
    return {} if alg is None else {"token_endpoint_auth_signing_alg": alg}


def check_public_jwks(jwks: Any, name: str) -> None:
    """A JWK Set holding only public asymmetric keys (RSA of at least 2048 bits, EC, OKP)."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list) or not jwks["keys"]:
        raise _bad(name, "must be a JWK Set object with a non-empty 'keys' array")
    if len(jwks["keys"]) > MAX_ITEMS:
        raise _bad(name, f"at most {MAX_ITEMS} keys")
    for key in jwks["keys"]:
        if not isinstance(key, dict):
            raise _bad(name, "every key must be a JSON object")
        if not _within_bounds(key, MAX_JWK_DEPTH):
            raise _bad(name, f"a key may nest at most {MAX_JWK_DEPTH} levels and hold at most {MAX_ITEMS} members "
                             f"and {MAX_JWK_STRING} characters per value")
        if key.get("kty") not in PUBLIC_KTYS:
            raise _bad(name, "only RSA, EC and OKP public keys are allowed")
        if any(m in key for m in PRIVATE_JWK_MEMBERS):
            raise _bad(name, "private key material is not allowed")
        if key["kty"] == "RSA" and _rsa_bits(key.get("n")) < MIN_RSA_BITS:
            raise _bad(name, f"RSA keys need at least {MIN_RSA_BITS} bits")


def _within_bounds(value: Any, depth: int) -> bool:
    """A JSON value no deeper than `depth`, with at most MAX_ITEMS members per object or array and
    MAX_JWK_STRING characters per string: stored verbatim, it must fit every backend (a value nested
    hundreds of levels deep is refused here, before it reaches a batch)."""
    if isinstance(value, str):
        return len(value) <= MAX_JWK_STRING
    if isinstance(value, (dict, list)):
        items = list(value.items()) if isinstance(value, dict) else [("", v) for v in value]
        return depth > 0 and len(items) <= MAX_ITEMS and all(
            len(k) <= MAX_STRING and _within_bounds(v, depth - 1) for k, v in items)
    return value is None or isinstance(value, (bool, int, float))


def _rsa_bits(n: Any) -> int:
    if not isinstance(n, str):
        return 0
    try:
        raw = base64.urlsafe_b64decode(n + "=" * (-len(n) % 4))
    except (binascii.Error, ValueError):
        return 0
    return int.from_bytes(raw, "big").bit_length()
