"""Arbitrary JSON bodies never break registration: every answer is a 201-style success or one of the
registration's 400 errors (never a crash, never a 500)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credo.domain.errors import OAuthError
from credo.management.demo import ensure_demo
from credo.oauth.credentials import BearerToken
from credo.oauth.registration import RegistrationRequest, register, replace_registration
from credo.oauth.services import Services
from tests.factories import SEED_BODY
from tests.support import make_storage, run_async, services_for

FIELDS = ["redirect_uris", "grant_types", "response_types", "scope", "scopes", "token_endpoint_auth_method",
          "client_name", "jwks", "jwks_uri", "logo_uri", "client_uri", "contacts", "software_statement",
          "software_id", "client_id"]
URLISH = st.sampled_from(["https://a.example/cb", "http://localhost/cb", "https://[::1", "https://[bad]/x",
                          "javascript:x", "http://a@b/c", "https://a.example:70000/", "\x00", "", "https://"])
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30) | URLISH
JSON: st.SearchStrategy[Any] = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                                            | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
# Mostly one changed field (so validation reaches it), sometimes several.
ONE_FIELD = st.builds(lambda k, v: {k: v}, st.sampled_from(FIELDS), URLISH | st.lists(URLISH, max_size=3) | JSON)
BODIES = (ONE_FIELD | st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=6)).map(lambda d: {**SEED_BODY, **d})
ERRORS = {"invalid_client_metadata", "invalid_redirect_uri", "invalid_software_statement",
          "unapproved_software_statement"}


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    with make_storage("memory", tmp) as storage:
        services = services_for(storage, tmp)
        ensure_demo(services)
        yield services


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=BODIES, agent=st.booleans())
def test_any_body(services: Services, body: dict[str, Any], agent: bool) -> None:
    request = RegistrationRequest(realm=services.realm("alpha"), body=body, agent=agent)
    try:
        out = run_async(register(services, request))
    except OAuthError as exc:
        assert exc.status == 400 and exc.error in ERRORS, (exc.error, exc.detail)
        assert exc.description
        return
    assert out["client_id"] and out["registration_access_token"]


@pytest.fixture(scope="module")
def registered(services: Services) -> dict[str, Any]:
    return run_async(register(services, RegistrationRequest(realm=services.realm("alpha"), body=dict(SEED_BODY))))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=BODIES)
def test_any_update(services: Services, registered: dict[str, Any], body: dict[str, Any]) -> None:
    realm = services.realm("alpha")
    body = {**body, "client_id": registered["client_id"]}
    body.pop("client_secret", None)
    try:
        out = run_async(replace_registration(services, realm, registered["client_id"], body,
                                             BearerToken(registered["registration_access_token"])))
    except OAuthError as exc:
        assert exc.status == 400 and exc.error in ERRORS, (exc.error, exc.detail)
        return
    registered["registration_access_token"] = out["registration_access_token"]
    assert out["client_id"] == registered["client_id"]
