"""The route table: every public endpoint of a realm, under the seeds' paths."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount, Route

from credo.http import discovery, introspect, openapi_public, register, revoke, token, tokeninfo
from credo.http.wellknown import well_known_routes

REALM_PREFIX = "/am/oauth2/realms/root/realms/{realm}"
ROOT_PREFIX = "/am/oauth2"


def realm_routes(extra: list[BaseRoute] | None = None) -> list[BaseRoute]:
    return [
        Route("/.well-known/openid-configuration", discovery.discovery, methods=["GET"]),
        Route("/.well-known/oauth-authorization-server", discovery.discovery, methods=["GET"]),
        Route("/connect/jwk_uri", discovery.jwks, methods=["GET"]),
        Route("/access_token", token.token, methods=["POST"]),
        Route("/introspect", introspect.introspect, methods=["POST"]),
        Route("/tokeninfo", tokeninfo.tokeninfo, methods=["GET", "POST"]),
        Route("/token/revoke", revoke.revoke, methods=["POST"]),
        Route("/register", register.register_client, methods=["POST", "GET", "PUT", "DELETE"]),
        Route("/register/{client_id}", register.manage, methods=["GET", "PUT", "DELETE"]),
        Route("/aiagent/register", register.register_agent, methods=["POST"]),
        *(extra or []),
    ]


def public_routes(extra: list[BaseRoute] | None = None) -> list[BaseRoute]:
    routes = realm_routes(extra)
    return [Route("/am/oauth2/openapi.json", openapi_public.openapi, methods=["GET"]),
            Mount(REALM_PREFIX, routes=routes), Mount("/am/oauth2/realms/root", routes=routes),
            Mount(ROOT_PREFIX, routes=routes), *well_known_routes()]
