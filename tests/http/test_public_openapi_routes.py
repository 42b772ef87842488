"""The public OpenAPI description and the application's actual routes agree: every public endpoint and
method the dispatcher serves (its table, under every realm prefix) is described, and every described
operation is served; and the answers of the code flow a generator cannot reach (a token response with an
ID token, userinfo, a registered public client) are the ones described. The admin console and API have
their own description (see tests/http/test_admin_api.py)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator, ValidationError

from credo.http.dispatch import resolve
from credo.http.openapi_public import spec_bytes
from credo.http.routes import TABLE
from credo.http.wellknown import ISSUER, ISSUER_PATHS
from tests.factories import realm_settings
from tests.signin import browser_client, enable_code_flow, obtain_code, pkce, profile_user, redeem
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


def described(r: httpx.Response, path: str) -> Any:
    """The JSON body of `r`, an answer of the operation at `path`, checked against what the description says
    of its status: the schema of its media type and the required headers."""
    response = SPEC["paths"][path][r.request.method.lower()]["responses"][str(r.status_code)]
    if "$ref" in response:
        response = SPEC["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    schema = response["content"][r.headers["content-type"].split(";")[0]]["schema"]
    Draft202012Validator({**schema, "components": SPEC["components"]}).validate(r.json())
    for name, header in response.get("headers", {}).items():
        header = SPEC["components"]["headers"][header["$ref"].rsplit("/", 1)[1]] if "$ref" in header else header
        assert not header.get("required") or name.lower() in r.headers, name
    return r.json()


def test_the_code_flow_answers_as_described(sqlite_server: Server, sqlite_demo: dict[str, str]) -> None:
    services, base = sqlite_server.services, sqlite_server.realm_url("alpha")
    enable_code_flow(services)
    realm_settings(services, allow_open_registration=True)
    browser_client(services, post_logout_redirect_uris=("https://app.example/bye",))
    profile_user(services)
    challenge = pkce()
    with sqlite_server.client() as http:
        doc = described(http.get(f"{base}/.well-known/openid-configuration"), "/.well-known/openid-configuration")
        assert doc["end_session_endpoint"] == f"{base}/connect/endSession"
        code = obtain_code(http, base, challenge=challenge, scope="openid profile email")["code"]
        tokens = described(redeem(http, base, code, challenge), "/access_token")
        assert {"id_token", "refresh_token"} <= set(tokens)
        refreshed = described(http.post(f"{base}/access_token", data={
            "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": "web-app"}),
            "/access_token")
        assert {"id_token", "refresh_token"} <= set(refreshed)
        bearer = {"Authorization": f"Bearer {refreshed['access_token']}"}
        claims = described(http.get(f"{base}/userinfo", headers=bearer), "/userinfo")
        assert set(claims) == {"sub", "name", "preferred_username", "email"}
        refused = http.post(f"{base}/userinfo", headers={"Authorization": "Bearer nothing-known"})
        assert described(refused, "/userinfo")["error"] == "invalid_token" and refused.status_code == 401
        native = described(http.post(f"{base}/register", json={
            "grant_types": ["authorization_code", "refresh_token"], "token_endpoint_auth_method": "none",
            "application_type": "native", "redirect_uris": ["http://127.0.0.1/callback"],
            "post_logout_redirect_uris": ["http://127.0.0.1/bye"], "scope": "openid"}), "/register")
        described(http.get(f"{base}/register/{native['client_id']}",
                           headers={"Authorization": f"Bearer {native['registration_access_token']}"}),
                  "/register/{client_id}")
        assert native["application_type"] == "native" and "client_secret" not in native


@pytest.mark.parametrize("path, body", [
    ("/.well-known/openid-configuration", {"issuer": "i", "token_endpoint": "t", "jwks_uri": "j",
                                           "introspection_endpoint": "i", "revocation_endpoint": "r",
                                           "registration_endpoint": "r", "grant_types_supported": [],
                                           "authorization_endpoint": "a"}),  # without the code flow's fields
    ("/userinfo", {"sub": "u", "phone_number": "+1"}),
    ("/userinfo", {"name": "n"}),
])
def test_the_check_notices_an_answer_unlike_the_description(path: str, body: dict[str, Any]) -> None:
    r = httpx.Response(200, json=body, request=httpx.Request("GET", f"http://credo.test{path}"))
    with pytest.raises(ValidationError):
        described(r, path)
