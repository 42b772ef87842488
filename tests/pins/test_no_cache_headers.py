"""Token-endpoint and introspection answers must not be cached: `Cache-Control: no-store` and, for HTTP/1.0
caches, `Pragma: no-cache` (RFC 6749 §5.1, RFC 7662 §2.2), on success and on error alike."""

from __future__ import annotations

from pathlib import Path

from credo.storage.memory import MemoryStorage
from tests.pins.inprocess import ALPHA, in_process


def _no_cache(r) -> None:  # type: ignore[no-untyped-def]
    assert r.headers["cache-control"] == "no-store", dict(r.headers)
    assert r.headers["pragma"] == "no-cache", dict(r.headers)


def test_token_success_and_errors_carry_pragma(tmp_path: Path) -> None:
    with in_process(MemoryStorage(), tmp_path) as app:
        ok = app.token("demo-client", app.demo["demo-client"])
        assert ok.status_code == 200, ok.text
        _no_cache(ok)
        bad_secret = app.token("demo-client", "wrong-secret-wrong-secret")
        assert bad_secret.status_code == 401 and bad_secret.json()["error"] == "invalid_client"
        _no_cache(bad_secret)
        bad_grant = app.post(f"{ALPHA}/access_token", data={"grant_type": "nope", "client_id": "demo-client",
                                                            "client_secret": app.demo["demo-client"]})
        assert bad_grant.status_code == 400 and bad_grant.json()["error"] == "unsupported_grant_type"
        _no_cache(bad_grant)


def test_introspection_answer_carries_pragma(tmp_path: Path) -> None:
    with in_process(MemoryStorage(), tmp_path) as app:
        secret = app.demo["demo-client"]
        token = app.token("demo-client", secret).json()["access_token"]
        r = app.post(f"{ALPHA}/introspect", data={"token": token, "client_id": "demo-client", "client_secret": secret})
        assert r.status_code == 200 and r.json()["active"] is True
        _no_cache(r)
