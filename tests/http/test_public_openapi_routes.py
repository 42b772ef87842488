"""The public OpenAPI description and the application's actual routes agree: every public route and
method the application serves (the Starlette route table and the fast lane's hot endpoints) is
described, and every described operation is served. The admin console and API have their own
description (see tests/http/test_admin_api.py)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.routing import BaseRoute, Mount, Route

from credo.app import build_app
from credo.http.fastlane import HOT_ENDPOINTS, REALM_PREFIX, ROOT_PREFIXES
from credo.http.openapi_public import spec_bytes
from credo.storage.memory import MemoryStorage
from tests import support
from tests.support import Server

SPEC: dict[str, Any] = json.loads(spec_bytes())
NOT_OPERATIONS = {"parameters", "servers", "summary", "description"}
Operation = tuple[str, str]  # (full path template, METHOD)


def _walk(routes: Iterable[BaseRoute], prefix: str = "") -> Iterator[Operation]:
    for route in routes:
        if isinstance(route, Mount):
            yield from _walk(route.routes, prefix + route.path)
        elif isinstance(route, Route):
            assert route.methods, f"{prefix}{route.path} answers every method"
            for method in route.methods - {"HEAD"}:  # Starlette adds HEAD to every GET route
                yield prefix + route.path, method
        else:
            raise AssertionError(f"unknown route type {type(route).__name__} at {prefix}")


def served_operations(tmp_path: Path) -> set[Operation]:
    app = build_app(support.test_settings(tmp_path), storage=MemoryStorage(), base_url="http://credo.test")
    routed = set(_walk(app.routes))
    hot = {(prefix + name, "POST") for name in HOT_ENDPOINTS
           for prefix in (REALM_PREFIX + "{realm}/", *ROOT_PREFIXES)}
    return {(path, method) for path, method in routed | hot if not path.startswith("/admin")}


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
