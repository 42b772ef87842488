"""A token exchange cannot tell an agent which application ids exist: a missing application, a client
that is not an application, a disabled application and an application without a policy for the agent
all get the same answer."""

from __future__ import annotations

from credo.management.applications import create_application
from credo.management.clients import update_client
from tests.factories import autonomous_setup, cc_token, exchange
from tests.support import Server


def test_one_answer_for_missing_foreign_and_forbidden_targets(sqlite_server: Server,
                                                              sqlite_demo: dict[str, str]) -> None:
    services = sqlite_server.services
    agent, _ = autonomous_setup(services)
    create_application(services, "alpha", "no-policy-app", name="No policy", secret="no-policy-secret-0123456789",
                       scopes=("logs-read",))
    create_application(services, "alpha", "disabled-app", name="Disabled", secret="disabled-secret-0123456789",
                       scopes=("logs-read",))
    update_client(services, "alpha", "disabled-app", {"enabled": False})
    base = sqlite_server.realm_url("alpha")
    with sqlite_server.client() as http:
        own = cc_token(http, base, agent)
        answers = {target: exchange(http, base, agent, own, target, "logs-read")
                   for target in ("no-such-app", "demo-client", "disabled-app", "no-policy-app")}
    shapes = {(r.status_code, r.headers.get("content-type"), r.text) for r in answers.values()}
    assert len(shapes) == 1, shapes
    [(status, _, _)] = shapes
    assert status == 400 and answers["no-such-app"].json() == {
        "error": "invalid_target", "error_description": "This agent has no access to the target application."}
