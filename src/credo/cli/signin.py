"""The browser sign-in options of `credo app create | update` and `credo client create`, in one place, with
the option pinning a client's authentication method and the one requiring DPoP (also on `credo agent`).

Their rules live in credo.management.client_signin; these only carry the values there."""

from __future__ import annotations

import json
from typing import Any

import typer

from credo.domain.models import Client

_URIS = "https, or http only on a loopback host; no fragment"
REDIRECT_URI: Any = typer.Option([], "--redirect-uri", help=f"A redirect URI of the code flow ({_URIS}; repeat).")
POST_LOGOUT: Any = typer.Option([], "--post-logout-redirect-uri", help="Where sign-out may return (repeat).")
RESOURCE: Any = typer.Option([], "--resource", help="An RFC 8707 resource identifier this client answers to, "
                                                     f"e.g. an MCP server's URL ({_URIS}; repeat).")
APPLICATION_TYPE_NEW: Any = typer.Option("web", "--application-type", help="web or native (OpenID Connect).")
SKIP_CONSENT_NEW: Any = typer.Option(False, "--skip-consent", help="First party: no consent page.")

_REPLACE = " Replaces the list when given; '' alone clears it."
REDIRECT_URI_CHANGE: Any = typer.Option([], "--redirect-uri", help=f"A redirect URI (repeat).{_REPLACE}")
POST_LOGOUT_CHANGE: Any = typer.Option([], "--post-logout-redirect-uri",
                                       help=f"A post-logout redirect URI (repeat).{_REPLACE}")
RESOURCE_CHANGE: Any = typer.Option([], "--resource", help=f"A resource identifier (repeat).{_REPLACE}")
APPLICATION_TYPE_CHANGE: Any = typer.Option(None, "--application-type", help="web or native.")
SKIP_CONSENT_CHANGE: Any = typer.Option(None, "--skip-consent/--no-skip-consent", help="First party: no consent page.")

_STRICT = ("Accept only the client's --auth-method (by default a client with a secret may send it in a Basic "
           "header or in the body alike).")
STRICT_AUTH_METHOD_NEW: Any = typer.Option(False, "--strict-auth-method", help=_STRICT)
STRICT_AUTH_METHOD_CHANGE: Any = typer.Option(None, "--strict-auth-method/--any-secret-method", help=_STRICT)

_DPOP = ("Every token request of the client needs a DPoP proof (RFC 9449 dpop_bound_access_tokens): its tokens "
         "are bound to the proof's key.")
DPOP_BOUND_NEW: Any = typer.Option(False, "--dpop-bound", help=_DPOP)
DPOP_BOUND_CHANGE: Any = typer.Option(None, "--dpop-bound/--no-dpop-bound", help=_DPOP)


JWKS_FILE: Any = typer.Option(None, "--jwks", help="private_key_jwt: a file holding the client's public JWK Set.")
JWKS_URI: Any = typer.Option(None, "--jwks-uri", help="private_key_jwt: an https URL serving the client's JWK Set.")
SIGNING_ALG: Any = typer.Option(None, "--signing-alg", help="private_key_jwt: the one algorithm its assertions use "
                                                             "(ES256, RS256, PS256, EdDSA, ...); default any asymmetric.")


def keys(jwks_file: str | None, jwks_uri: str | None, signing_alg: str | None) -> dict[str, Any] | None:
    """The `keys` of a private_key_jwt client from the options (None when none was given)."""
    out: dict[str, Any] = {}
    if jwks_file:
        with open(jwks_file, encoding="utf-8") as f:
            out["jwks"] = json.load(f)
    if jwks_uri:
        out["jwks_uri"] = jwks_uri
    if signing_alg:
        out["token_endpoint_auth_signing_alg"] = signing_alg
    return out or None


def changes(redirect_uris: list[str], post_logout: list[str], resources: list[str], application_type: str | None,
            skip_consent: bool | None, strict_auth_method: bool | None = None) -> dict[str, Any]:
    """The changes the given options ask for (a list option given only as '' clears that list)."""
    out: dict[str, Any] = {} if strict_auth_method is None else {"strict_auth_method": strict_auth_method}
    for field, values in (("redirect_uris", redirect_uris), ("post_logout_redirect_uris", post_logout),
                          ("resources", resources)):
        if values:
            out[field] = tuple(v for v in values if v)
    if application_type is not None:
        out["application_type"] = application_type
    if skip_consent is not None:
        out["skip_consent"] = skip_consent
    return out


def shown(c: Client) -> dict[str, Any]:
    """What the commands print of a client (never a secret or its hash)."""
    return {"client_id": c.client_id, "name": c.name, "kind": c.kind, "grant_types": list(c.grant_types),
            "scopes": list(c.scopes), "auth_method": c.auth_method, "strict_auth_method": c.strict_auth_method,
            "application_type": c.application_type,
            "redirect_uris": list(c.redirect_uris), "post_logout_redirect_uris": list(c.post_logout_redirect_uris),
            "resources": list(c.resources), "skip_consent": c.skip_consent,
            "dpop_bound_access_tokens": c.dpop_bound,
            **{k: c.metadata[k] for k in ("jwks", "jwks_uri", "token_endpoint_auth_signing_alg") if k in c.metadata}}
