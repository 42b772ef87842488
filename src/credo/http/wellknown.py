"""Authorization server metadata at the host's root, with the issuer's path inserted after
`/.well-known/...` (RFC 8414 §3.1), as RFC 8414 and MCP clients look it up first.

`{issuer}/.well-known/openid-configuration` (OpenID Connect Discovery) stays where it is; these
paths serve the same document for `/.well-known/oauth-authorization-server{issuer path}` and
`/.well-known/openid-configuration{issuer path}`.
"""

from __future__ import annotations

ISSUER_PATHS = ("/am/oauth2/realms/root/realms/{realm}", "/am/oauth2/realms/root", "/am/oauth2")
DOCUMENTS = ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration")
ISSUER = "{issuer}"  # where the issuer path goes in an endpoint of the dispatch table
_REALM_ISSUER = "/am/oauth2/realms/root/realms/"
_ROOT_ISSUERS = ("/am/oauth2/realms/root", "/am/oauth2")


def well_known(path: str) -> tuple[str, dict[str, str]] | None:
    """The table endpoint (`<document>{issuer}`) and path parameters for a document path with an issuer
    path inserted, None for any other path."""
    for document in DOCUMENTS:
        if path.startswith(document) and path[len(document):len(document) + 1] == "/":
            issuer = path[len(document):]
            if issuer in _ROOT_ISSUERS:
                return document + ISSUER, {}
            realm = issuer[len(_REALM_ISSUER):] if issuer.startswith(_REALM_ISSUER) else ""
            if realm and "/" not in realm:
                return document + ISSUER, {"realm": realm}
            return None
    return None
