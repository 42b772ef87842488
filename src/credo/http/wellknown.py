"""Authorization server metadata at the host's root, with the issuer's path inserted after
`/.well-known/...` (RFC 8414 §3.1), as RFC 8414 and MCP clients look it up first.

`{issuer}/.well-known/openid-configuration` (OpenID Connect Discovery) stays where it is; these
routes serve the same document for `/.well-known/oauth-authorization-server{issuer path}` and
`/.well-known/openid-configuration{issuer path}`.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount, Route

from credo.http.discovery import discovery

ISSUER_PATHS = ("/am/oauth2/realms/root/realms/{realm}", "/am/oauth2/realms/root", "/am/oauth2")


def well_known_routes() -> list[BaseRoute]:
    paths = [Route(p, discovery, methods=["GET"]) for p in ISSUER_PATHS]
    return [Mount("/.well-known/oauth-authorization-server", routes=paths),
            Mount("/.well-known/openid-configuration", routes=paths)]
