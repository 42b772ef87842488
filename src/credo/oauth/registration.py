"""Dynamic client registration (RFC 7591) and its management protocol (RFC 7592).

`register` creates a dynamic client (kind "client" from /register, kind "agent" from /aiagent/register);
`read_registration`, `replace_registration` and `delete_registration` act on it with its registration
access token, which is stored only as a keyed hash and rotates on every read and update. Every write of
theirs is a compare-and-swap on the client's version and token (retried from a fresh read when it loses),
so none undoes an administrator's concurrent change; a disabled client's registration is not managed.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, TypeVar

from credo.domain.errors import (
    InvalidClientMetadata,
    InvalidRequest,
    InvalidSoftwareStatement,
    InvalidToken,
    OAuthError,
    ServiceUnavailable,
)
from credo.domain.models import (
    ATTR_ACCEPT_AUDIENCE,
    ATTR_AGENT_TYPE,
    ATTR_AGENT_UID,
    ATTR_OVERRIDES_ENABLED,
    ATTR_STATELESS,
    KEY_AUTH_METHOD,
    AuditEvent,
    Client,
    Realm,
)
from credo.domain.values import value_object
from credo.keys.secrets import new_secret
from credo.oauth.credentials import BearerToken
from credo.oauth.lifecycle import note_deletion
from credo.oauth.registration_metadata import SERVER_MANAGED, Metadata, validate_metadata
from credo.oauth.registration_protection import (
    check_open_registration,
    check_policy,
    check_rate,
    initial_access,
    max_clients_reached,
    signed_request_metadata,
    software_statement_claims,
)
from credo.oauth.services import Services
from credo.scripting.api import Operation, ScriptError, ScriptInput
from credo.storage.protocols import Conflict, LimitReached
from credo.storage.unit_of_work import UnitOfWork

AGENT_TYPE_DYNAMIC = "dynamic"
BOOLEAN_ATTRIBUTES = (ATTR_OVERRIDES_ENABLED, ATTR_STATELESS, ATTR_ACCEPT_AUDIENCE)
TOKEN_REFUSED = "The registration access token is missing, invalid or expired."
CLIENT_ID_REFUSED = ("client_id: the server generates the client ID; send the registration without one "
                     "(to change an existing registration, PUT it to its registration_client_uri).")
SCOPE_MEMBERS = ("scope", "scopes")  # RFC 7591's string and the guides' array
T = TypeVar("T")


class ScriptFailed(OAuthError):
    error = "server_error"
    status = 500

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or f"registration script failed: {reason}",
                         description=f"The realm's registration script failed ({reason}).")
        self.reason = reason


@value_object
class RegistrationRequest:
    realm: Realm
    body: dict[str, Any] | None  # a JSON body, or None when the body is a signed request
    signed_body: str | None = None  # a compact JWS whose payload is the metadata
    bearer: BearerToken | None = None  # the initial access token, when registration is protected
    source: str = ""
    agent: bool = False  # /aiagent/register


def realm_base(services: Services, realm: Realm) -> str:
    return f"{services.base_url}{realm.url_path}"


def registration_endpoint(services: Services, realm: Realm, *, agent: bool) -> str:
    return realm_base(services, realm) + ("/aiagent/register" if agent else "/register")


# --- create -----------------------------------------------------------------------------------


@value_object
class PendingRegistration:
    """A checked registration: the new client with the initial-access-token id it burns (both in the
    request's unit of work), and the values to show once in the answer."""

    realm: Realm
    client: Client
    burn: tuple[str, int] | None
    secret: str | None
    registration_token: str


async def register(services: Services, request: RegistrationRequest) -> dict[str, Any]:
    """Check a registration, store it (client, burn and audit event: one unit of work, committed with the
    other registrations of this event-loop step) and answer it. A refusal's audit event (a failed script)
    is committed too."""
    work = UnitOfWork()
    try:
        pending = await prepare_registration(services, request, work)
    finally:
        conflict = await services.commit(work)
    return registered(services, pending, conflict)


def registered(services: Services, pending: PendingRegistration, conflict: Conflict | None) -> dict[str, Any]:
    """The answer once the client was stored, or the error when storing it hit `conflict`."""
    client = pending.client
    if isinstance(conflict, LimitReached):  # the registrations of the same moment took the last places
        raise max_clients_reached() from conflict
    if conflict is not None:
        burn = pending.burn
        if burn is not None and services.storage.one_time.is_burned(client.realm, burn[0]):
            raise InvalidToken("initial access token used concurrently",
                               description="A valid initial access token is required to register a client.") from conflict
        raise OAuthError(f"client id collision {client.client_id}") from conflict
    return render(services, pending.realm, client, secret=pending.secret, registration_token=pending.registration_token)


async def prepare_registration(services: Services, request: RegistrationRequest, work: UnitOfWork) -> PendingRegistration:
    """Every check of a registration; the client it creates and its audit event go into `work`."""
    realm = request.realm
    check_rate(services, realm, request.source)
    access = initial_access(services, realm, request.bearer)
    body = await _request_body(services, request)
    if body.get("client_id") is not None:  # never silently replaced by the generated one (null: left out)
        raise InvalidClientMetadata("client_id sent to a registration endpoint", description=CLIENT_ID_REFUSED)
    body = await _with_software_statement(services, realm, body,
                                          required=realm.settings.protection.require_software_statement)
    metadata = validate_metadata(body, realm)
    check_policy(services, realm, metadata, creating=True)
    if access is None and request.signed_body is None and "software_statement" not in body:
        check_open_registration(realm, metadata)
    client_id = str(uuid.uuid4())
    secret = None if metadata.auth_method in ("none", KEY_AUTH_METHOD) else new_secret()
    token = new_secret()
    now = services.clock.now()
    attributes = {ATTR_AGENT_UID: [str(uuid.uuid4())], ATTR_AGENT_TYPE: [AGENT_TYPE_DYNAMIC]} if request.agent else {}
    client = Client(
        realm=realm.name, client_id=client_id, kind="agent" if request.agent else "client",
        secret_hash=services.hasher.hash_generated(secret) if secret else None,
        attributes=attributes, dynamic=True, created_at=now, updated_at=now,
        registration_token_hash=services.hasher.keyed_hash(token),
        registration_token_expires_at=now + realm.settings.registration_access_token_lifetime,
        **_client_fields(metadata, body),
    )
    client = await _scripted(services, realm, "CREATE", client, actor=client_id, work=work)
    event = AuditEvent(realm=realm.name, action="dcr.register", actor="anonymous" if access is None else access.client_id,
                       decision="allow", target=client_id, details={"kind": client.kind, "source": request.source},
                       ts=now)
    burn = None if access is None else (access.one_time_id, access.expires_at)
    work.create_client(client, burn=burn, max_dynamic=realm.settings.protection.policy.max_clients)
    work.audit(event)
    return PendingRegistration(realm, client, burn, secret, token)


async def _request_body(services: Services, request: RegistrationRequest) -> dict[str, Any]:
    realm = request.realm
    if request.signed_body is not None:
        endpoint = registration_endpoint(services, realm, agent=request.agent)
        return await signed_request_metadata(services, realm, request.signed_body, endpoint)
    if realm.settings.protection.require_signed_request:
        raise InvalidRequest("unsigned registration request",
                             description="This realm requires a signed registration request (application/jose).")
    return dict(request.body or {})


async def _with_software_statement(services: Services, realm: Realm, body: dict[str, Any], *,
                             required: bool) -> dict[str, Any]:
    statement = body.get("software_statement")
    if statement is None:
        if required:
            raise InvalidSoftwareStatement("software statement missing",
                                           description="software_statement: required in this realm.")
        return body
    claims = await software_statement_claims(services, realm, statement)
    if any(name in claims for name in SCOPE_MEMBERS):  # one member, two spellings: the statement's replaces both
        body = {k: v for k, v in body.items() if k not in SCOPE_MEMBERS}
    return {**body, **claims, "software_statement": statement}


def _client_fields(metadata: Metadata, body: dict[str, Any]) -> dict[str, Any]:
    stored = dict(metadata.extra)
    if metadata.client_name:
        stored["client_name"] = metadata.client_name
    if isinstance(body.get("software_statement"), str):
        stored["software_statement"] = body["software_statement"]
    return {"name": metadata.client_name, "grant_types": metadata.grant_types, "scopes": metadata.scopes,
            "auth_method": metadata.auth_method, "redirect_uris": metadata.redirect_uris,
            "response_types": metadata.response_types, "application_type": metadata.application_type,
            "post_logout_redirect_uris": metadata.post_logout_redirect_uris, "metadata": stored}


# --- the DCR script ---------------------------------------------------------------------------


async def _scripted(services: Services, realm: Realm, operation: Operation, client: Client, *, actor: str,
              work: UnitOfWork) -> Client:
    """The client with the attributes the realm's script stored (unchanged if it stored nothing)."""
    script_id = realm.settings.dcr_script
    if not script_id:
        return client
    script = services.storage.scripts.get(realm.name, script_id)
    runner = services.script_runner
    try:
        if script is None or runner is None:
            raise ScriptError("unavailable", f"script {script_id} or the script engine is missing")
        out = await services.blocking.run(runner.run, script.source, ScriptInput(
            operation=operation, client_id=client.client_id, is_ai_agent=client.is_agent,
            attributes={k: list(v) for k, v in client.attributes.items()},
            metadata=render(services, realm, client), realm=realm.name))
    except ScriptError as exc:
        work.audit(AuditEvent(realm=realm.name, action="dcr.script_failed", actor=actor, decision="deny",
                              target=client.client_id, reason=exc.reason,
                              details={"operation": operation, "script": script_id, "message": str(exc)[:500]}))
        # The script's own message may quote client metadata: it goes to the audit trail, not the log.
        raise ScriptFailed(exc.reason, f"registration script {script_id} failed on {operation} ({exc.reason}); "
                                       "message in the audit trail") from exc
    if not out.stored:
        return client
    attributes = {str(k): [str(v) for v in values] for k, values in out.attributes.items()
                  if isinstance(values, list)}
    return replace(client, attributes=attributes)


# --- RFC 7592 management ----------------------------------------------------------------------


RACE_RETRIES = 3  # attempts of an RFC 7592 request whose compare-and-swap lost to a concurrent change


class _Raced(Exception):
    """A compare-and-swap lost to a concurrent change of the client: the request is tried again from a
    fresh read (which refuses it if that change was its token, a disable or a deletion)."""


async def _retrying(client_id: str | None, attempt: Callable[[], Awaitable[T]]) -> T:
    """`attempt()`, tried again (at most RACE_RETRIES times in all) while its compare-and-swap loses."""
    for _ in range(RACE_RETRIES - 1):
        try:
            return await attempt()
        except _Raced:
            continue
    try:
        return await attempt()
    except _Raced as exc:
        raise ServiceUnavailable(f"client {client_id} changed concurrently {RACE_RETRIES} times") from exc


def _authorized(services: Services, realm: Realm, client_id: str | None, bearer: BearerToken | None) -> Client:
    """The enabled dynamic client whose current registration access token was presented, read past any
    cache; the same `invalid_token` answer whether the client is missing, disabled, the token wrong,
    expired or another client's."""
    value = bearer.value if bearer is not None else ""
    client = services.storage.clients.current(realm.name, client_id) if client_id else None
    expected = client.registration_token_hash if client is not None and client.dynamic and client.enabled else None
    presented = services.hasher.keyed_hash(value)
    matches = hmac.compare_digest(expected or "0" * 64, presented) and expected is not None and bool(value)
    if not matches or client is None or (client.registration_token_expires_at or 0) <= services.clock.now():
        raise InvalidToken(f"registration access token refused for {client_id!r}", description=TOKEN_REFUSED)
    return client


def _rotated(services: Services, realm: Realm, client: Client) -> tuple[Client, str]:
    token = new_secret()
    now = services.clock.now()
    return replace(client, registration_token_hash=services.hasher.keyed_hash(token), updated_at=now,
                   registration_token_expires_at=now + realm.settings.registration_access_token_lifetime), token


def _won(swapped: bool, client: Client) -> None:
    if not swapped:
        raise _Raced(f"client {client.client_id} changed since it was read")


async def read_registration(services: Services, realm: Realm, client_id: str | None,
                            bearer: BearerToken | None) -> dict[str, Any]:
    """The registration, with a new registration access token: only the token is written (it fails on
    any concurrent change of the client), and nothing cached is invalidated."""
    return await _retrying(client_id, lambda: _read(services, realm, client_id, bearer))


async def _read(services: Services, realm: Realm, client_id: str | None,
                bearer: BearerToken | None) -> dict[str, Any]:
    client = _authorized(services, realm, client_id, bearer)
    updated, token = _rotated(services, realm, client)
    _won(services.storage.clients.swap_registration_token(
        updated, expected_registration_token_hash=client.registration_token_hash or ""), client)
    services.audit(AuditEvent(realm=realm.name, action="dcr.read", actor=client.client_id, target=client.client_id))
    return render(services, realm, updated, registration_token=token)


async def replace_registration(services: Services, realm: Realm, client_id: str | None, body: dict[str, Any],
                         bearer: BearerToken | None) -> dict[str, Any]:
    work = UnitOfWork()
    try:
        return await _retrying(client_id, lambda: _replace(services, realm, client_id, body, bearer, work))
    finally:
        services.commit_now(work)


async def _replace(services: Services, realm: Realm, client_id: str | None, body: dict[str, Any],
             bearer: BearerToken | None, work: UnitOfWork) -> dict[str, Any]:
    client = _authorized(services, realm, client_id, bearer)
    if body.get("client_id") != client.client_id:
        raise InvalidClientMetadata("client_id mismatch on update",
                                    description="client_id: must be present and equal the client being updated.")
    if "client_secret" in body and not (isinstance(body["client_secret"], str) and
                                        await services.verify_secret(body["client_secret"], client.secret_hash)):
        raise InvalidClientMetadata("client_secret mismatch on update",
                                    description="client_secret: does not match the client's secret.")
    clean = {k: v for k, v in body.items() if k not in SERVER_MANAGED and k != "client_id"}
    clean = await _with_software_statement(services, realm, clean, required=False)
    metadata = validate_metadata(clean, realm)
    check_policy(services, realm, metadata, creating=False)
    if "software_statement" not in clean:  # the registration access token proves who, not what it may get
        check_open_registration(realm, metadata, kept=client)
    secret, secret_hash = _secret_change(services, client, metadata.auth_method)
    updated, token = _rotated(services, realm, client)
    updated = replace(updated, secret_hash=secret_hash, **_client_fields(metadata, clean))
    updated = await _scripted(services, realm, "UPDATE", updated, actor=client.client_id, work=work)
    _won(services.storage.clients.update(updated, expected_registration_token_hash=client.registration_token_hash),
         client)
    work.audit(AuditEvent(realm=realm.name, action="dcr.update", actor=client.client_id, target=client.client_id,
                          decision="allow", details={"fields": sorted(clean)}))
    return render(services, realm, replace(updated, version=client.version + 1), secret=secret,
                  registration_token=token)


def _secret_change(services: Services, client: Client, method: str) -> tuple[str | None, str | None]:
    """A new secret only when a public client becomes one with a secret; none when it becomes public or
    authenticates with its key (private_key_jwt)."""
    if method in ("none", KEY_AUTH_METHOD):
        return None, None
    if client.secret_hash is None:
        secret = new_secret()
        return secret, services.hasher.hash_generated(secret)
    return None, client.secret_hash


async def delete_registration(services: Services, realm: Realm, client_id: str | None, bearer: BearerToken | None) -> None:
    work = UnitOfWork()
    try:
        await _retrying(client_id, lambda: _delete(services, realm, client_id, bearer, work))
    finally:
        services.commit_now(work)


async def _delete(services: Services, realm: Realm, client_id: str | None, bearer: BearerToken | None,
                  work: UnitOfWork) -> None:
    client = _authorized(services, realm, client_id, bearer)
    await _scripted(services, realm, "DELETE", client, actor=client.client_id, work=work)
    _won(services.storage.clients.delete(realm.name, client.client_id, expected_version=client.version,
                                         expected_registration_token_hash=client.registration_token_hash), client)
    note_deletion(services, realm.name, "client", client.client_id)
    work.audit(AuditEvent(realm=realm.name, action="dcr.delete", actor=client.client_id,
                          target=client.client_id, decision="allow"))


# --- the response -----------------------------------------------------------------------------


def render(services: Services, realm: Realm, client: Client, *, secret: str | None = None,
           registration_token: str | None = None) -> dict[str, Any]:
    """RFC 7591 §3.2.1: every registered field plus the server's values (the secret only when just issued)."""
    body: dict[str, Any] = dict(client.metadata)
    body.update({
        "client_id": client.client_id,
        "client_id_issued_at": client.created_at,
        "grant_types": list(client.grant_types),
        "response_types": list(client.response_types),
        "redirect_uris": list(client.redirect_uris),
        "token_endpoint_auth_method": client.auth_method,
        "application_type": client.application_type,
        "scope": " ".join(client.scopes),
        "scopes": list(client.scopes),
        "registration_client_uri": f"{realm_base(services, realm)}/register/{client.client_id}",
    })
    if client.post_logout_redirect_uris:
        body["post_logout_redirect_uris"] = list(client.post_logout_redirect_uris)
    if client.secret_hash is not None:
        body["client_secret_expires_at"] = 0
    if secret is not None:
        body["client_secret"] = secret
    if registration_token is not None:
        body["registration_access_token"] = registration_token
        body["registration_access_token_expires_in"] = max(
            0, (client.registration_token_expires_at or 0) - services.clock.now())
    for name in BOOLEAN_ATTRIBUTES:
        values = client.attributes.get(name)
        if values:
            body[name] = str(values[0]).lower() == "true"
    if client.is_agent:
        body["ai_agent"] = True
    return body
