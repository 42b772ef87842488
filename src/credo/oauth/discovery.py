"""OpenID Connect discovery and OAuth 2.0 authorization server metadata (RFC 8414)."""

from __future__ import annotations

from typing import Any

from credo.domain.models import Realm
from credo.domain.settings import GRANT_AUTHORIZATION_CODE, GRANT_JWT_BEARER, GRANT_TOKEN_EXCHANGE
from credo.keys.dpop import PROOF_ALGS
from credo.keys.jose import ASYMMETRIC_ALGS
from credo.oauth.authorization import RESPONSE_MODES
from credo.oauth.federation import ID_JAG_TOKEN_TYPE
from credo.oauth.id_jag import ID_JAG_GRANT_PROFILE, ID_TOKEN_TYPE
from credo.oauth.oidc import CLAIMS_SUPPORTED
from credo.oauth.services import Services

AUTH_METHODS = ["client_secret_post", "client_secret_basic", "none", "private_key_jwt"]
# private_key_jwt assertions: asymmetric algorithms only (never HS*, never none)
ASSERTION_ALGS = sorted(ASYMMETRIC_ALGS)


def discovery_document(services: Services, realm: Realm) -> dict[str, Any]:
    issuer = services.issuer(realm)
    base = f"{services.base_url}{realm.url_path}"
    s = realm.settings
    return {
        "issuer": issuer,
        "token_endpoint": f"{base}/access_token",
        "introspection_endpoint": f"{base}/introspect",
        "revocation_endpoint": f"{base}/token/revoke",
        "registration_endpoint": f"{base}/register",
        "ai_agent_registration_endpoint": f"{base}/aiagent/register",
        "tokeninfo_endpoint": f"{base}/tokeninfo",
        "jwks_uri": f"{base}/connect/jwk_uri",
        "scopes_supported": [x for x in s.registration_scope_allowlist if x not in s.privileged_scopes],
        "grant_types_supported": list(s.enabled_grant_types()),
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "introspection_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "revocation_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "jti", "scope", "client_id", "act"],
        "request_parameter_supported": False,
        "dpop_signing_alg_values_supported": list(PROOF_ALGS),  # RFC 9449 §5.1
        "token_exchange_token_types_supported": [
            "urn:ietf:params:oauth:token-type:access_token", "urn:ietf:params:oauth:token-type:jwt",
            *([ID_TOKEN_TYPE, ID_JAG_TOKEN_TYPE] if _issues_id_jags(realm) else [])],
        **({"authorization_grant_profiles_supported": [ID_JAG_GRANT_PROFILE]} if _redeems_id_jags(realm) else {}),
        **(_browser_sign_in(base, realm) if GRANT_AUTHORIZATION_CODE in s.grant_types else {}),
        **({"client_id_metadata_document_supported": True} if s.client_id_metadata_documents.enabled else {}),
    }


def _issues_id_jags(realm: Realm) -> bool:
    """As identity provider: token exchange is on and some client may obtain ID-JAGs."""
    s = realm.settings
    return GRANT_TOKEN_EXCHANGE in s.grant_types and bool(s.federation.id_jag_rules)


def _redeems_id_jags(realm: Realm) -> bool:
    """As the receiving authorization server (draft-ietf-oauth-identity-assertion-authz-grant, metadata)."""
    s = realm.settings
    return GRANT_JWT_BEARER in s.grant_types and bool(s.federation.id_jag_issuers)


def _browser_sign_in(base: str, realm: Realm) -> dict[str, Any]:
    """What a realm with the code flow serves (and only such a realm: discovery lists what is served)."""
    return {
        "authorization_endpoint": f"{base}/authorize",
        "userinfo_endpoint": f"{base}/userinfo",
        "end_session_endpoint": f"{base}/connect/endSession",
        "response_types_supported": ["code"],
        "response_modes_supported": list(RESPONSE_MODES),
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
        "id_token_signing_alg_values_supported": [realm.settings.signing_alg],
        "subject_types_supported": ["public"],
        "claims_supported": CLAIMS_SUPPORTED,
        "prompt_values_supported": ["none", "login", "consent"],
        "resource_indicators_supported": True,
    }
