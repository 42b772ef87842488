"""Clients created by an administrator (plain OAuth2 clients, applications, AI agents)."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from credo.domain.errors import InvalidClientMetadata, InvalidRequest, NotFound, ServiceUnavailable
from credo.domain.models import (
    ATTR_STRICT_AUTH_METHOD,
    AUTH_METHODS,
    DPOP_BOUND,
    KEY_AUTH_METHOD,
    AuditEvent,
    Client,
    ClientKind,
)
from credo.domain.settings import KNOWN_GRANT_TYPES, public_client_grant
from credo.keys.secrets import WeakSecret, new_secret
from credo.management.client_signin import check_signin_fields, taken_resource
from credo.oauth.lifecycle import creation_time, note_deletion
from credo.oauth.registration_metadata import key_metadata
from credo.oauth.services import Services
from credo.storage.protocols import Conflict

CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


MAX_NAME = 255
UPDATE_ATTEMPTS = 5  # compare-and-swap attempts of one administrative change before it answers 503


def check_name(name: object) -> None:
    """A client's display name: a string of at most 255 characters (on create and on update alike)."""
    if not isinstance(name, str) or len(name) > MAX_NAME:
        raise InvalidRequest("name", description=f"name: must be a string of at most {MAX_NAME} characters.")


def create_client(services: Services, realm: str, client_id: str, *, kind: ClientKind = "client",
                  secret: str | None = None, name: str = "", grant_types: tuple[str, ...] = ("client_credentials",),
                  scopes: tuple[str, ...] = (), auth_method: str = "client_secret_post",
                  attributes: dict[str, list[str]] | None = None, app_type: str | None = None,
                  owners: tuple[str, ...] = (), redirect_uris: tuple[str, ...] = (),
                  post_logout_redirect_uris: tuple[str, ...] = (), resources: tuple[str, ...] = (),
                  application_type: str = "web", skip_consent: bool = False, strict_auth_method: bool = False,
                  dpop_bound_access_tokens: bool = False, keys: dict[str, Any] | None = None,
                  actor: str = "system") -> tuple[Client, str | None]:
    """Create a client; returns it with the plain secret, shown once (generated when not given). The
    browser sign-in fields follow client_signin.py's rules; `strict_auth_method` pins `auth_method` (else
    a client with a secret may send it in a Basic header or in the body alike); `dpop_bound_access_tokens`
    (RFC 9449 §5.2) makes every token request of the client need a DPoP proof. `keys`: `jwks` or
    `jwks_uri` and `token_endpoint_auth_signing_alg`, required for `private_key_jwt` (no secret then)."""
    if not CLIENT_ID.fullmatch(client_id):  # match() would let a final newline through
        raise InvalidRequest(f"bad client id {client_id!r}",
                             description="client_id: use only letters, digits, '-' and '_'.")
    check_name(name)
    if services.storage.realms.get(realm) is None:
        raise NotFound(f"realm {realm}", description=f"Realm '{realm}' does not exist.")
    if auth_method not in AUTH_METHODS:
        raise InvalidClientMetadata(f"auth method {auth_method}",
                                    description=f"token_endpoint_auth_method must be one of {', '.join(AUTH_METHODS)}.")
    unknown = [g for g in grant_types if g not in KNOWN_GRANT_TYPES]
    if unknown:
        raise InvalidClientMetadata(f"grant types {unknown}", description=f"grant_types: unknown {', '.join(unknown)}.")
    _check_public(auth_method, grant_types)
    signin = check_signin_fields({"redirect_uris": redirect_uris, "post_logout_redirect_uris": post_logout_redirect_uris,
                                  "resources": resources, "application_type": application_type,
                                  "skip_consent": skip_consent})
    key_fields = key_metadata(keys or {}, auth_method)
    plain: str | None = None
    secret_hash: str | None = None
    if auth_method == KEY_AUTH_METHOD and secret is not None:
        raise InvalidRequest("secret with private_key_jwt", description="client_secret: a private_key_jwt client has "
                                                                        "no secret.")
    if auth_method not in ("none", KEY_AUTH_METHOD):
        if secret is None:
            plain = new_secret()
            secret_hash = services.hasher.hash_generated(plain)
        else:
            try:
                secret_hash = services.hasher.hash_human(secret)
            except WeakSecret as exc:
                raise InvalidRequest(str(exc), description=f"client_secret: {exc}.") from exc
            plain = secret
    now = creation_time(services, realm, "client", client_id)
    client = Client(realm=realm, client_id=client_id, secret_hash=secret_hash, kind=kind, name=name or client_id,
                    grant_types=tuple(grant_types), scopes=tuple(scopes), auth_method=auth_method,
                    attributes=with_strict_auth_method(attributes or {}, strict_auth_method),
                    app_type=app_type, owners=tuple(owners),
                    metadata=with_dpop_bound(key_fields, dpop_bound_access_tokens),
                    created_at=now, updated_at=now, **signin)
    _refuse_taken(services, client)
    try:
        services.storage.clients.create(client)
    except Conflict as exc:
        if services.storage.clients.get(realm, client_id) is None:
            raise taken_resource(services.storage.clients, client) or _resource_race(client) from exc
        raise InvalidRequest(f"client {client_id} exists", description=f"client_id: '{client_id}' already exists.") from exc
    services.audit(AuditEvent(realm=realm, action=f"{kind}.create", actor=actor, target=client_id))
    return client, plain


def with_strict_auth_method(attributes: dict[str, list[str]], strict: object) -> dict[str, list[str]]:
    """`attributes` with the client's method pinned (True) or not (False: the attribute removed)."""
    if not isinstance(strict, bool):
        raise InvalidRequest("strict_auth_method", description="strict_auth_method: must be true or false.")
    out = {k: list(v) for k, v in attributes.items() if k != ATTR_STRICT_AUTH_METHOD}
    return {**out, ATTR_STRICT_AUTH_METHOD: ["true"]} if strict else out


def with_dpop_bound(metadata: dict[str, Any], bound: object) -> dict[str, Any]:
    """`metadata` with `dpop_bound_access_tokens` set (True) or removed (False, the default)."""
    if not isinstance(bound, bool):
        raise InvalidRequest(DPOP_BOUND, description=f"{DPOP_BOUND}: must be true or false.")
    out = {k: v for k, v in metadata.items() if k != DPOP_BOUND}
    return {**out, DPOP_BOUND: True} if bound else out


def _refuse_taken(services: Services, client: Client) -> None:
    refusal = taken_resource(services.storage.clients, client)
    if refusal is not None:
        raise refusal


def _resource_race(client: Client) -> InvalidRequest:
    """A Conflict on a resource identifier whose holder is no longer found (it changed meanwhile)."""
    return InvalidRequest(f"resource conflict {client.client_id}",
                          description="resources: a resource identifier is already used by another client of "
                                      "this realm.")


def _check_public(auth_method: str, grant_types: tuple[str, ...]) -> None:
    refused = public_client_grant(auth_method, grant_types)
    if refused is not None:
        raise InvalidClientMetadata(f"public client with {refused}",
                                    description=f"token_endpoint_auth_method: 'none' (a public client) cannot use the "
                                                f"{refused} grant.")


def get_client(services: Services, realm: str, client_id: str) -> Client:
    client = services.storage.clients.get(realm, client_id)
    if client is None:
        raise NotFound(f"client {client_id}", description=f"Client '{client_id}' does not exist.")
    return client


def update_client(services: Services, realm: str, client_id: str, changes: dict[str, Any], *,
                  actor: str = "system") -> Client:
    """Apply `changes` to the client as stored now: a compare-and-swap on its version, tried again from a
    fresh read when a concurrent change won (another administrator, an RFC 7592 update), so neither undoes
    the other. Only the named fields change; the registration access token is never written."""
    for _ in range(UPDATE_ATTEMPTS):
        client = services.storage.clients.current(realm, client_id)
        if client is None:
            raise NotFound(f"client {client_id}", description=f"Client '{client_id}' does not exist.")
        updated = _changed(services, client, changes)
        if _stored(services, updated, changes):
            services.audit(AuditEvent(realm=realm, action=f"{client.kind}.update", actor=actor, target=client_id,
                                      details={"changed": sorted(changes)}))
            return replace(updated, version=client.version + 1)
    raise ServiceUnavailable(f"client {client_id} changed concurrently {UPDATE_ATTEMPTS} times")


KEY_FIELDS = ("jwks", "jwks_uri", "token_endpoint_auth_signing_alg")


def _changed(services: Services, client: Client, changes: dict[str, Any]) -> Client:
    fields = check_signin_fields({k: v for k, v in changes.items() if k != "keys"}, client)
    if DPOP_BOUND in fields:
        fields["metadata"] = with_dpop_bound(client.metadata, fields.pop(DPOP_BOUND))
    updated = replace(client, **fields, updated_at=services.clock.now())
    _check_public(updated.auth_method, updated.grant_types)
    updated = _with_keys(updated, changes)
    if "resources" in changes:
        _refuse_taken(services, updated)
    return updated


def client_keys(client: Client) -> dict[str, Any]:
    """The key metadata of a private_key_jwt client as the admin API, export and import show it."""
    return {k: client.metadata[k] for k in KEY_FIELDS if k in client.metadata}


def _with_keys(client: Client, changes: dict[str, Any]) -> Client:
    """`keys` (a JWK Set in `jwks` or a `jwks_uri`, and `token_endpoint_auth_signing_alg`) replaces the
    client's key metadata; a private_key_jwt client must have keys, and has no secret."""
    metadata = client.metadata
    if "keys" in changes:
        keys = changes["keys"] or {}
        if not isinstance(keys, dict):
            raise InvalidRequest("keys", description="keys: must be an object with jwks or jwks_uri.")
        metadata = {**{k: v for k, v in metadata.items() if k not in KEY_FIELDS},
                    **key_metadata(keys, client.auth_method)}
    if client.auth_method == KEY_AUTH_METHOD:
        key_metadata(metadata, KEY_AUTH_METHOD)  # raises when it has no keys
        return replace(client, metadata=metadata, secret_hash=None)
    return replace(client, metadata=metadata)


def _stored(services: Services, updated: Client, changes: dict[str, Any]) -> bool:
    """Whether the compare-and-swap of `updated` won (False: the client changed since it was read)."""
    try:
        return services.storage.clients.update(updated)
    except Conflict as exc:
        if "resources" not in changes:
            raise
        raise taken_resource(services.storage.clients, updated) or _resource_race(updated) from exc


def set_secret(services: Services, realm: str, client_id: str, secret: str | None = None, *,
               actor: str = "system") -> str:
    """A new secret for a client that authenticates with one (the given one, or generated), returned once.
    A private_key_jwt or public client has no secret: refused (a secret it could never use, or one its
    next update would drop, must not be handed out as if it worked)."""
    client = get_client(services, realm, client_id)
    if client.auth_method in (KEY_AUTH_METHOD, "none"):
        kind = "a private_key_jwt" if client.auth_method == KEY_AUTH_METHOD else "a public"
        raise InvalidRequest(f"secret for {client.auth_method} client {client_id}",
                             description=f"client_secret: {kind} client has no secret.")
    plain = secret or new_secret()
    hashed = services.hasher.hash_generated(plain) if secret is None else services.hasher.hash_human(plain)
    update_client(services, realm, client_id, {"secret_hash": hashed}, actor=actor)
    return plain


def delete_client(services: Services, realm: str, client_id: str, *, actor: str = "system") -> None:
    client = get_client(services, realm, client_id)
    services.storage.clients.delete(realm, client_id)
    note_deletion(services, realm, "client", client_id)
    services.audit(AuditEvent(realm=realm, action=f"{client.kind}.delete", actor=actor, target=client_id))


def list_clients(services: Services, realm: str) -> list[Client]:
    """The realm's plain OAuth2 clients (not its applications or AI agents); an unknown realm is an error."""
    services.realm(realm)
    return services.storage.clients.all(realm, kind="client")


def get_plain_client(services: Services, realm: str, client_id: str) -> Client:
    services.realm(realm)
    client = services.storage.clients.get(realm, client_id)
    if client is None or client.kind != "client":
        raise NotFound(f"no client {client_id}", description=f"client_id: client '{client_id}' does not exist in "
                                                             f"realm '{realm}'.")
    return client


def update_plain_client(services: Services, realm: str, client_id: str, changes: dict[str, Any], *,
                        new_secret: bool = False, actor: str = "system") -> tuple[Client, str | None]:
    """Change a plain client's scopes, grant types or state (the checks of a creation), and optionally give it
    a new generated secret (returned once)."""
    from credo.management.applications import check_scopes, validated_update

    get_plain_client(services, realm, client_id)
    fields = dict(changes)
    if "scopes" in fields:
        fields["scopes"] = check_scopes("scopes", fields["scopes"])
    plain = set_secret(services, realm, client_id, actor=actor) if new_secret else None
    client = validated_update(services, realm, client_id, fields, actor=actor) if fields else get_plain_client(
        services, realm, client_id)
    return client, plain


def delete_plain_client(services: Services, realm: str, client_id: str, *, actor: str = "system") -> None:
    get_plain_client(services, realm, client_id)
    delete_client(services, realm, client_id, actor=actor)
