"""Discovery asked for at the host's root (where many clients look first) answers a 404 that says where
the realms' documents are: never a redirect, and never a redirect loop."""

from __future__ import annotations

import pytest

from tests.support import Server


@pytest.mark.parametrize("document", ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"])
def test_host_root_discovery_points_to_the_realms(sqlite_server: Server, document: str) -> None:
    with sqlite_server.client() as http:
        for path in (document, document + "/"):
            r = http.get(path)
            assert r.status_code == 404 and r.json()["error"] == "not_found", r.text
            assert "/am/oauth2/realms/root/realms/{realm}/.well-known/openid-configuration" in \
                r.json()["error_description"]
            assert r.headers["cache-control"] == "no-store"
        assert http.get(document + "/am/oauth2").status_code == 200  # RFC 8414's form for the root realm
