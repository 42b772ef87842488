"""Encryption at rest (AES-256-GCM): private signing keys under the data key, the data key under the
master key (see credo.keys.datakeys)."""

from __future__ import annotations

import hashlib
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = b"v1"


class Sealer:
    def __init__(self, secret: bytes, label: bytes = b"credo-key-sealing") -> None:
        """A sealer under a key derived from `secret` (at least 32 bytes) and a purpose `label`."""
        if len(secret) < 32:
            raise ValueError("the master key needs at least 32 bytes")
        self._aead = AESGCM(hashlib.sha256(label + secret).digest())

    @classmethod
    def from_key(cls, key: bytes) -> Sealer:
        """A sealer under exactly this 32-byte AES key (a data key)."""
        if len(key) != 32:
            raise ValueError("an AES-256 key has 32 bytes")
        sealer = cls.__new__(cls)
        sealer._aead = AESGCM(key)
        return sealer

    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        nonce = os.urandom(12)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, context)

    def open(self, sealed: bytes, context: bytes) -> bytes:
        if not sealed.startswith(_VERSION):
            raise ValueError("unknown sealing version")
        nonce, body = sealed[2:14], sealed[14:]
        return self._aead.decrypt(nonce, body, context)
