"""Signing keys: ES256 default, RS256 available, sealed at rest, rotation keeps old public keys until expiry."""

from __future__ import annotations

import pytest

from credo.domain.clock import FrozenClock
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
    old_token = ring.sign("alpha", _claims(clock))
    old_kid = ring.jwks("alpha")["keys"][0]["kid"]
    new = ring.rotate("alpha", "ES256", longest_token_lifetime=3600)
    kids = {k["kid"] for k in ring.jwks("alpha")["keys"]}
    assert kids == {old_kid, new.kid}
    assert ring.verify("alpha", old_token, issuer=ISS)["jti"] == "j1"
    new_token = ring.sign("alpha", _claims(clock))
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
    token = ring.sign("bravo", _claims(clock))
    assert ring.verify("bravo", token, issuer=ISS)["client_id"] == "c"
    other = KeyRing(storage.keys, Sealer(b"x" * 32), clock)  # wrong master key cannot open it
    with pytest.raises(Exception):
        other.sign("bravo", _claims(clock))


def test_wrong_issuer_and_realm_are_rejected() -> None:
    storage, clock = MemoryStorage(), FrozenClock()
    ring = KeyRing(storage.keys, Sealer(b"k" * 32), clock)
    ring.ensure_key("alpha", "ES256")
    ring.ensure_key("bravo", "ES256")
    token = ring.sign("alpha", _claims(clock))
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
