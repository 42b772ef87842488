"""The demo's credentials persist: given what was printed last time, ensure_demo and ensure_agent_demo keep
every secret and the user's password that still works, replace (and mark "renewed") only one that does not,
and the CLI keeps them in an owner-only file."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from credo.cli.demo import load, save
from credo.management.agent_demo import ensure_agent_demo
from credo.management.agents import put_policy
from credo.management.clients import set_secret
from credo.management.demo import Saved, ensure_demo
from credo.management.users import update_user
from credo.oauth.services import Services
from credo.storage.protocols import Storage
from tests.support import services_for


@pytest.fixture
def services(any_storage: Storage, tmp_path: Path) -> Services:
    return services_for(any_storage, tmp_path)


def _demo(services: Services, saved: Saved) -> dict[str, tuple[str, str]]:
    return {c.client_id: (c.client_secret, c.state) for c in ensure_demo(services, saved) + ensure_agent_demo(services, saved)}


def test_saved_credentials_are_kept_while_they_work(services: Services) -> None:
    saved: Saved = {}
    first = _demo(services, saved)
    assert {state for _, state in first.values()} == {"new"} and len(saved) == len(first)
    again = _demo(services, saved)
    assert again == {k: (secret, "kept") for k, (secret, _) in first.items()}
    set_secret(services, "alpha", "demo-client")  # changed since: the saved secret no longer works
    barbara = services.storage.users.by_username("alpha", "barbara.jensen")
    assert barbara is not None
    update_user(services, "alpha", barbara.id, active=False)
    third = _demo(services, saved)
    renewed = {k for k, (_, state) in third.items() if state == "renewed"}
    assert renewed == {"demo-client", "barbara.jensen"}
    assert third["demo-client"][0] != first["demo-client"][0] and third["demo-client"][0] == saved["alpha/client/demo-client"]
    client = services.storage.clients.get("alpha", "demo-client")
    assert client is not None and services.hasher.verify(third["demo-client"][0], client.secret_hash)
    assert all(third[k] == (first[k][0], "kept") for k in first if k not in renewed)


def test_a_restart_leaves_an_existing_agent_policy_as_it_is(services: Services) -> None:
    saved: Saved = {}
    _demo(services, saved)
    put_policy(services, "alpha", "bot-traffic-analyzer", "access-log-api", permissions=("logs-read",))
    _demo(services, saved)
    policy = services.storage.policies.get("alpha", "bot-traffic-analyzer", "access-log-api")
    assert policy is not None and policy.permissions == ("logs-read",)


def test_without_saved_credentials_every_existing_secret_is_renewed(services: Services) -> None:
    first = _demo(services, {})
    second = _demo(services, {})
    assert {state for _, state in second.values()} == {"renewed"}
    assert all(second[k][0] != first[k][0] for k in first)


def test_the_file_is_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "data" / "demo-credentials.json"
    save(path, {"alpha/client/demo-client": "s3cret"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and load(path) == {"alpha/client/demo-client": "s3cret"}
    path.chmod(0o644)
    assert load(path) == {"alpha/client/demo-client": "s3cret"} and stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text(json.dumps(["not", "an", "object"]))
    assert load(path) == {}
    path.write_text("{broken")
    assert load(path) == {} and load(tmp_path / "missing.json") == {}
