"""Per-realm OAuth2 provider settings (the "OAuth2 Provider service" of the admin console).

Documented data with defaults; validated when an administrator changes it.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator, model_validator

GRANT_CLIENT_CREDENTIALS = "client_credentials"
GRANT_PASSWORD = "password"
GRANT_TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
GRANT_REFRESH_TOKEN = "refresh_token"
GRANT_AUTHORIZATION_CODE = "authorization_code"
GRANT_JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"  # RFC 7523 §2.1: workload tokens, ID-JAGs
KNOWN_GRANT_TYPES = (GRANT_CLIENT_CREDENTIALS, GRANT_PASSWORD, GRANT_TOKEN_EXCHANGE, GRANT_REFRESH_TOKEN,
                     GRANT_AUTHORIZATION_CODE, GRANT_JWT_BEARER)
# Scopes that let a client see or do more than its own business (introspect every token, administer
# identities): never granted through open (anonymous) registration, whatever the allowlist says.
DEFAULT_PRIVILEGED_SCOPES = ("am-introspect-all-tokens", "fr:idm:*")
# Grant types an anonymous registration may ask for by default: everything but the password grant.
DEFAULT_OPEN_REGISTRATION_GRANTS = (GRANT_CLIENT_CREDENTIALS, GRANT_TOKEN_EXCHANGE, GRANT_REFRESH_TOKEN,
                                    GRANT_AUTHORIZATION_CODE, "implicit")
# Grants a public client may use: the code flow (with PKCE) and refreshing what it gave.
PUBLIC_CLIENT_GRANTS = (GRANT_AUTHORIZATION_CODE, GRANT_REFRESH_TOKEN)
MAX_ACCESS_TOKEN_LIFETIME = 86400 * 30  # seconds: the longest access token a realm or a client may ask for

# Grants that issue a refresh token along with the access token (when the realm's `issue_refresh_tokens` is on).
REFRESH_ISSUING_GRANTS = (GRANT_PASSWORD, GRANT_AUTHORIZATION_CODE)

# Grants only an authenticated (confidential) client may use: a public client (`none`) has no secret,
# so anyone who knows its id would act as it (RFC 6749 §4.4; RFC 8693 §5 on unauthenticated exchange).
CONFIDENTIAL_GRANTS = (GRANT_CLIENT_CREDENTIALS, GRANT_TOKEN_EXCHANGE)


def public_client_grant(auth_method: str, grant_types: tuple[str, ...] | list[str]) -> str | None:
    """The first grant a client with `auth_method` may not use, or None: a public client may use the code
    flow (with PKCE) and refresh what it got, nothing else."""
    if auth_method != "none":
        return None
    return next((g for g in grant_types if g not in PUBLIC_CLIENT_GRANTS), None)


def with_implied_refresh(grant_types: tuple[str, ...], issue_refresh_tokens: bool) -> tuple[str, ...]:
    """A realm's or a client's grant list as the token endpoint applies it: issuing refresh tokens implies
    the grant that redeems them, so `refresh_token` is added when refresh tokens are issued and the list has
    a grant that issues them (password, authorization_code)."""
    if (issue_refresh_tokens and GRANT_REFRESH_TOKEN not in grant_types
            and any(g in REFRESH_ISSUING_GRANTS for g in grant_types)):
        return (*grant_types, GRANT_REFRESH_TOKEN)
    return tuple(grant_types)


TokenFormat = Literal["stateful", "stateless"]


PRIVATE_JWK_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
PUBLIC_KTYS = ("RSA", "EC", "OKP")
MAX_JWKS_BYTES = 32_768  # an inline JWK Set trusted by a realm, as JSON (twenty RSA-4096 keys fit)
MAX_TRUSTED_KEYS = 20


class KeySource(BaseModel):
    """Public keys an administrator trusts: an inline JWKS or a jwks_uri (fetched with an SSRF guard)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    jwks: dict[str, object] | None = Field(default=None, description="An inline JWK Set with public keys.")
    jwks_uri: HttpUrl | None = Field(default=None, description="A URL serving a JWK Set (https only in production).")
    issuers: tuple[str, ...] = Field(default=(), description="Accepted `iss` values; empty accepts any issuer.")

    @field_validator("jwks")
    @classmethod
    def _public_jwk_set(cls, jwks: dict[str, object] | None) -> dict[str, object] | None:
        return public_jwk_set(jwks)


def public_jwk_set(jwks: dict[str, object] | None) -> dict[str, object] | None:
    """A JWK Set of at most MAX_TRUSTED_KEYS public RSA, EC or OKP keys, MAX_JWKS_BYTES as JSON."""
    if jwks is None:
        return None
    if len(json.dumps(jwks)) > MAX_JWKS_BYTES:
        raise ValueError(f"a JWK Set of at most {MAX_JWKS_BYTES} bytes")
    keys = jwks.get("keys")
    if not isinstance(keys, list) or not 1 <= len(keys) <= MAX_TRUSTED_KEYS:
        raise ValueError(f"a JWK Set object with a 'keys' array of 1 to {MAX_TRUSTED_KEYS} keys")
    for key in keys:
        if not isinstance(key, dict) or key.get("kty") not in PUBLIC_KTYS:
            raise ValueError("every key an RSA, EC or OKP public key (a JSON object with its 'kty')")
        if any(member in key for member in PRIVATE_JWK_MEMBERS):
            raise ValueError("public keys only: private key material is not allowed")
    return jwks


FEDERATION_ALGS = ("ES256", "ES384", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA")
MAX_FEDERATION_ENTRIES = 50  # trusted issuers, and ID-JAG rules, per realm


class _FederatedKeys(BaseModel):
    """An external issuer's public keys: an inline JWK Set or a jwks_uri (fetched through the SSRF guard)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    issuer: str = Field(min_length=1, max_length=2048, description="The exact `iss` of the issuer's tokens.")
    jwks: dict[str, object] | None = Field(default=None, description="An inline JWK Set with public keys.")
    jwks_uri: HttpUrl | None = Field(default=None, description="A URL serving the JWK Set (https in production).")
    algorithms: tuple[str, ...] = Field(default=("ES256", "RS256"), min_length=1,
                                        description=f"Accepted signature algorithms, among {', '.join(FEDERATION_ALGS)}.")

    @field_validator("jwks")
    @classmethod
    def _public_jwk_set(cls, jwks: dict[str, object] | None) -> dict[str, object] | None:
        return public_jwk_set(jwks)

    @field_validator("algorithms")
    @classmethod
    def _asymmetric(cls, algs: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [a for a in algs if a not in FEDERATION_ALGS]
        if unknown:
            raise ValueError(f"unsupported algorithms {unknown}: use {', '.join(FEDERATION_ALGS)}")
        return algs


class WorkloadIssuer(_FederatedKeys):
    """Workload identity federation: a platform (Kubernetes, SPIFFE, a cloud) whose tokens authenticate agents
    of this realm, with no secret, as `client_assertion` (RFC 7523 §2.2) or the jwt-bearer grant (§2.1)."""

    audiences: tuple[str, ...] = Field(
        default=(), description="Accepted `aud` values; empty accepts the realm's issuer or its token endpoint URL.")
    subjects: dict[str, str] = Field(
        default_factory=dict, description="Token `sub` (e.g. `system:serviceaccount:ns:name`, "
                                          "`spiffe://domain/path`) → the client id of the one agent it authenticates.")

    @model_validator(mode="after")
    def _one_key_source(self) -> WorkloadIssuer:
        if (self.jwks is None) == (self.jwks_uri is None):
            raise ValueError("exactly one of jwks and jwks_uri")
        return self


class IdJagIssuer(_FederatedKeys):
    """An identity provider whose ID-JAGs this realm redeems (the jwt-bearer grant): another realm of this
    Credo (`realm`, its own keys) or an external issuer (`jwks` or `jwks_uri`). The ID-JAG's `sub` must be the
    id of a user of this realm."""

    realm: str | None = Field(default=None, description="A realm of this Credo whose keys sign the ID-JAGs.")

    @model_validator(mode="after")
    def _one_key_source(self) -> IdJagIssuer:
        if sum(x is not None for x in (self.jwks, self.jwks_uri, self.realm)) != 1:
            raise ValueError("exactly one of realm, jwks and jwks_uri")
        return self


class IdJagRule(BaseModel):
    """As identity provider: which client may obtain an ID-JAG for which authorization server (`audience`) and
    resources, for which users or groups (both empty: every user of the realm), with which scopes."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    client_id: str = Field(min_length=1, description="The client here that may ask (token exchange).")
    audience: str = Field(min_length=1, description="The issuer of the authorization server the ID-JAG is for.")
    resources: tuple[str, ...] = Field(default=(), description="Allowed `resource` values; empty allows any.")
    users: tuple[str, ...] = Field(default=(), description="User ids allowed.")
    groups: tuple[str, ...] = Field(default=(), description="Groups whose members are allowed.")
    scopes: tuple[str, ...] = Field(default=(), description="Scopes the ID-JAG may carry.")
    target_client_id: str | None = Field(
        default=None, description="The client's id at the audience's authorization server (the ID-JAG's "
                                  "`client_id`); default: its id here.")


class Federation(BaseModel):
    """Agents without shared secrets: workload identity federation and Identity Assertion JWT Authorization
    Grants (ID-JAG, both as identity provider and as the receiving authorization server)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    workload_issuers: tuple[WorkloadIssuer, ...] = Field(default=(), max_length=MAX_FEDERATION_ENTRIES)
    id_jag_issuers: tuple[IdJagIssuer, ...] = Field(default=(), max_length=MAX_FEDERATION_ENTRIES)
    id_jag_rules: tuple[IdJagRule, ...] = Field(default=(), max_length=MAX_FEDERATION_ENTRIES)
    id_jag_lifetime: int = Field(default=300, ge=30, le=3600, description="Seconds an ID-JAG issued here lasts.")

    @model_validator(mode="after")
    def _distinct_issuers(self) -> Federation:
        for name, entries in (("workload_issuers", self.workload_issuers), ("id_jag_issuers", self.id_jag_issuers)):
            issuers = [e.issuer for e in entries]
            if len(set(issuers)) != len(issuers):
                raise ValueError(f"{name}: each issuer once")
        return self


class RegistrationPolicy(BaseModel):
    """Declarative rules evaluated on every registration create and update, on the final metadata."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    allowed_grant_types: tuple[str, ...] = Field(default=(), description="Empty allows every realm grant type.")
    allowed_scopes: tuple[str, ...] = Field(default=(), description="Empty allows the registration allowlist.")
    allowed_redirect_hosts: tuple[str, ...] = Field(default=(), description="Exact hosts; empty allows any host.")
    max_clients: int | None = Field(default=None, ge=0, description="Maximum dynamic clients in the realm.")
    rate_limit_per_minute: int | None = Field(default=None, ge=1, description="Registrations per source IP per minute.")


class RegistrationProtection(BaseModel):
    """Who may call /register and /aiagent/register."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    require_software_statement: bool = False
    software_statement_keys: KeySource = KeySource()
    require_signed_request: bool = False
    signed_request_keys: KeySource = KeySource()
    policy: RegistrationPolicy = RegistrationPolicy()


class ClientMetadataDocuments(BaseModel):
    """Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document): a `client_id` that is an
    https URL with a path names a JSON document the client publishes there, fetched and used as its
    registration."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    enabled: bool = Field(default=False, description="Accept URL client ids (fetched through the SSRF guard).")
    allowed_hosts: tuple[str, ...] = Field(
        default=(), description="Hosts whose documents are accepted; empty accepts any public host. "
                                "`.example.com` also accepts every name under example.com.")
    denied_hosts: tuple[str, ...] = Field(
        default=(), description="Hosts whose documents are refused, whatever allowed_hosts says (same forms).")

    @field_validator("allowed_hosts", "denied_hosts")
    @classmethod
    def _hosts(cls, hosts: tuple[str, ...]) -> tuple[str, ...]:
        out = []
        for host in hosts:
            name = host.strip().lower()
            if not name or len(name) > 253 or any(c in name for c in "/:@ *?#") or name in (".",):
                raise ValueError(f"{host!r}: a host name such as notes.example or .example.com")
            out.append(name)
        return tuple(dict.fromkeys(out))

    def host_allowed(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        if any(_host_matches(host, rule) for rule in self.denied_hosts):
            return False
        return not self.allowed_hosts or any(_host_matches(host, rule) for rule in self.allowed_hosts)


def _host_matches(host: str, rule: str) -> bool:
    return host.endswith(rule) and len(host) > len(rule) if rule.startswith(".") else host == rule


class ProviderSettings(BaseModel):
    """The OAuth2 provider configuration of one realm."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    grant_types: tuple[str, ...] = Field(
        default=(GRANT_CLIENT_CREDENTIALS,), description="Grant types enabled in this realm."
    )
    registration_scope_allowlist: tuple[str, ...] = Field(
        default=("openid", "profile", "email"),
        description="Scopes a dynamically registered client may ask for; also `scopes_supported` in discovery.",
    )
    allow_open_registration: bool = Field(
        default=False,
        description="When off, /register requires an initial access token carrying the `dcr_register` scope.",
    )
    privileged_scopes: tuple[str, ...] = Field(
        default=DEFAULT_PRIVILEGED_SCOPES,
        description="Scopes an anonymous (open) registration never gets, even when allowlisted: only an "
                    "administrator, an initial access token or a software statement can grant them. Not "
                    "advertised in discovery's scopes_supported.")
    open_registration_grant_types: tuple[str, ...] = Field(
        default=DEFAULT_OPEN_REGISTRATION_GRANTS,
        description="Grant types an anonymous (open) registration may ask for (within the realm's grants).")
    dcr_script: str | None = Field(default=None, description="ID of the DCR script run on registration events.")
    access_token_lifetime: int = Field(default=3600, ge=60, le=MAX_ACCESS_TOKEN_LIFETIME)
    refresh_token_lifetime: int = Field(default=86400 * 7, ge=60)
    registration_access_token_lifetime: int = Field(default=86400 * 30, ge=60)
    token_format: TokenFormat = Field(default="stateful", description="Default access token format in this realm.")
    signing_alg: Literal["ES256", "RS256"] = Field(default="ES256")
    issuer: str | None = Field(default=None, description="Overrides the issuer derived from the public URL.")
    max_delegation_depth: int = Field(default=3, ge=1, le=10, description="Deepest nested `act` chain allowed.")
    session_lifetime: int = Field(default=8 * 3600, ge=60, le=86400 * 30,
                                  description="Seconds a browser sign-in (the realm's SSO session) lasts.")
    pkce_optional_for_confidential_clients: bool = Field(
        default=False, description="Let clients that authenticate at the token endpoint skip PKCE (S256 is "
                                   "always required of public clients; `plain` is never accepted).")
    skip_consent_for_applications: bool = Field(
        default=False, description="Applications created by an administrator (first party) skip the consent page.")
    issue_refresh_tokens: bool = Field(
        default=True, description="The password grant and the code flow issue a refresh token, and the client may "
                                  "redeem it: `refresh_token` need not be in the realm's or the client's grant types "
                                  "(a list with `password` or `authorization_code` implies it). Off: they issue none, "
                                  "and only refresh tokens issued before can be redeemed, where both lists name "
                                  "`refresh_token`.")
    refresh_requires_offline_access: bool = Field(
        default=False, description="The code flow issues a refresh token only when `offline_access` is granted.")
    scope_descriptions: dict[str, str] = Field(
        default_factory=dict, description="What the consent page says of each scope (defaults for openid, "
                                          "profile, email and offline_access).")
    exchange_null_refresh_token: bool = Field(
        default=False, description="Token exchange answers `\"refresh_token\": null` (the shape of the guides' "
                                   "examples). Off: the member is left out, as RFC 8693 §2.2.1 allows and client "
                                   "libraries that want a string when it is present (openid-client) need.")
    dpop_nonce_required: bool = Field(
        default=False, description="Every DPoP proof must carry a server nonce (RFC 9449 §8): a proof without one, "
                                   "or with a stale one, is refused with `use_dpop_nonce` and the nonce to use in "
                                   "the `DPoP-Nonce` header. Off: a nonce is checked only when a proof carries one.")
    protection: RegistrationProtection = RegistrationProtection()
    client_id_metadata_documents: ClientMetadataDocuments = ClientMetadataDocuments()
    federation: Federation = Federation()

    def enabled_grant_types(self) -> tuple[str, ...]:
        """The grant types the token endpoint accepts in this realm: the list, with `refresh_token` implied
        by `issue_refresh_tokens` (see `with_implied_refresh`)."""
        return with_implied_refresh(self.grant_types, self.issue_refresh_tokens)
