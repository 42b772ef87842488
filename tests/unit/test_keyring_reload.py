"""How a key ring learns about keys another process added: the change-counter hook (`mark_stale`),
and a rate-limited reload when a token names an unknown `kid`."""

from __future__ import annotations

import time

import pytest

from credo.domain.clock import FrozenClock
from credo.keys.keyring import KeyRing, TokenRejected
from credo.keys.sealing import Sealer
from credo.storage.memory import MemoryStorage

ISS = "https://credo.test/am/oauth2"


def _claims(clock: FrozenClock) -> dict[str, object]:
    now = clock.now()
    return {"iss": ISS, "sub": "c", "client_id": "c", "iat": now, "nbf": now, "exp": now + 60, "jti": "j"}


def _two_rings() -> tuple[KeyRing, KeyRing, FrozenClock]:
    storage, clock = MemoryStorage(), FrozenClock(int(time.time()))
    sealer = Sealer(b"k" * 32)
    ours, theirs = KeyRing(storage.keys, sealer, clock), KeyRing(storage.keys, sealer, clock)
    ours.ensure_key("alpha", "ES256")
    return ours, theirs, clock


def test_unknown_kid_forces_at_most_one_reload_per_interval() -> None:
    ours, theirs, clock = _two_rings()
    ours.forced_reload_interval = 3600  # nothing else may trigger a reload during this test
    ours.verify("alpha", ours.sign_now("alpha", _claims(clock)), issuer=ISS)
    theirs.rotate("alpha", "ES256", 600)  # another process rotates
    first = theirs.sign_now("alpha", _claims(clock))
    assert ours.verify("alpha", first, issuer=ISS)["sub"] == "c"  # the forced reload finds the new key
    theirs.rotate("alpha", "ES256", 600)
    second = theirs.sign_now("alpha", _claims(clock))
    with pytest.raises(TokenRejected, match="unknown kid"):
        ours.verify("alpha", second, issuer=ISS)  # a second forced reload within the interval is refused
    ours.mark_stale()  # what the storage change counter triggers
    assert ours.verify("alpha", second, issuer=ISS)["sub"] == "c"


def test_mark_stale_switches_signing_to_the_rotated_key() -> None:
    ours, theirs, clock = _two_rings()
    import jwt

    old_kid = jwt.get_unverified_header(ours.sign_now("alpha", _claims(clock)))["kid"]
    new_kid = theirs.rotate("alpha", "ES256", 600).kid
    assert jwt.get_unverified_header(ours.sign_now("alpha", _claims(clock)))["kid"] == old_kid  # still cached
    ours.mark_stale("alpha")
    assert jwt.get_unverified_header(ours.sign_now("alpha", _claims(clock)))["kid"] == new_kid
    assert {k["kid"] for k in ours.jwks("alpha")["keys"]} == {old_kid, new_kid}
