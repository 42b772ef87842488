"""Property-based fuzzing of the public endpoints from their published OpenAPI description.

A bounded number of generated requests per operation (positive and negative data) against a real
server: no 5xx, status codes, content types, headers and bodies as the description says. The longer
release run is described in SECURITY.md (FUZZ_EXAMPLES environment variable).
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from credo.http.openapi_public import spec_bytes
from credo.management.clients import create_client
from credo.management.demo import ensure_demo
from tests.support import Server, live_server, make_storage

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
SPEC = Path(__file__).resolve().parents[2] / "src" / "credo" / "http" / "openapi_public.json"
schema = schemathesis.openapi.from_path(str(SPEC))
PATHS = json.loads(SPEC.read_bytes())["paths"]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


class Target:
    def __init__(self, srv: Server, basic: str) -> None:
        self.srv = srv
        self.basic = basic


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    # A live server: schemathesis sends its cases with its own HTTP client (requests) over a socket.
    tmp = tmp_path_factory.mktemp("fuzz")
    with make_storage("sqlite", tmp) as storage, live_server(storage, tmp) as srv:
        ensure_demo(srv.services)
        _, secret = create_client(srv.services, "alpha", "fuzz-basic", scopes=("data-read",),
                                  auth_method="client_secret_basic")
        basic = base64.b64encode(f"fuzz-basic:{secret}".encode()).decode()
        yield Target(srv, basic)


def test_served_description_is_the_file(target: Target) -> None:
    r = httpx.get(target.srv.base_url + "/am/oauth2/openapi.json")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.content == spec_bytes() == SPEC.read_bytes()
    assert r.json()["openapi"].startswith("3.1")


@pytest.mark.filterwarnings("ignore:Skipped test cases with unsupported payload media types")
@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_public_endpoints(case: Any, target: Target) -> None:
    headers: dict[str, str] = {}
    if case.operation.path in ("/access_token", "/introspect", "/token/revoke") and not (case.headers or {}).get(
            "Authorization"):
        headers["Authorization"] = f"Basic {target.basic}"
    start = time.monotonic()
    servers = PATHS[case.operation.path].get("servers")  # the host-root routes name their own server
    base_url = target.srv.base_url + servers[0]["url"].rstrip("/") if servers else target.srv.realm_url("alpha")
    case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS, timeout=10)
    assert time.monotonic() - start < 10
