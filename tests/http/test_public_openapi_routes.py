"""The public OpenAPI description and the application's actual routes agree: every public endpoint and
method the dispatcher serves (its table, under every realm prefix) is described, and every described
operation is served. The admin console and API have their own
description (see tests/http/test_admin_api.py)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from credo.http.dispatch import resolve
from credo.http.openapi_public import spec_bytes
from credo.http.routes import TABLE
from credo.http.wellknown import ISSUER, ISSUER_PATHS
from tests.support import Server

SPEC: dict[str, Any] = json.loads(spec_bytes())
NOT_OPERATIONS = {"parameters", "servers", "summary", "description"}
Operation = tuple[str, str]  # (full path template, METHOD)


def served_operations(_tmp_path: Path) -> set[Operation]:
    out: set[Operation] = set()
    for endpoint, method in TABLE:
        if method == "HEAD":  # every GET endpoint answers HEAD too
            continue
        if endpoint.startswith("/"):
            paths = [endpoint.replace(ISSUER, issuer) for issuer in ISSUER_PATHS] if ISSUER in endpoint else [endpoint]
        else:
            paths = [f"{issuer}/{endpoint}" for issuer in ISSUER_PATHS]
        for path in paths:  # the dispatcher finds this very endpoint at that path
            concrete = path.replace("{realm}", "alpha").replace("{client_id}", "some-client")
            assert resolve(concrete, method) is not None and resolve(concrete, method)[0] == endpoint, path
            out.add((path, method))
    return out


def described_operations(spec: dict[str, Any]) -> set[Operation]:
    out: set[Operation] = set()
    for path, item in spec["paths"].items():
        for server in item.get("servers", spec["servers"]):
            for method in set(item) - NOT_OPERATIONS:
                out.add((server["url"].rstrip("/") + path, method.upper()))
    return out


def test_every_public_route_is_described_and_every_description_is_served(tmp_path: Path) -> None:
    served = served_operations(tmp_path)
    described = described_operations(SPEC)
    assert len(served) >= 40  # three realm prefixes, the well-known documents, the description itself
    assert sorted(served - described) == [], "served but not in openapi_public.json"
    assert sorted(described - served) == [], "in openapi_public.json but not served"


@pytest.mark.parametrize("path, method", [
    ("/.well-known/oauth-authorization-server/am/oauth2/realms/root/realms/{realm}", "get"),
    ("/.well-known/openid-configuration/am/oauth2", "get"),
    ("/register", "put"),
    ("/access_token", "post"),
    ("/openapi.json", "get"),
])
def test_the_comparison_notices_a_missing_operation(tmp_path: Path, path: str, method: str) -> None:
    spec = copy.deepcopy(SPEC)
    del spec["paths"][path][method]
    missing = served_operations(tmp_path) - described_operations(spec)
    assert missing and all(p.endswith(path) and m == method.upper() for p, m in missing), missing


def test_every_described_well_known_route_answers(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    inserted = [p for p in SPEC["paths"] if p.startswith("/.well-known/") and "/am/oauth2" in p]
    assert len(inserted) == 6
    with sqlite_server.client() as http:
        for path in inserted:
            r = http.get(path.replace("{realm}", "alpha"))
            assert r.status_code == 200, path
            realm = "alpha" if "{realm}" in path else "root"
            assert r.json()["issuer"] == sqlite_server.realm_url(realm), path
        assert http.get("/.well-known/openid-configuration/am/oauth2/realms/root/realms/nowhere").status_code == 404
