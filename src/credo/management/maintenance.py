"""Housekeeping every server process does on a schedule (credo.app.start_maintenance) and an operator can
run at once (`credo db purge`): rows whose time is over are deleted, so the tables the hot path writes
stay the size of what is live.

- token records (opaque access tokens, refresh tokens, authorization codes, sign-in sessions) past their
  expiry: no request accepts them any more;
- burned one-time ids past their expiry (revoked token ids, consumed initial access tokens, lifecycle
  marks): the value they refuse has expired itself;
- the ephemeral state's rows past their window (failed authentications, rate-limit hits, replay marks);
- the counts of tokens issued per minute older than USAGE_KEPT (the overview shows the last day).

Each purge that deletes anything moves the burn counter in its own transaction, so every process's cache
of token records and burned-id answers follows (storage/cached.py). The audit log is kept: it is the
record, not state."""

from __future__ import annotations

from credo.oauth.services import Services

USAGE_KEPT = 2 * 86_400  # seconds of per-minute token counts kept


def purge_expired(services: Services) -> dict[str, int]:
    """Delete every expired row; how many of each kind."""
    now = services.clock.now()
    storage = services.storage
    return {"tokens": storage.tokens.purge_expired(now), "one_time_ids": storage.one_time.purge_expired(now),
            "ephemeral": services.ephemeral.purge_expired(now), "token_usage": storage.usage.purge(now - USAGE_KEPT)}
