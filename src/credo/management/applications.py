"""Applications: the resources AI agents reach (`Client(kind="application")`), "web" or "service"."""

from __future__ import annotations

from typing import Any

from credo.domain.errors import InvalidRequest, InvalidScope, NotFound
from credo.domain.models import AUTH_METHODS, DPOP_BOUND, Client
from credo.domain.settings import KNOWN_GRANT_TYPES
from credo.keys.secrets import WeakSecret
from credo.management.client_signin import SIGNIN_FIELDS
from credo.management.clients import (
    check_name,
    create_client,
    delete_client,
    get_client,
    set_secret,
    update_client,
    with_strict_auth_method,
)
from credo.oauth.scopes import parse_scope
from credo.oauth.services import Services

APP_TYPES = ("web", "service")
UPDATABLE = {"name", "scopes", "grant_types", "auth_method", "strict_auth_method", "enabled", "owners", "keys", "app_type",
             "secret", DPOP_BOUND, *SIGNIN_FIELDS}


def _check_owners(owners: tuple[str, ...]) -> tuple[str, ...]:
    for owner in owners:
        if not owner or len(owner) > 255 or any(ord(ch) < 32 for ch in owner):
            raise InvalidRequest("bad owner", description="owners: each owner is a username or admin name.")
    return tuple(owners)


def check_scopes(field: str, scopes: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Scopes given one per item; each must be a valid scope token (the description names the field)."""
    out: list[str] = []
    for scope in scopes:
        try:
            parsed = parse_scope(scope) if isinstance(scope, str) else ()
        except InvalidScope:
            parsed = ()
        if len(parsed) != 1:
            raise InvalidRequest(f"bad scope {scope!r}", description=f"{field}: '{scope}' is not a valid scope.")
        if parsed[0] not in out:
            out.append(parsed[0])
    return tuple(out)


def change_secret(services: Services, realm: str, client_id: str, secret: str | None, *, actor: str) -> str:
    """Set a new client secret (generated when None); a weak secret is refused naming the field."""
    try:
        return set_secret(services, realm, client_id, secret, actor=actor)
    except WeakSecret as exc:
        raise InvalidRequest(str(exc), description=f"client_secret: {exc}.") from exc


def get_application(services: Services, realm: str, client_id: str) -> Client:
    services.realm(realm)
    client = services.storage.clients.get(realm, client_id)
    if client is None or client.kind != "application":
        raise NotFound(f"no application {client_id}", description=f"client_id: application '{client_id}' does not exist.")
    return client


def create_application(services: Services, realm: str, client_id: str, *, name: str, app_type: str = "service",
                       secret: str | None = None, grant_types: tuple[str, ...] = ("client_credentials",),
                       scopes: tuple[str, ...] = (), auth_method: str = "client_secret_post",
                       owners: tuple[str, ...] = (), redirect_uris: tuple[str, ...] = (),
                       post_logout_redirect_uris: tuple[str, ...] = (), resources: tuple[str, ...] = (),
                       application_type: str = "web", skip_consent: bool = False,
                       strict_auth_method: bool = False, dpop_bound_access_tokens: bool = False,
                       keys: dict[str, Any] | None = None, actor: str = "system") -> tuple[Client, str | None]:
    """Create an application (`keys`: see create_client); the browser sign-in fields (redirect URIs to skip_consent) follow the rules
    of client_signin.py."""
    services.realm(realm)
    if app_type not in APP_TYPES:
        raise InvalidRequest(f"app type {app_type}", description="app_type: must be 'web' or 'service'.")
    return create_client(services, realm, client_id, kind="application", secret=secret, name=name,
                         grant_types=tuple(grant_types), scopes=check_scopes("scopes", tuple(scopes)),
                         auth_method=auth_method, app_type=app_type, owners=_check_owners(tuple(owners)),
                         redirect_uris=redirect_uris, post_logout_redirect_uris=post_logout_redirect_uris,
                         resources=resources, application_type=application_type, skip_consent=skip_consent,
                         strict_auth_method=strict_auth_method, dpop_bound_access_tokens=dpop_bound_access_tokens,
                         keys=keys, actor=actor)


def update_application(services: Services, realm: str, client_id: str, changes: dict[str, Any], *,
                       actor: str = "system") -> Client:
    get_application(services, realm, client_id)
    unknown = sorted(set(changes) - UPDATABLE)
    if unknown:
        raise InvalidRequest(f"unknown fields {unknown}", description=f"{unknown[0]}: cannot be changed.")
    fields = dict(changes)
    if "secret" in fields:
        change_secret(services, realm, client_id, fields.pop("secret"), actor=actor)
    if "app_type" in fields and fields["app_type"] not in APP_TYPES:
        raise InvalidRequest("app type", description="app_type: must be 'web' or 'service'.")
    if "scopes" in fields:
        fields["scopes"] = check_scopes("scopes", fields["scopes"])
    if "owners" in fields:
        fields["owners"] = _check_owners(tuple(fields["owners"]))
    if "grant_types" in fields:
        fields["grant_types"] = tuple(fields["grant_types"])
    return validated_update(services, realm, client_id, fields, actor=actor)


def validated_update(services: Services, realm: str, client_id: str, fields: dict[str, Any], *,
                     actor: str) -> Client:
    """Apply changes to a client after the checks `create_client` makes (grant types, auth method);
    `strict_auth_method` (true or false) pins or unpins the client's method."""
    if "strict_auth_method" in fields:
        fields = dict(fields)
        attributes = fields.get("attributes", get_client(services, realm, client_id).attributes)
        fields["attributes"] = with_strict_auth_method(attributes, fields.pop("strict_auth_method"))
    unknown = [g for g in fields.get("grant_types", ()) if g not in KNOWN_GRANT_TYPES]
    if unknown:
        raise InvalidRequest(f"grant types {unknown}", description=f"grant_types: unknown {', '.join(unknown)}.")
    if "auth_method" in fields and fields["auth_method"] not in AUTH_METHODS:
        raise InvalidRequest("auth method", description=f"auth_method: must be one of {', '.join(AUTH_METHODS)}.")
    if "enabled" in fields and not isinstance(fields["enabled"], bool):
        raise InvalidRequest("enabled", description="enabled: must be true or false.")
    if "name" in fields:
        check_name(fields["name"])
    return update_client(services, realm, client_id, fields, actor=actor)


def list_applications(services: Services, realm: str) -> list[Client]:
    services.realm(realm)  # an unknown realm is an error, not an empty list
    return services.storage.clients.all(realm, kind="application")


def delete_application(services: Services, realm: str, client_id: str, *, actor: str = "system") -> None:
    get_application(services, realm, client_id)
    for agent in services.storage.clients.all(realm, kind="agent"):
        services.storage.policies.delete(realm, agent.client_id, client_id)
    delete_client(services, realm, client_id, actor=actor)
