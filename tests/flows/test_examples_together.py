"""The four examples imported into one realm, in every order, into a new realm and over the demo
(`credo serve --demo`): afterwards every example's walkthrough works, and so does every demo walkthrough.
Importing adds (a grant list gains the document's grants) and never resets an existing user's password or
client's secret, so the flows over the demo use the demo's credentials for the entries it made."""

from __future__ import annotations

from itertools import permutations

import pytest

from credo.management.agent_demo import ensure_agent_demo
from credo.management.demo import ensure_demo
from tests.factories import client_credentials
from tests.flows.test_agent_demo import demo_browser_flow, demo_seeds_flow
from tests.flows.test_examples import EXAMPLE_SECRETS, FLOWS, import_example
from tests.support import Server

ORDERS = list(permutations(FLOWS))


def _name(order: tuple[str, ...]) -> str:
    return "+".join(name.removesuffix(".yaml") for name in order)


@pytest.mark.parametrize("over_demo", [True, False], ids=["over-the-demo", "new-realm"])
@pytest.mark.parametrize("order", ORDERS, ids=[_name(o) for o in ORDERS])
def test_the_examples_in_any_order_leave_every_walkthrough_working(sqlite_server: Server, order: tuple[str, ...],
                                                                   over_demo: bool) -> None:
    services = sqlite_server.services
    demo = {c.client_id: c.client_secret for c in ensure_demo(services) + ensure_agent_demo(services)} if over_demo else {}
    for name in order:
        import_example(sqlite_server, name)
    secrets = {**EXAMPLE_SECRETS, **{k: v for k, v in demo.items() if k in EXAMPLE_SECRETS}}
    for name in order:
        FLOWS[name](sqlite_server, secrets)
    for name in order:  # importing them again changes nothing
        counts = import_example(sqlite_server, name)
        assert {k: v for k, v in counts.items() if k != "secrets_kept"} == dict.fromkeys(counts.keys() - {"secrets_kept"}, 0)
    if over_demo:
        with sqlite_server.client() as http:
            r = client_credentials(http, sqlite_server.realm_url("alpha"), "demo-client", demo["demo-client"])
            assert r.status_code == 200, r.text
        demo_seeds_flow(sqlite_server, demo)
        demo_browser_flow(sqlite_server, demo)
