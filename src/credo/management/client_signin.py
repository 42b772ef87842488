"""The browser sign-in fields of an administrator's client (one place for their rules, whatever the
surface): redirect URIs, post-logout redirect URIs, RFC 8707 resource identifiers, the OIDC
`application_type` and `skip_consent`.

A URL here is absolute https, or http on a loopback host (localhost, 127.0.0.0/8, [::1]), without a
fragment or user credentials. A native application may also use a private-use URI scheme (RFC 8252
§7.1, a reverse domain name such as `com.example.app:/callback`) for its redirect URIs. A resource
identifier belongs to at most one client of a realm.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from credo.domain.errors import InvalidRequest
from credo.domain.models import Client
from credo.storage.protocols import ClientRepository

APPLICATION_TYPES = ("web", "native")
URI_FIELDS = ("redirect_uris", "post_logout_redirect_uris", "resources")
SIGNIN_FIELDS = (*URI_FIELDS, "application_type", "skip_consent")
MAX_URIS = 100
MAX_URI_LENGTH = 2048
LOOPBACK_NAMES = ("localhost",)
HTTP_RULE = "must be an absolute https URL (http only on a loopback host: localhost, 127.0.0.1, [::1])"


def _loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _private_scheme(scheme: str) -> bool:
    """A private-use URI scheme (RFC 8252 §7.1): a reverse domain name, so it holds a period."""
    return "." in scheme and scheme not in ("http", "https")


def uri_problem(uri: str, *, private_scheme: bool = False) -> str | None:
    """What is wrong with `uri` as a redirect URI or resource identifier, or None."""
    if len(uri) > MAX_URI_LENGTH:
        return f"is longer than {MAX_URI_LENGTH} characters"
    if not uri or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in uri):
        return "must be a URL without spaces or control characters"
    if "#" in uri:
        return "must not have a fragment (#...)"
    try:
        parts = urlsplit(uri)
        host, user = parts.hostname, parts.username
    except ValueError:
        return "is not a valid URL"
    scheme = parts.scheme.lower()
    if private_scheme and _private_scheme(scheme):
        return None
    if scheme not in ("https", "http") or not host:
        return HTTP_RULE
    if user is not None:
        return "must not contain user credentials"
    if scheme == "http" and not _loopback(host):
        return HTTP_RULE
    return None


def check_uris(field: str, uris: Any, *, native: bool = False) -> tuple[str, ...]:
    """A list of URLs for `field` (duplicates dropped, order kept); the description names the field."""
    if not isinstance(uris, (list, tuple)) or not all(isinstance(u, str) for u in uris):
        raise InvalidRequest(f"bad {field}", description=f"{field}: must be a list of URLs.")
    if len(uris) > MAX_URIS:
        raise InvalidRequest(f"too many {field}", description=f"{field}: at most {MAX_URIS} URLs.")
    private = native and field != "resources"
    for uri in uris:
        problem = uri_problem(uri, private_scheme=private)
        if problem is not None:
            shown = uri if len(uri) <= 80 else uri[:80] + "..."
            raise InvalidRequest(f"bad {field}", description=f"{field}: '{shown}' {problem}.")
    return tuple(dict.fromkeys(uris))


def check_application_type(value: Any) -> str:
    if value not in APPLICATION_TYPES:
        raise InvalidRequest("application type", description="application_type: must be 'web' or 'native'.")
    return str(value)


def check_signin_fields(fields: dict[str, Any], current: Client | None = None) -> dict[str, Any]:
    """`fields` with its sign-in members checked and normalized (tuples; other members unchanged). The
    URIs are checked when they or the application type change (a native client's redirect URIs may use a
    private-use scheme), against the application type the client will have."""
    out = dict(fields)
    if "skip_consent" in out and not isinstance(out["skip_consent"], bool):
        raise InvalidRequest("skip_consent", description="skip_consent: must be true or false.")
    if "application_type" in out:
        out["application_type"] = check_application_type(out["application_type"])
    app_type = out.get("application_type", current.application_type if current is not None else "web")
    for field in URI_FIELDS:
        retype = field != "resources" and "application_type" in out and current is not None
        if field in out or retype:
            value = out[field] if field in out else getattr(current, field)
            out[field] = check_uris(field, value, native=app_type == "native")
    return out



def resource_owner(repo: ClientRepository, realm: str, resource: str) -> Client | None:
    """The client of `realm` that lists `resource` among its resource identifiers."""
    return repo.by_resource(realm, resource)


def taken_resource(repo: ClientRepository, client: Client) -> InvalidRequest | None:
    """The refusal for a resource identifier of `client` that another client of its realm has, or None."""
    for resource in client.resources:
        owner = resource_owner(repo, client.realm, resource)
        if owner is not None and owner.client_id != client.client_id:
            return InvalidRequest(f"resource {resource} taken", description=(
                f"resources: '{resource}' is already a resource identifier of client '{owner.client_id}' "
                "(a resource identifier belongs to one client of a realm)."))
    return None
