"""Audit targets longer than 255 characters are recorded whole (on PostgreSQL the write used to fail,
and the request with it): a policy between two clients with 255-character ids, and a refused token
exchange asking for a long audience. Lookups by the full target find them."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from sqlalchemy import Connection, text

from credo.domain.models import AuditEvent, bounded_audit_event
from credo.management.agents import create_agent, delete_policy, put_policy
from credo.management.applications import create_application
from credo.management.demo import ensure_demo
from credo.storage.protocols import Storage
from tests.conftest import SQL_BACKENDS
from tests.support import Server, services_for, storage_upgraded_from

TE = "urn:ietf:params:oauth:grant-type:token-exchange"
AT = "urn:ietf:params:oauth:token-type:access_token"


def test_the_store_keeps_a_long_target_whole(any_storage: Storage) -> None:
    target = "agent-" + "a" * 300 + "->" + "app-" + "b" * 300
    any_storage.audit.add(AuditEvent("alpha", "policy.put", "admin", "allow", target, ts=100))
    any_storage.audit.add_many([AuditEvent("alpha", "policy.delete", "admin", "allow", target, ts=101)])
    found = any_storage.audit.query("alpha", target=target)
    assert [(e.action, e.target) for e in found] == [("policy.delete", target), ("policy.put", target)]
    assert any_storage.audit.query("alpha", target=target[:255]) == []


def test_policy_between_two_longest_client_ids_is_audited_whole(sql_storage: Storage, tmp_path: Path) -> None:
    services = services_for(sql_storage, tmp_path)
    ensure_demo(services)
    agent, app = "g" * 255, "p" * 255
    create_agent(services, "alpha", agent, name="Long Agent")
    create_application(services, "alpha", app, name="Long App")
    put_policy(services, "alpha", agent, app, permissions=("read-data",))
    delete_policy(services, "alpha", agent, app)
    events = sql_storage.audit.query("alpha", target=f"{agent}->{app}")
    assert [e.action for e in events] == ["policy.delete", "policy.put"]
    assert all(len(e.target) == 512 for e in events)


def test_a_refused_exchange_for_a_long_audience_is_audited(server: Server) -> None:
    creds = {c.client_id: c.client_secret for c in ensure_demo(server.services)}
    audience = "https://api.example.com/" + "x" * 400
    with server.client() as http:
        r = http.post(server.realm_url() + "/access_token", data={
            "grant_type": TE, "client_id": "demo-client", "client_secret": creds["demo-client"],
            "audience": audience, "subject_token": "x", "subject_token_type": AT})
    assert r.status_code == 400, r.text
    assert r.json() == {"error": "unauthorized_client",
                        "error_description": "The client is not authorized to use this grant type."}
    [event] = server.services.storage.audit.query("alpha", action="token_exchange", target=audience)
    assert (event.actor, event.decision) == ("demo-client", "deny")


@pytest.mark.parametrize("kind", SQL_BACKENDS)
def test_upgrading_keeps_the_audit_log_and_accepts_long_targets(kind: str, tmp_path: Path) -> None:
    def fill(conn: Connection) -> None:
        conn.execute(text("INSERT INTO audit_events (realm, ts, action, actor, decision, target, reason, details) "
                          "VALUES ('alpha', 1, 'policy.put', 'admin', 'allow', 'a->b', '', :d)"),
                     {"d": orjson.dumps({}).decode()})

    with storage_upgraded_from(kind, tmp_path, "0002", fill) as storage:
        storage.audit.add(AuditEvent("alpha", "policy.put", "admin", "allow", "t" * 600, ts=2))
        assert [e.target for e in storage.audit.query("alpha")] == ["t" * 600, "a->b"]


def test_an_outsider_cannot_make_an_audit_row_large(server: Server) -> None:
    """A refused exchange with a 30 KB audience: the row keeps 1,024 characters of it (target and details)."""
    creds = {c.client_id: c.client_secret for c in ensure_demo(server.services)}
    audience = "https://api.example.com/" + "y" * 30_000
    with server.client() as http:
        r = http.post(server.realm_url() + "/access_token", data={
            "grant_type": TE, "client_id": "demo-client", "client_secret": creds["demo-client"],
            "audience": audience, "subject_token": "x", "subject_token_type": AT})
    assert r.status_code == 400, r.text
    [event] = server.services.storage.audit.query("alpha", action="token_exchange")
    assert event.target.startswith(audience[:1024]) and len(event.target) < 1100
    assert event.target.endswith(f"...[{len(audience) - 1024} more characters]")
    assert len(orjson.dumps(event.details)) < 2500


@pytest.mark.parametrize("details", [
    {"scopes_requested": ["s" * 1025]},  # a long text inside a list
    {"k" * 1025: "v"},  # a long key
    {"a": {"b": {"c": {"d": {"e": "deep"}}}}},  # nested past four levels
    {"a": [[[["deep"]]]]},
    {"many": list(range(51))},  # a list past 50 items
    {str(i): i for i in range(51)},  # an object past 50 members
    {1: "a key that is not a text"},
])
def test_details_past_any_bound_are_cut(details: dict[object, object]) -> None:
    event = AuditEvent("alpha", "token_exchange", "agent", "deny", details=details, ts=1)  # type: ignore[arg-type]
    bounded = bounded_audit_event(event)
    assert bounded is not event and bounded.details != details
    assert len(orjson.dumps(bounded.details)) < 1200


def test_details_within_the_bounds_are_kept_as_they_are() -> None:
    details = {"subject": "u" * 1024, "actor_chain": ["a", "b"], "scopes_requested": [str(i) for i in range(50)],
               "nested": {"b": {"c": ["d"]}}, "k" * 1024: None}
    event = AuditEvent("alpha", "token_exchange", "a" * 1024, "allow", "t" * 1024, "r" * 1024, details=details, ts=1)
    assert bounded_audit_event(event) is event
