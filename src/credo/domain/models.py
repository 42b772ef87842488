"""Entities stored by Credo. Frozen dataclasses: change one with `dataclasses.replace`."""

from __future__ import annotations

from dataclasses import field
from typing import Any, Literal

from credo.domain.settings import MAX_ACCESS_TOKEN_LIFETIME, ProviderSettings
from credo.domain.values import value_object

ClientKind = Literal["client", "application", "agent"]
AUTH_METHODS = ("client_secret_post", "client_secret_basic", "none", "private_key_jwt")
KEY_AUTH_METHOD = "private_key_jwt"  # RFC 7523 §2.2: a JWT signed with the client's own key (its jwks / jwks_uri)
SECRET_METHODS = ("client_secret_post", "client_secret_basic")  # interchangeable unless pinned

DPOP_BOUND = "dpop_bound_access_tokens"  # registration metadata (RFC 9449 §5.2), kept in Client.metadata

# Client attributes that drive real settings (the DCR script's `clientIdentity.setAttribute`).
ATTR_OVERRIDES_ENABLED = "providerOverridesEnabled"
ATTR_STATELESS = "statelessTokensEnabled"
ATTR_ACCEPT_AUDIENCE = "acceptAudienceParametersInTokenExchangeRequests"
ATTR_ACCESS_TOKEN_LIFETIME = "accessTokenLifetime"
ATTR_AGENT_UID = "aiAgentIdentityUid"
ATTR_AGENT_TYPE = "AgentType"
# Set by an administrator: a client with a secret accepts only its registered method, not both.
ATTR_STRICT_AUTH_METHOD = "strictAuthMethod"
# The provider overrides, which take effect only while `providerOverridesEnabled` is on, as the console
# labels them (the guides' names in parentheses).
OVERRIDES_LABEL = "Enable OAuth2 Provider Overrides (providerOverridesEnabled)"
OVERRIDE_LABELS = {
    ATTR_STATELESS: "Use Client-Side Access & Refresh Tokens (statelessTokensEnabled)",
    ATTR_ACCEPT_AUDIENCE: "Accept audience parameters in token exchange requests "
                          "(acceptAudienceParametersInTokenExchangeRequests)",
    ATTR_ACCESS_TOKEN_LIFETIME: "Access token lifetime (accessTokenLifetime)",
}


def _truthy(values: list[str] | None) -> bool:
    return bool(values) and str(values[0]).lower() == "true"  # type: ignore[index]


@value_object
class Realm:
    name: str  # "root" or a sub-realm name such as "alpha"
    settings: ProviderSettings = field(default_factory=ProviderSettings)
    created_at: int = 0

    @property
    def path(self) -> str:
        """The realm as shown in introspection (`/alpha`; `/` for the root realm)."""
        return "/" if self.name == "root" else f"/{self.name}"

    @property
    def url_path(self) -> str:
        return "/am/oauth2" if self.name == "root" else f"/am/oauth2/realms/root/realms/{self.name}"


@value_object
class Client:
    realm: str
    client_id: str
    secret_hash: str | None = None
    kind: ClientKind = "client"
    name: str = ""
    grant_types: tuple[str, ...] = ("client_credentials",)
    scopes: tuple[str, ...] = ()
    auth_method: str = "client_secret_basic"
    redirect_uris: tuple[str, ...] = ()
    response_types: tuple[str, ...] = ()
    attributes: dict[str, list[str]] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)  # other RFC 7591 fields, stored verbatim
    enabled: bool = True
    dynamic: bool = False
    created_at: int = 0
    updated_at: int = 0
    app_type: str | None = None  # applications: "web" or "service"
    owners: tuple[str, ...] = ()
    registration_token_hash: str | None = None
    registration_token_expires_at: int | None = None
    # Browser sign-in (authorization code flow):
    application_type: str = "web"  # RFC 7591 / OIDC registration: "web" or "native"
    post_logout_redirect_uris: tuple[str, ...] = ()  # RP-initiated logout
    skip_consent: bool = False  # a first-party application set up by an administrator: no consent page
    # RFC 8707 resource identifiers this client answers to as a resource server (absolute URLs, e.g. an
    # MCP server's URL): `resource=<url>` on any grant means this client, and its tokens' `aud` is the URL.
    resources: tuple[str, ...] = ()
    # The stored row's version: every update moves it by one and succeeds only if the stored version is
    # still this one (compare-and-swap), so a write based on an older read never undoes a newer change.
    version: int = 0

    @property
    def is_public(self) -> bool:
        return self.auth_method == "none"

    @property
    def is_agent(self) -> bool:
        return self.kind == "agent"

    @property
    def dpop_bound(self) -> bool:
        """RFC 9449 §5.2 `dpop_bound_access_tokens`: every token request of this client needs a DPoP proof."""
        return self.metadata.get(DPOP_BOUND) is True

    @property
    def strict_auth_method(self) -> bool:
        """An administrator pinned the registered method (the `strictAuthMethod` attribute)."""
        return _truthy(self.attributes.get(ATTR_STRICT_AUTH_METHOD))

    def accepts_auth_method(self, method: str) -> bool:
        """Whether a request authenticated with `method` may be this client's: its registered method, or
        for a client with a secret either way of sending it (Basic header or body) unless it is pinned.
        A public client (`none`) only ever `none`, and a client with a secret never `none`."""
        if method == self.auth_method:
            return True
        return not self.strict_auth_method and method in SECRET_METHODS and self.auth_method in SECRET_METHODS

    @property
    def overrides_enabled(self) -> bool:
        return _truthy(self.attributes.get(ATTR_OVERRIDES_ENABLED))

    @property
    def stateless_tokens(self) -> bool | None:
        """The client's token-format override, or None to follow the realm."""
        if ATTR_STATELESS not in self.attributes or not self.overrides_enabled:
            return None
        return _truthy(self.attributes.get(ATTR_STATELESS))

    @property
    def accepts_audience(self) -> bool:
        return self.overrides_enabled and _truthy(self.attributes.get(ATTR_ACCEPT_AUDIENCE))

    @property
    def inert_overrides(self) -> tuple[str, ...]:
        """The overrides this client has set (attribute names) that do nothing because overrides are off."""
        if self.overrides_enabled:
            return ()
        return tuple(name for name in OVERRIDE_LABELS if (self.attributes.get(name) if name == ATTR_ACCESS_TOKEN_LIFETIME
                                                           else _truthy(self.attributes.get(name))))

    @property
    def access_token_lifetime(self) -> int | None:
        values = self.attributes.get(ATTR_ACCESS_TOKEN_LIFETIME)
        if not values or not self.overrides_enabled:
            return None
        try:  # a script or an administrator may store anything: clamped to what a realm may ask for
            return min(MAX_ACCESS_TOKEN_LIFETIME, max(60, int(values[0])))
        except ValueError:
            return None


@value_object
class User:
    realm: str
    id: str  # a UUID: the `sub` of the user's tokens
    username: str
    password_hash: str
    active: bool = True
    created_at: int = 0
    name: str = ""  # optional profile attributes, released with the `profile` / `email` scopes
    email: str = ""


@value_object
class Group:
    realm: str
    name: str
    members: tuple[str, ...] = ()  # user ids


@value_object
class ApplicationPolicy:
    """An AI agent may reach `application` for these subjects/groups with these permissions."""

    realm: str
    agent_id: str
    application_id: str
    subjects: tuple[str, ...] = ()  # user ids
    subject_groups: tuple[str, ...] = ()  # group names
    permissions: tuple[str, ...] = ()  # empty: every scope of the application


@value_object
class Script:
    realm: str
    id: str
    name: str
    source: str
    description: str = ""
    type: str = "OAUTH2_DYNAMIC_CLIENT_REGISTRATION"
    created_at: int = 0
    updated_at: int = 0


@value_object
class TokenRecord:
    """A stateful token: only the keyed hash of the bearer value is stored."""

    token_hash: str
    realm: str
    jti: str
    # "code": an authorization code (single use, 60 s); "session": a browser sign-in session (the cookie's
    # value is the bearer secret); their `claims` hold what redemption and sign-in need.
    kind: Literal["access_token", "refresh_token", "code", "session"]
    client_id: str
    sub: str
    scopes: tuple[str, ...]
    issued_at: int
    expires_at: int
    claims: dict[str, Any] = field(default_factory=dict)  # aud, act, grant_type, authGrantId, ...


@value_object
class Consent:
    """What a user allowed a client (browser sign-in): the scopes and resources, remembered so the consent
    page is not shown again for them. `grant_id` is carried by every token issued under this consent
    (claim `gid`): revoking the consent (the user's "My account" page) revokes them all at once."""

    realm: str
    user_id: str
    client_id: str
    scopes: tuple[str, ...]
    resources: tuple[str, ...]
    grant_id: str
    created_at: int = 0
    updated_at: int = 0


@value_object
class SigningKey:
    realm: str
    kid: str
    alg: str
    private_key_encrypted: bytes
    public_jwk: dict[str, Any]
    created_at: int
    active: bool = True
    # When retired: the public key stays published until this instant (the longest token it signed expires).
    publish_until: int | None = None


@value_object
class SealedDataKey:
    """The data key (envelope encryption), sealed by a master key: it seals the private signing keys and
    keys the hashes of secrets and tokens. `master_id` names the master key that sealed it (a keyed
    fingerprint, never the key)."""

    name: str
    sealed: bytes
    master_id: str
    created_at: int
    updated_at: int


@value_object
class AuditEvent:
    realm: str
    action: str  # e.g. "token_exchange", "client.create", "settings.update"
    actor: str  # admin username, client id, or "anonymous"
    decision: Literal["allow", "deny", "info"] = "info"
    target: str = ""
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    ts: int = 0
    id: int | None = None


AUDIT_TEXT_MAX = 1024  # characters kept of any one audit value (a 255-character id pair fits whole)
AUDIT_ITEMS_MAX = 50  # items kept of a list or object inside `details`


def bounded_audit_event(event: AuditEvent) -> AuditEvent:
    """`event` with every text cut to AUDIT_TEXT_MAX characters and every list or object in `details` to
    AUDIT_ITEMS_MAX items, so that no caller (an anonymous one included) can make one audit row large.
    An event within the bounds is returned as it is."""
    texts = (event.actor, event.target, event.reason)
    if _within(event.details, 0) and all(len(t) <= AUDIT_TEXT_MAX for t in texts):
        return event  # the usual case: checked without building a copy
    details = _bounded(event.details, 0)
    actor, target, reason = (_cut(t) for t in texts)
    return AuditEvent(realm=event.realm, action=event.action, actor=actor, decision=event.decision, target=target,
                      reason=reason, details=details, ts=event.ts, id=event.id)


def _cut(text: str) -> str:
    if len(text) <= AUDIT_TEXT_MAX:
        return text
    return f"{text[:AUDIT_TEXT_MAX]}...[{len(text) - AUDIT_TEXT_MAX} more characters]"


def _within(value: Any, depth: int) -> bool:
    """Whether `_bounded(value, depth)` would leave `value` as it is (loops, not generators: it runs for
    every audit event)."""
    if isinstance(value, str):
        return len(value) <= AUDIT_TEXT_MAX
    if not isinstance(value, dict | list):
        return True
    if depth >= 4 or len(value) > AUDIT_ITEMS_MAX:
        return False
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or len(key) > AUDIT_TEXT_MAX or not _within(item, depth + 1):
                return False
        return True
    for item in value:
        if not _within(item, depth + 1):
            return False
    return True


def _bounded(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return _cut(value)
    if depth >= 4 and isinstance(value, (dict, list)):
        return "[nested too deep]"
    if isinstance(value, dict):
        return {_cut(str(k)): _bounded(v, depth + 1) for k, v in list(value.items())[:AUDIT_ITEMS_MAX]}
    if isinstance(value, list):
        return [_bounded(v, depth + 1) for v in value[:AUDIT_ITEMS_MAX]]
    return value


@value_object
class AdminUser:
    username: str
    password_hash: str
    created_at: int = 0
    must_change_password: bool = False
