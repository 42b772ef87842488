"""Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document).

A `client_id` that is an `https` URL with a path names the client's registration: a JSON document the
client publishes at that URL. When the realm turns it on (`client_id_metadata_documents.enabled`, with
optional allowed / denied hosts), `/authorize` and client authentication call `current_client` first:

- the document is fetched through the SSRF-guarded fetcher (`Services.client_documents`: public
  addresses only, no redirects, at most 5 KB, a short timeout, failures remembered briefly),
  off the event loop, and cached per its `Cache-Control` within bounds;
- it is validated: `client_id` equal to the URL exactly, `client_name` and `redirect_uris` required, no
  `client_secret` / `client_secret_expires_at`, `token_endpoint_auth_method` `none` (the default) or
  `private_key_jwt` (never a shared secret), inline keys public only — then the rules of dynamic
  registration (grants and scopes within what open registration may get) and the realm's registration
  policy (allowed grant types, scopes and redirect hosts; `max_clients` when the record is created);
- the client is kept as a stored, dynamic client record (kind `client`, `metadata.client_id_metadata_document`
  true), created on first use and updated when the document changes, so consents, codes, tokens and the
  console's dynamic-clients view (with last use) work as for any client. A document that stops
  validating, or a realm that turns the feature off, makes the stored record unusable at once.

Refusals: `DocumentRefused` with a fixed, safe message; /authorize shows it on a page, client
authentication answers `invalid_client`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from credo.domain.errors import InvalidClient, OAuthError
from credo.domain.models import KEY_AUTH_METHOD, Client, Realm
from credo.domain.settings import GRANT_AUTHORIZATION_CODE
from credo.oauth.lifecycle import creation_time
from credo.oauth.registration_metadata import validate_metadata
from credo.oauth.registration_protection import check_open_registration, check_policy
from credo.oauth.services import Services
from credo.storage.protocols import Conflict, LimitReached

MARK = "client_id_metadata_document"  # in Client.metadata: the record mirrors a fetched document
MAX_CLIENT_ID = 255
ALLOWED_AUTH_METHODS = ("none", KEY_AUTH_METHOD)
_SECRET_FIELDS = ("client_secret", "client_secret_expires_at")
UPDATE_ATTEMPTS = 3


class DocumentRefused(Exception):
    """The client id is a metadata document URL that cannot be used; `reason` is safe to show and log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def is_document_url(client_id: str) -> bool:
    """A URL client id (https, with a path other than `/`): never an id of a stored client otherwise (ids
    given by administrators and registration have no `:`)."""
    if not client_id.startswith("https://"):
        return False
    try:
        return urlsplit(client_id).path not in ("", "/")
    except ValueError:
        return False


def is_document_client(client: Client) -> bool:
    return client.metadata.get(MARK) is True


async def current_client(services: Services, realm: Realm, client_id: str) -> Client:
    """The stored client record of the document at `client_id`, fetched (or taken from the cache),
    validated, and created or brought up to date; DocumentRefused otherwise."""
    settings = realm.settings.client_id_metadata_documents
    if not settings.enabled:
        raise DocumentRefused("this realm does not accept client metadata documents")
    if len(client_id) > MAX_CLIENT_ID:
        raise DocumentRefused(f"the client id URL is longer than {MAX_CLIENT_ID} characters")
    try:
        parts = urlsplit(client_id)
    except ValueError as exc:
        raise DocumentRefused("the client id is not a valid URL") from exc
    if parts.fragment or parts.username is not None or parts.password is not None or not parts.hostname:
        raise DocumentRefused("the client id URL has a fragment, user information or no host")
    if not settings.host_allowed(parts.hostname):
        raise DocumentRefused(f"documents from {parts.hostname} are not accepted in this realm")
    document = services.client_documents.cached(client_id)
    if document is None:
        try:  # DNS, connect, read: off the event loop
            document = await services.blocking.run(services.client_documents.get, client_id)
        except Exception as exc:  # RemoteJwksError, or anything else the fetch raised
            reason = getattr(exc, "reason", type(exc).__name__)
            raise DocumentRefused(f"the client metadata document could not be fetched ({reason})") from exc
    wanted = document_client(services, realm, client_id, document)
    return _stored(services, realm, wanted)


async def authenticating_client(services: Services, realm: str, client_id: str) -> Client | None:
    """The client record a client authentication names (None: unknown): for a metadata document URL, the
    record brought up to date with its document first; a document that cannot be used is InvalidClient."""
    if not is_document_url(client_id):
        return services.client(realm, client_id)
    try:
        return await current_client(services, services.realm(realm), client_id)
    except DocumentRefused as exc:
        raise InvalidClient(f"client metadata document {client_id[:100]!r} refused: {exc.reason}") from exc


def document_client(services: Services, realm: Realm, client_id: str, document: dict[str, Any]) -> Client:
    """The client a document describes (not stored); DocumentRefused when it breaks a rule: the metadata
    rules of registration, what an open registration may not ask for, and the realm's registration policy
    (allowed grant types, scopes and redirect hosts; `max_clients` when the record is created)."""
    if document.get("client_id") != client_id:
        raise DocumentRefused("the document's client_id is not exactly its URL")
    for name in _SECRET_FIELDS:
        if name in document:
            raise DocumentRefused(f"the document holds {name}: a metadata document cannot use a shared secret")
    if not isinstance(document.get("client_name"), str) or not document["client_name"].strip():
        raise DocumentRefused("the document has no client_name")
    if not isinstance(document.get("redirect_uris"), list) or not document["redirect_uris"]:
        raise DocumentRefused("the document has no redirect_uris")
    body = {k: v for k, v in document.items() if k != "client_id"}
    body.setdefault("token_endpoint_auth_method", "none")
    body.setdefault("grant_types", [GRANT_AUTHORIZATION_CODE])
    if body["token_endpoint_auth_method"] not in ALLOWED_AUTH_METHODS:
        raise DocumentRefused("the document's token_endpoint_auth_method must be none or private_key_jwt")
    try:
        metadata = validate_metadata(body, realm)
        check_open_registration(realm, metadata)
        check_policy(services, realm, metadata, creating=False)
    except OAuthError as exc:
        raise DocumentRefused(f"the document is not valid client metadata: {exc.description}") from exc
    return Client(realm=realm.name, client_id=client_id, kind="client", name=metadata.client_name,
                  grant_types=metadata.grant_types, scopes=metadata.scopes, auth_method=metadata.auth_method,
                  redirect_uris=metadata.redirect_uris, response_types=metadata.response_types,
                  metadata={**metadata.extra, "client_name": metadata.client_name, MARK: True},
                  dynamic=True, application_type=metadata.application_type,
                  post_logout_redirect_uris=metadata.post_logout_redirect_uris)


_SYNCED = ("name", "grant_types", "scopes", "auth_method", "redirect_uris", "response_types", "metadata",
           "application_type", "post_logout_redirect_uris")


def _stored(services: Services, realm: Realm, wanted: Client) -> Client:
    """The stored record, created or updated (compare-and-swap) to match `wanted`. An administrator may
    disable it (the record stays disabled whatever the document says)."""
    clients = services.storage.clients
    for _ in range(UPDATE_ATTEMPTS):
        stored = clients.get(realm.name, wanted.client_id)
        if stored is None:
            now = creation_time(services, realm.name, "client", wanted.client_id)  # after a deleted namesake
            try:  # the policy's max_clients is checked in the creation's transaction, as for /register
                clients.create(replace(wanted, created_at=now, updated_at=now),
                               max_dynamic=realm.settings.protection.policy.max_clients)
            except LimitReached as exc:
                raise DocumentRefused("the realm's registration policy max_clients limit is reached") from exc
            except Conflict:
                continue  # created meanwhile (another request, another process): read it again
            created = clients.get(realm.name, wanted.client_id)
            if created is not None:
                return _usable(created)
            continue
        if not is_document_client(stored):
            raise DocumentRefused("the client id belongs to a client that is not a metadata document")
        if all(getattr(stored, f) == getattr(wanted, f) for f in _SYNCED):
            return _usable(stored)
        changed = replace(stored, **{f: getattr(wanted, f) for f in _SYNCED}, updated_at=services.clock.now())
        if clients.update(changed):
            return _usable(replace(changed, version=stored.version + 1))
    raise DocumentRefused("the client record could not be brought up to date (concurrent changes)")


def _usable(client: Client) -> Client:
    if not client.enabled:
        raise DocumentRefused("this client has been disabled by an administrator")
    return client
