"""Encryption at rest of private signing keys (AES-256-GCM under the server's master key)."""

from __future__ import annotations

import hashlib
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = b"v1"


class Sealer:
    def __init__(self, master_key: bytes) -> None:
        if len(master_key) < 32:
            raise ValueError("the master key needs at least 32 bytes")
        self._aead = AESGCM(hashlib.sha256(b"credo-key-sealing" + master_key).digest())

    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        nonce = os.urandom(12)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, context)

    def open(self, sealed: bytes, context: bytes) -> bytes:
        if not sealed.startswith(_VERSION):
            raise ValueError("unknown sealing version")
        nonce, body = sealed[2:14], sealed[14:]
        return self._aead.decrypt(nonce, body, context)
