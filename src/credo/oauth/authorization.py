"""The authorization endpoint (RFC 6749 §4.1 as OAuth 2.1 keeps it): the code flow with PKCE (RFC 7636),
resource indicators (RFC 8707), the `iss` response parameter (RFC 9207) and OpenID Connect's `nonce`,
`prompt`, `max_age` and `login_hint`.

`validate` turns the request's parameters into an `AuthorizationRequest`. Until the client and the
redirect URI are known good, a problem is `NoRedirect` (the error is shown on a page, never sent to an
unverified URI); after that, a problem is `RedirectError` (sent back to the client, with `state` and
`iss`). `next_step` then says what the browser needs: to sign in, to consent, or nothing more; `approve`
records the user's consent and `issue_code` creates the single-use code (60 s, bound to the client, the
redirect URI, the PKCE challenge, the resources and the nonce).
"""

from __future__ import annotations

import ipaddress
import os
import re
import uuid
from dataclasses import field
from typing import Literal
from urllib.parse import urlsplit

from credo.domain.errors import (
    ConsentRequired,
    InvalidRequest,
    InvalidScope,
    LoginRequired,
    OAuthError,
    RequestNotSupported,
    UnauthorizedClient,
    UnsupportedResponseType,
)
from credo.domain.models import Client, Consent, Realm, TokenRecord
from credo.domain.settings import GRANT_AUTHORIZATION_CODE
from credo.domain.values import value_object
from credo.keys.secrets import new_secret
from credo.oauth.client_documents import DocumentRefused, current_client, is_document_url
from credo.oauth.resources import resolve_resources
from credo.oauth.scopes import grant_scopes, parse_scope
from credo.oauth.services import Services
from credo.oauth.sessions import Session
from credo.oauth.tokens import GRANT_CLAIM, GRANT_REVOKED
from credo.storage.unit_of_work import UnitOfWork

CODE_LIFETIME = 60
_CHALLENGE = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")
_PROMPTS = frozenset({"none", "login", "consent"})
RESPONSE_MODES = ("query", "form_post")


class NoRedirect(Exception):
    """The client or the redirect URI cannot be trusted: the error is shown to the user, not redirected."""

    def __init__(self, detail: str, message: str) -> None:
        super().__init__(detail)
        self.message = message






@value_object
class AuthorizationRequest:
    realm: Realm
    client: Client
    redirect_uri: str
    redirect_uri_given: bool
    response_mode: str
    state: str | None
    scopes: tuple[str, ...]
    resources: tuple[str, ...]
    nonce: str | None
    code_challenge: str | None
    prompt: frozenset[str]
    max_age: int | None
    login_hint: str
    params: dict[str, str] = field(repr=False)  # as received (the sign-in and consent forms carry them)
    resource_values: tuple[str, ...] = ()  # the `resource` parameters as received


class RedirectError(Exception):
    """An error for a verified client and redirect URI: sent back to the client."""

    def __init__(self, request: AuthorizationRequest, error: OAuthError) -> None:
        super().__init__(error.detail)
        self.request = request
        self.error = error


@value_object
class Step:
    kind: Literal["login", "consent", "done"]
    consent_scopes: tuple[str, ...] = ()  # what the consent page asks for


def _loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redirect_matches(registered: str, given: str) -> bool:
    """Exact match; for loopback http redirects, any port (RFC 8252 §7.3, OAuth 2.1 §8.4.2)."""
    if registered == given:
        return True
    try:
        r, g = urlsplit(registered), urlsplit(given)
        r_host, g_host = r.hostname, g.hostname
        g.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return False
    if r.scheme != "http" or g.scheme != "http" or not _loopback(r_host) or r_host != g_host:
        return False
    return (r.path, r.query, r.fragment, r.username, r.password) == (g.path, g.query, g.fragment, g.username,
                                                                     g.password)


def _client_and_redirect(services: Services, realm: Realm, params: dict[str, str]) -> tuple[Client, str, bool]:
    client_id = params.get("client_id") or ""
    client = services.client(realm.name, client_id) if client_id and len(client_id) <= 255 else None
    if client is None or not client.enabled:
        raise NoRedirect(f"unknown or disabled client {client_id[:100]!r}",
                         "The application that sent you here is not known to this server.")
    given = params.get("redirect_uri")
    if given is None:
        if len(client.redirect_uris) != 1:
            raise NoRedirect("no redirect_uri", "The application did not say where to return you (redirect_uri).")
        return client, client.redirect_uris[0], False
    if not any(redirect_matches(r, given) for r in client.redirect_uris):
        raise NoRedirect(f"redirect_uri not registered for {client.client_id}",
                         "The application asked to return you to an address it has not registered.")
    return client, given, True


async def validate_request(services: Services, realm: Realm, params: dict[str, str],
                           resources: tuple[str, ...]) -> AuthorizationRequest:
    """`validate`, after bringing a Client ID Metadata Document client up to date (a fetch, off the event
    loop, when its document is not cached): a document that cannot be used is NoRedirect, shown on a page."""
    client_id = params.get("client_id") or ""
    if is_document_url(client_id):
        try:
            await current_client(services, realm, client_id)
        except DocumentRefused as exc:
            raise NoRedirect(f"client metadata document {client_id[:100]!r} refused: {exc.reason}",
                             f"The application's metadata document cannot be used: {exc.reason}.") from exc
    return validate(services, realm, params, resources)


def validate(services: Services, realm: Realm, params: dict[str, str], resources: tuple[str, ...]) -> AuthorizationRequest:
    """The request, or NoRedirect / RedirectError."""
    client, redirect_uri, given = _client_and_redirect(services, realm, params)
    mode = params.get("response_mode") or "query"
    request = AuthorizationRequest(
        realm=realm, client=client, redirect_uri=redirect_uri, redirect_uri_given=given,
        response_mode=mode if mode in RESPONSE_MODES else "query", state=params.get("state"), scopes=(),
        resources=(), nonce=params.get("nonce"), code_challenge=params.get("code_challenge"),
        prompt=frozenset((params.get("prompt") or "").split()), max_age=None,
        login_hint=(params.get("login_hint") or "")[:255], params=params, resource_values=resources)
    try:
        return _checked(services, request)
    except OAuthError as exc:
        raise RedirectError(request, exc) from exc


def _checked(services: Services, request: AuthorizationRequest) -> AuthorizationRequest:
    params, realm, client = request.params, request.realm, request.client
    if params.get("response_mode") not in (None, *RESPONSE_MODES):
        raise InvalidRequest("response_mode", description="Unsupported response_mode (query or form_post).")
    if params.get("request") is not None or params.get("request_uri") is not None:
        raise RequestNotSupported("request objects are not supported")
    response_type = params.get("response_type")
    if not response_type:
        raise InvalidRequest("missing response_type", description="The 'response_type' parameter is required.")
    if response_type != "code":
        raise UnsupportedResponseType(f"response_type {response_type[:50]!r}")
    if GRANT_AUTHORIZATION_CODE not in realm.settings.grant_types or GRANT_AUTHORIZATION_CODE not in client.grant_types:
        raise UnauthorizedClient(f"{client.client_id} may not use the code flow",
                                 description="The client is not authorized to use the authorization code flow.")
    _check_pkce(request)
    prompt = request.prompt
    if not prompt <= _PROMPTS or ("none" in prompt and len(prompt) > 1):
        raise InvalidRequest("bad prompt", description="Unsupported or contradictory 'prompt' value.")
    for name in ("state", "nonce"):
        value = params.get(name)
        if value is not None and len(value) > 512:
            raise InvalidRequest(f"{name} too long", description=f"The '{name}' parameter is too long (512 at most).")
    scopes = grant_scopes(parse_scope(params.get("scope")), client.scopes)
    if not scopes:
        raise InvalidScope("no scope", description="The client has no scope to ask for.")
    return AuthorizationRequest(
        realm=realm, client=client, redirect_uri=request.redirect_uri, redirect_uri_given=request.redirect_uri_given,
        response_mode=request.response_mode, state=request.state, scopes=scopes,
        resources=resolve_resources(services, realm, request.resource_values), nonce=request.nonce,
        code_challenge=request.code_challenge, prompt=prompt, max_age=_max_age(params.get("max_age")),
        login_hint=request.login_hint, params=params, resource_values=request.resource_values)




def _check_pkce(request: AuthorizationRequest) -> None:
    challenge, method = request.code_challenge, request.params.get("code_challenge_method")
    if challenge is None:
        if method is not None:
            raise InvalidRequest("method without challenge", description="'code_challenge_method' without 'code_challenge'.")
        optional = request.realm.settings.pkce_optional_for_confidential_clients and not request.client.is_public
        if not optional:
            raise InvalidRequest("PKCE required", description="PKCE is required: send code_challenge with "
                                                              "code_challenge_method=S256.")
        return
    if method != "S256":
        raise InvalidRequest(f"code_challenge_method {str(method)[:20]!r}",
                             description="Only code_challenge_method=S256 is supported.")
    if not _CHALLENGE.match(challenge) or len(challenge) != 43:
        raise InvalidRequest("malformed code_challenge", description="The code_challenge is not a S256 challenge.")


def _max_age(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or len(value) > 9:
        raise InvalidRequest("bad max_age", description="'max_age' must be a non-negative integer.")
    return int(value)


def consent_covers(consent: Consent | None, request: AuthorizationRequest) -> bool:
    return consent is not None and set(request.scopes) <= set(consent.scopes) and set(request.resources) <= set(
        consent.resources)


def skips_consent(request: AuthorizationRequest) -> bool:
    client = request.client
    return client.skip_consent or (client.kind == "application" and request.realm.settings.skip_consent_for_applications)


def next_step(services: Services, request: AuthorizationRequest, session: Session | None,
              *, signed_in_now: bool = False) -> Step:
    """What the browser must do next; `prompt=none` turns a needed page into an error."""
    now = services.clock.now()
    needs_login = session is None or (not signed_in_now and (
        "login" in request.prompt
        or (request.max_age is not None and now - session.auth_time > request.max_age)))
    if needs_login:
        if "none" in request.prompt:
            raise RedirectError(request, LoginRequired("prompt=none without a usable session"))
        return Step("login")
    assert session is not None
    if skips_consent(request):
        return Step("done")
    consent = services.storage.consents.get(request.realm.name, session.user.id, request.client.client_id)
    if "consent" in request.prompt or not consent_covers(consent, request):
        if "none" in request.prompt:
            raise RedirectError(request, ConsentRequired("prompt=none and consent needed"))
        return Step("consent", request.scopes)
    return Step("done")


def record_consent(services: Services, request: AuthorizationRequest, session: Session) -> Consent:
    """The user's consent (or the administrator's, for a first-party client), merged into what was allowed
    before; a new grant id when there was none."""
    now = services.clock.now()
    realm, user_id, client_id = request.realm.name, session.user.id, request.client.client_id
    old = services.storage.consents.get(realm, user_id, client_id)
    if old is not None and consent_covers(old, request):
        return old
    consent = Consent(
        realm=realm, user_id=user_id, client_id=client_id,
        scopes=tuple(dict.fromkeys((*(old.scopes if old else ()), *request.scopes))),
        resources=tuple(dict.fromkeys((*(old.resources if old else ()), *request.resources))),
        grant_id=old.grant_id if old else uuid.uuid4().hex, created_at=old.created_at if old else now, updated_at=now)
    services.storage.consents.put(consent)
    return consent


def revoke_consent(services: Services, realm: Realm, user_id: str, client_id: str) -> bool:
    """Forget the consent and revoke every token issued under it (refresh and access tokens alike)."""
    consent = services.storage.consents.get(realm.name, user_id, client_id)
    if consent is None:
        return False
    until = services.clock.now() + max(realm.settings.refresh_token_lifetime, 30 * 86400)
    services.storage.one_time.burn(realm.name, GRANT_REVOKED + consent.grant_id, until)
    services.storage.consents.delete(realm.name, user_id, client_id)
    return True


def issue_code(services: Services, request: AuthorizationRequest, session: Session, work: UnitOfWork) -> str:
    """A single-use authorization code, stored (hashed) with `work`."""
    consent = record_consent(services, request, session)
    now = services.clock.now()
    code = new_secret(32)
    claims: dict[str, object] = {
        "redirect_uri": request.redirect_uri, "redirect_uri_given": request.redirect_uri_given,
        "code_challenge": request.code_challenge, "resources": list(request.resources), "nonce": request.nonce,
        "auth_time": session.auth_time, "sid": session.sid, GRANT_CLAIM: consent.grant_id,
        "family": uuid.uuid4().hex}
    work.add_token(TokenRecord(
        token_hash=services.hasher.keyed_hash(code), realm=request.realm.name, jti=os.urandom(16).hex(), kind="code",
        client_id=request.client.client_id, sub=session.user.id, scopes=request.scopes, issued_at=now,
        expires_at=now + CODE_LIFETIME, claims=claims))
    return code


def response_params(services: Services, request: AuthorizationRequest, values: dict[str, str]) -> dict[str, str]:
    """The authorization response's parameters (success or error): `state` when sent, and `iss` always."""
    out = dict(values)
    if request.state is not None:
        out["state"] = request.state
    out["iss"] = services.issuer(request.realm)
    return out


def error_params(services: Services, error: RedirectError) -> dict[str, str]:
    return response_params(services, error.request, {"error": error.error.error,
                                                     "error_description": error.error.description})


def refresh_wanted(realm: Realm, scopes: tuple[str, ...]) -> bool:
    """Whether the code flow issues a refresh token: when the realm issues them (which implies the refresh
    grant that redeems it, see `with_implied_refresh`), and, if the realm says so, `offline_access` is granted."""
    if not realm.settings.issue_refresh_tokens:
        return False
    return not realm.settings.refresh_requires_offline_access or "offline_access" in scopes
