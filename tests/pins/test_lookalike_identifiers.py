"""Identifiers are stored in their NFKC form and refused with invisible or bidirectional control characters:
a full-width look-alike of an existing username meets that username's uniqueness check, a right-to-left
override or zero-width space is refused, and a final newline does not slip through a client id or realm
name pattern. Each refusal names the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from credo.domain.errors import InvalidRequest
from credo.management.clients import create_client
from credo.management.realms import ensure_realm
from credo.management.usecases import create_user
from credo.storage.memory import MemoryStorage
from tests.factories import PASSWORD, USERNAME
from tests.support import services_for


@pytest.mark.parametrize("username, user_id, message", [
    ("\uff42arbara.jensen", None, f"username: '{USERNAME}' already exists."),  # full-width b
    ("barbara.jensen\u202egpj.exe", None, "username: invisible or bidirectional characters are not allowed."),
    ("barbara\u200b.jensen", None, "username: invisible or bidirectional characters are not allowed."),
    ("someone-else", "2199ef22\u2066", "user_id: invisible or bidirectional characters are not allowed."),
], ids=["full-width", "rtl-override", "zero-width-space", "user-id-isolate"])
def test_lookalike_users_refused(tmp_path: Path, username: str, user_id: str | None, message: str) -> None:
    services = services_for(MemoryStorage(), tmp_path)
    ensure_realm(services, "alpha")
    create_user(services, "alpha", USERNAME, PASSWORD)
    with pytest.raises(InvalidRequest) as refused:
        create_user(services, "alpha", username, PASSWORD, user_id=user_id)
    assert refused.value.description == message
    assert [u.username for u in services.storage.users.all("alpha")] == [USERNAME]


def test_final_newline_refused_in_client_ids_and_realm_names(tmp_path: Path) -> None:
    services = services_for(MemoryStorage(), tmp_path)
    ensure_realm(services, "alpha")
    with pytest.raises(InvalidRequest) as refused:
        create_client(services, "alpha", "demo-client\n")
    assert refused.value.description == "client_id: use only letters, digits, '-' and '_'."
    with pytest.raises(InvalidRequest) as refused:
        ensure_realm(services, "bravo\n")
    assert "realm name" in refused.value.description
    assert [r.name for r in services.storage.realms.all()] == ["alpha"]
