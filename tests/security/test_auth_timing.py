"""Issue finding: response time told client ids with a human-chosen secret (argon2, ~27 ms to refuse) from
unknown ids (~2 ms). Every failed client authentication now takes as long as a failed argon2 verification
(padded by waiting, not by work): unknown id, generated secret and human-chosen secret look alike.

A timing test, with generous bounds: medians of a few attempts each, compared by ratio."""

from __future__ import annotations

import statistics
import time

from credo.management.clients import create_client
from tests.support import Server


def _median_refusal(http, url: str, client_id: str) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(5):  # under the per-identity throttle (10)
        start = time.perf_counter()
        r = http.post(url, data={"grant_type": "client_credentials", "client_id": client_id,
                                 "client_secret": "not-the-secret-not-the-secret"})
        times.append(time.perf_counter() - start)
        assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    return statistics.median(times)


def test_unknown_generated_and_human_secret_ids_refused_in_the_same_time(sqlite_server: Server,
                                                                         sqlite_demo: dict[str, str]) -> None:
    services = sqlite_server.services
    create_client(services, "alpha", "human-secret", secret="a human chosen secret 123", scopes=("data-read",))
    url = f"{sqlite_server.realm_url()}/access_token"
    with sqlite_server.client() as http:
        human = _median_refusal(http, url, "human-secret")
        unknown = _median_refusal(http, url, "no-such-client")
        generated = _median_refusal(http, url, "demo-client")
    assert human > 0.005, human  # argon2 really ran
    for other in (unknown, generated):
        assert 0.5 < other / human < 2.0, (human, unknown, generated)
