"""Signing keys: ES256 default, RS256 available, sealed at rest, rotation keeps old public keys until expiry."""

from __future__ import annotations

import asyncio

import pytest

from credo.domain.clock import FrozenClock
from credo.keys import jose
from credo.keys.keyring import KeyRing, TokenRejected
from credo.keys.sealing import Sealer
from credo.keys.secrets import SecretHasher, WeakSecret, new_secret
from credo.storage.memory import MemoryStorage

ISS = "http://credo.test/am/oauth2"


def _claims(clock: FrozenClock) -> dict[str, object]:
    return {"iss": ISS, "sub": "c", "iat": clock.now(), "exp": clock.now() + 60, "jti": "j1", "client_id": "c"}


def test_rotation_keeps_old_key_published_until_its_tokens_expire() -> None:
    storage, clock = MemoryStorage(), FrozenClock()
    ring = KeyRing(storage.keys, Sealer(b"k" * 32), clock)
    ring.ensure_key("alpha", "ES256")
    old_token = ring.sign_now("alpha", _claims(clock))
    old_kid = ring.jwks("alpha")["keys"][0]["kid"]
    new = ring.rotate("alpha", "ES256", longest_token_lifetime=3600)
    kids = {k["kid"] for k in ring.jwks("alpha")["keys"]}
    assert kids == {old_kid, new.kid}
    assert ring.verify("alpha", old_token, issuer=ISS)["jti"] == "j1"
    new_token = ring.sign_now("alpha", _claims(clock))
    assert ring.verify("alpha", new_token, issuer=ISS)["sub"] == "c"
    clock.advance(3601)
    assert ring.purge_retired("alpha") == 1
    assert {k["kid"] for k in ring.jwks("alpha")["keys"]} == {new.kid}
    with pytest.raises(TokenRejected):
        ring.verify("alpha", old_token, issuer=ISS)


def test_private_keys_are_sealed_at_rest_and_rs256_works() -> None:
    storage, clock = MemoryStorage(), FrozenClock()
    ring = KeyRing(storage.keys, Sealer(b"m" * 32), clock)
    key = ring.create_key("bravo", "RS256")
    assert b"PRIVATE KEY" not in key.private_key_encrypted
    assert "d" not in key.public_jwk and key.public_jwk["kty"] == "RSA"
    token = ring.sign_now("bravo", _claims(clock))
    assert ring.verify("bravo", token, issuer=ISS)["client_id"] == "c"
    other = KeyRing(storage.keys, Sealer(b"x" * 32), clock)  # wrong master key cannot open it
    with pytest.raises(Exception):
        other.sign_now("bravo", _claims(clock))


def test_wrong_issuer_and_realm_are_rejected() -> None:
    storage, clock = MemoryStorage(), FrozenClock()
    ring = KeyRing(storage.keys, Sealer(b"k" * 32), clock)
    ring.ensure_key("alpha", "ES256")
    ring.ensure_key("bravo", "ES256")
    token = ring.sign_now("alpha", _claims(clock))
    with pytest.raises(TokenRejected):
        ring.verify("alpha", token, issuer="http://evil.test")
    with pytest.raises(TokenRejected):
        ring.verify("bravo", token, issuer=ISS)


def test_secret_hashing() -> None:
    hasher = SecretHasher(b"p" * 32)
    generated = new_secret()
    assert len(generated) >= 43
    stored = hasher.hash_generated(generated)
    assert stored.startswith("h1$") and generated not in stored
    assert hasher.verify(generated, stored) and not hasher.verify(generated + "x", stored)
    assert SecretHasher(b"q" * 32).verify(generated, stored) is False  # keyed: another pepper does not match
    human = hasher.hash_human("correct horse battery staple")
    assert human.startswith("argon2$")
    assert hasher.verify("correct horse battery staple", human)
    assert hasher.verify("correct horse battery staple", human)  # second time from the in-memory fast path
    assert not hasher.verify("wrong horse battery staple!", human)
    with pytest.raises(WeakSecret):
        hasher.hash_human("short")
    assert not hasher.verify("", stored) and not hasher.verify("x", None) and not hasher.verify("x", "plain")


# --- signatures made together at the end of an event-loop step --------------------------------------


def _ring() -> KeyRing:
    storage, clock = MemoryStorage(), FrozenClock()
    ring = KeyRing(storage.keys, Sealer(b"k" * 32), clock)
    ring.ensure_key("alpha", "ES256")
    return ring


def _numbered(n: int) -> dict[str, object]:
    return {**_claims(FrozenClock()), "jti": f"j{n}"}


def test_the_signatures_of_one_loop_step_are_made_together_after_every_request_asked(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ring, log = _ring(), []
    signing = jose.sign

    def recorded(header: bytes, claims: dict[str, object], key: jose.Key) -> str:
        log.append(f"signed {claims['jti']}")
        return signing(header, claims, key)
    monkeypatch.setattr(jose, "sign", recorded)

    async def request(n: int) -> str:
        log.append(f"asked {n}")
        return await ring.sign("alpha", _numbered(n))

    async def main() -> list[str]:
        return await asyncio.gather(*(request(n) for n in range(3)))
    tokens = asyncio.run(main())
    assert log == ["asked 0", "asked 1", "asked 2", "signed j0", "signed j1", "signed j2"]
    assert [ring.verify("alpha", t, issuer=ISS)["jti"] for t in tokens] == ["j0", "j1", "j2"]  # each its own
    # The next step starts a new batch, and signing outside a loop needs none.
    assert ring.verify("alpha", asyncio.run(ring.sign("alpha", _numbered(3))), issuer=ISS)["jti"] == "j3"
    assert ring.verify("alpha", ring.sign_now("alpha", _numbered(4)), issuer=ISS)["jti"] == "j4"


def test_a_cancelled_or_failing_signature_leaves_the_others_of_its_batch_signed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ring, signed = _ring(), []
    signing = jose.sign

    def failing_for_j2(header: bytes, claims: dict[str, object], key: jose.Key) -> str:
        if claims["jti"] == "j2":
            raise ValueError("cannot sign j2")
        signed.append(claims["jti"])
        return signing(header, claims, key)
    monkeypatch.setattr(jose, "sign", failing_for_j2)

    async def main() -> list[object]:
        tasks = [asyncio.create_task(ring.sign("alpha", _numbered(n))) for n in range(4)]
        await asyncio.sleep(0)  # every task waits in the same batch
        tasks[1].cancel()  # its request went away (a client that disconnected)
        async with asyncio.timeout(5):
            return await asyncio.gather(*tasks, return_exceptions=True)
    first, cancelled, failed, last = asyncio.run(main())
    assert isinstance(cancelled, asyncio.CancelledError)
    assert isinstance(failed, ValueError)
    assert signed == ["j0", "j3"]  # nothing signed for the cancelled request
    assert [ring.verify("alpha", str(t), issuer=ISS)["jti"] for t in (first, last)] == ["j0", "j3"]


def test_a_realm_without_a_key_fails_when_asked_not_in_the_batch() -> None:
    ring = _ring()

    async def main() -> str:
        with pytest.raises(RuntimeError, match="no active signing key"):
            await ring.sign("no-such-realm", _numbered(0))
        return await ring.sign("alpha", _numbered(1))
    assert ring.verify("alpha", asyncio.run(main()), issuer=ISS)["jti"] == "j1"
