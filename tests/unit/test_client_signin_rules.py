"""The browser sign-in rules of management/client_signin.py for callers that hand the use cases values
straight from code (the surfaces' own type checks come first), and the storage's refusal of a resource
identifier that another client took meanwhile, turned into the same clear error as the check before it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from credo.domain.errors import InvalidRequest
from credo.management import clients as client_use_cases
from credo.management.applications import create_application, update_application
from credo.management.client_signin import uri_problem
from credo.management.realms import ensure_realm
from credo.oauth.services import Services
from credo.storage.memory import MemoryStorage
from credo.storage.protocols import Storage
from tests.support import SIGNIN_FIELDS_MISSING, keeps_signin_fields, services_for

MCP = "https://mcp.example.com/mcp"


@pytest.fixture
def services(tmp_path: Path) -> Services:
    services = services_for(MemoryStorage(), tmp_path)  # type: ignore[arg-type]
    ensure_realm(services, "alpha")
    create_application(services, "alpha", "app", name="App")
    return services


@pytest.mark.parametrize("changes, description", [
    ({"redirect_uris": "https://app.example.com/cb"}, "redirect_uris: must be a list of URLs."),
    ({"resources": [MCP, 5]}, "resources: must be a list of URLs."),
    ({"skip_consent": "true"}, "skip_consent: must be true or false."),
    ({"application_type": None}, "application_type: must be 'web' or 'native'."),
])
def test_use_cases_check_the_types_themselves(services: Services, changes: dict[str, Any], description: str) -> None:
    before = services.storage.clients.get("alpha", "app")
    with pytest.raises(InvalidRequest) as caught:
        update_application(services, "alpha", "app", changes)
    assert caught.value.description == description
    assert services.storage.clients.get("alpha", "app") == before


@pytest.mark.parametrize("uri, native", [
    ("https://app.example.com/cb?x=1,2", False), ("http://localhost:8080/cb", False), ("http://127.0.0.2/cb", False),
    ("http://[::1]:9000/", False), ("HTTPS://APP.EXAMPLE.COM/", False), ("com.example.app:/cb", True),
])
def test_accepted_urls(uri: str, native: bool) -> None:
    assert uri_problem(uri, private_scheme=native) is None


def test_duplicates_are_dropped_in_order(services: Services) -> None:
    app = update_application(services, "alpha", "app", {"redirect_uris": ["https://b.example/", "https://a.example/",
                                                                           "https://b.example/"]})
    assert app.redirect_uris == ("https://b.example/", "https://a.example/")


def test_a_resource_taken_meanwhile_is_refused_by_the_storage_with_the_same_error(
        any_storage: Storage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not keeps_signin_fields(any_storage) or not hasattr(any_storage.clients, "by_resource"):
        pytest.skip(SIGNIN_FIELDS_MISSING + " (nor refuses a resource identifier another client has)")
    services = services_for(any_storage, tmp_path)
    ensure_realm(services, "alpha")
    create_application(services, "alpha", "first", name="First", resources=(MCP,))
    create_application(services, "alpha", "second", name="Second")
    monkeypatch.setattr(client_use_cases, "_refuse_taken", lambda *_: None)  # as if the other write came in between
    taken = (f"resources: '{MCP}' is already a resource identifier of client 'first' (a resource identifier belongs "
             "to one client of a realm).")
    for attempt in (lambda: create_application(services, "alpha", "third", name="Third", resources=(MCP,)),
                    lambda: update_application(services, "alpha", "second", {"resources": [MCP]})):
        with pytest.raises(InvalidRequest) as caught:
            attempt()
        assert caught.value.description == taken
    assert services.storage.clients.get("alpha", "third") is None
    assert services.storage.clients.get("alpha", "second").resources == ()  # type: ignore[union-attr]
