"""Per-realm signing keys: creation, rotation, the published JWKS, signing and verifying JWTs.

Verification never trusts the token: the key is looked up by `kid` among this realm's own keys, the
algorithm must be the one that key was made for (ES256 or RS256; never `none` or HMAC), and headers
that point elsewhere for key material (`jku`, `jwk`, `x5u`, `x5c`) or demand unknown processing
(`crit`) are refused. The JOSE work itself (parsing, signatures, strict JSON, NumericDates) is
credo.keys.jose's; this module adds the realm's keys, issuer, type, audience and validity checks.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from typing import Any

from cachetools import LRUCache
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from credo.domain.clock import Clock
from credo.domain.models import SigningKey
from credo.domain.values import value_object
from credo.keys import jose
from credo.keys.sealing import Sealer
from credo.storage.protocols import KeyRepository

ALLOWED_ALGS = ("ES256", "RS256")
REFRESH_SECONDS = 30.0
ROTATION_ATTEMPTS = 5
REQUIRED_CLAIMS = ("exp", "iat", "iss", "jti")
VERIFIED_CACHE_SIZE = 10_000  # about 2 KB each (token and claims)


_Signature = tuple[bytes, dict[str, Any], jose.Key, "asyncio.Future[str]"]  # header, claims, key, answer


class TokenRejected(Exception):
    """A JWT failed verification; the message is for the log only."""


@value_object
class _Loaded:
    kid: str
    alg: str
    private: Any | None
    public: Any
    jwk: dict[str, Any]
    active: bool
    publish_until: int | None
    signer: jose.Key | None  # the private key, prepared for `alg` (active keys only)
    verifier: jose.Key  # the public key, prepared for `alg`


def generate_private_key(alg: str) -> Any:
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(f"unsupported signing algorithm {alg}")


def _expired(key: SigningKey, now: int) -> bool:
    """A retired key whose publication window has ended: it verifies nothing and may be deleted."""
    return not key.active and key.publish_until is not None and key.publish_until <= now


def public_jwk(public_key: Any, kid: str, alg: str) -> dict[str, Any]:
    return jose.public_jwk(public_key, kid, alg)


class KeyRing:
    def __init__(self, repo: KeyRepository, sealer: Sealer, clock: Clock) -> None:
        self._repo = repo
        self._sealer = sealer
        self._clock = clock
        self._cache: dict[str, tuple[float, dict[str, _Loaded]]] = {}
        self._headers: dict[tuple[str, str], bytes] = {}
        # Per event loop: the signatures asked for during the current loop step, made together at its end.
        self._batches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[_Signature]] = \
            weakref.WeakKeyDictionary()
        # Signatures already checked, per token string; least recently used dropped first.
        self._verified: LRUCache[tuple[str, str, str | None], tuple[str, dict[str, Any]]] = \
            LRUCache(maxsize=VERIFIED_CACHE_SIZE)
        self._forced: dict[str, float] = {}
        self.forced_reload_interval = 1.0  # seconds
        self._lock = threading.Lock()

    # --- administration -------------------------------------------------------------------------

    def _new_key(self, realm: str, alg: str) -> SigningKey:
        private = generate_private_key(alg)
        kid = uuid.uuid4().hex[:16]
        pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        return SigningKey(realm=realm, kid=kid, alg=alg, private_key_encrypted=self._sealer.seal(pem, self._ctx(realm, kid)),
                          public_jwk=public_jwk(private.public_key(), kid, alg), created_at=self._clock.now())

    def create_key(self, realm: str, alg: str) -> SigningKey:
        key = self._new_key(realm, alg)
        self._repo.add(key)
        self.invalidate(realm)
        return key

    def ensure_key(self, realm: str, alg: str) -> None:
        """A first key, with the realm's signing algorithm, when the realm has no active key."""
        if not any(k.active for k in self._repo.all(realm)):
            self.create_key(realm, alg)

    def rotate(self, realm: str, alg: str, longest_token_lifetime: int) -> SigningKey:
        """Add a new active key; older active keys stop signing but stay published until every token
        they could have signed has expired. A compare-and-swap on the active keys: a concurrent rotation
        makes this one start again from the keys it left."""
        for _ in range(ROTATION_ATTEMPTS):
            new = self._swap(realm, alg, [k.kid for k in self._repo.all(realm) if k.active], longest_token_lifetime)
            if new is not None:
                return new
        raise RuntimeError(f"realm {realm}: the signing keys kept changing during the rotation")

    def rotate_if_due(self, realm: str, alg: str, max_age: int,
                      longest_token_lifetime: Callable[[], int]) -> SigningKey | None:
        """Rotate when the newest active key is `max_age` seconds old or more (or there is none). Safe
        with several processes at once: the swap succeeds only against the active keys read here, so of
        the processes that found the key due, one rotates and the others get None."""
        active = [k for k in self._repo.all(realm) if k.active]
        if active and self._clock.now() - max(k.created_at for k in active) < max_age:
            return None
        return self._swap(realm, alg, [k.kid for k in active], longest_token_lifetime())

    def _swap(self, realm: str, alg: str, retire: list[str], longest_token_lifetime: int) -> SigningKey | None:
        new = self._new_key(realm, alg)
        if not self._repo.swap_active(realm, retire, new, self._clock.now() + longest_token_lifetime):
            return None
        self.invalidate(realm)
        return new

    def purge_retired(self, realm: str) -> int:
        """Delete the retired keys whose publication has ended; the number deleted."""
        gone = self._purge(realm, self._repo.all(realm))
        self.invalidate(realm)
        return gone

    def _purge(self, realm: str, keys: list[SigningKey]) -> int:
        now = self._clock.now()
        return sum(int(self._repo.delete(realm, key.kid)) for key in keys if _expired(key, now))

    def invalidate(self, realm: str | None = None) -> None:
        with self._lock:
            self._verified.clear()
            if realm is None:
                self._cache.clear()
            else:
                self._cache.pop(realm, None)

    def mark_stale(self, realm: str | None = None) -> None:
        """Re-read the key list on next use (one query; keys already unsealed are reused). Called when
        the storage change counter moves, so a rotation by another process applies at once."""
        with self._lock:
            for name, (_, loaded) in list(self._cache.items()):
                if realm is None or name == realm:
                    self._cache[name] = (float("-inf"), loaded)

    def _may_force_reload(self, realm: str) -> bool:
        """Tokens with unknown `kid`s may force a key reload at most once a second per realm, so forged
        tokens cannot turn into one database query each."""
        now = time.monotonic()
        with self._lock:
            if now - self._forced.get(realm, float("-inf")) < self.forced_reload_interval:
                return False
            self._forced[realm] = now
            return True

    # --- use ------------------------------------------------------------------------------------

    def jwks(self, realm: str) -> dict[str, Any]:
        now = self._clock.now()
        return {"keys": [k.jwk for k in self._loaded(realm).values() if k.active or (k.publish_until or 0) > now]}

    def sign_now(self, realm: str, claims: dict[str, Any], typ: str = "at+jwt") -> str:
        """`claims` as a compact JWS under the realm's active key, signed at once (outside an event loop:
        the readiness check, tools)."""
        header, key = self._signing(realm, typ)
        return jose.sign(header, claims, key)

    async def sign(self, realm: str, claims: dict[str, Any], typ: str = "at+jwt") -> str:
        """`sign_now`, with the other signatures asked for during this event-loop step: they are made one
        after the other at the end of the step (`_sign_batch`), as the group commit stores the step's
        writes. One signature made amid a request's other work runs with the processor's caches full of
        that work; a run of them keeps the curve's tables in cache (a client-credentials request costs
        about a fifth less CPU: docs/performance.md). The key is chosen now: a missing or unusable key
        fails the request here."""
        header, key = self._signing(realm, typ)
        loop = asyncio.get_running_loop()
        batch = self._batches.get(loop)
        if batch is None:
            batch = self._batches[loop] = []
            loop.call_soon(self._sign_batch, loop, batch)
        future: asyncio.Future[str] = loop.create_future()
        batch.append((header, claims, key, future))
        return await future

    def _sign_batch(self, loop: asyncio.AbstractEventLoop, batch: list[_Signature]) -> None:
        del self._batches[loop]  # a signature asked for from here on starts the next batch
        for header, claims, key, future in batch:
            if future.done():  # its request was cancelled meanwhile
                continue
            try:
                future.set_result(jose.sign(header, claims, key))
            except Exception as exc:  # that request fails with it; the others are signed
                future.set_exception(exc)

    def _signing(self, realm: str, typ: str) -> tuple[bytes, jose.Key]:
        """The encoded header and the private key of the realm's active key, for tokens of type `typ`."""
        signer = self._active(realm)
        assert signer.signer is not None
        header = self._headers.get((signer.kid, typ))
        if header is None:
            header = self._headers[(signer.kid, typ)] = jose.encoded_header(signer.alg, signer.kid, typ)
        return header, signer.signer

    def signing_alg(self, realm: str) -> str:
        return self._active(realm).alg

    def verify(self, realm: str, token: str, *, issuer: str, typ: str | None = "at+jwt",
               audience: str | None = None) -> dict[str, Any]:
        """The claims of a token signed by one of this realm's keys, with the given issuer, type and
        audience, within its validity period. Signature results are remembered per token string
        (bounded), only while the signing key is still one of the realm's keys."""
        with self._lock:
            try:
                remembered: tuple[str, dict[str, Any]] | None = self._verified[(realm, token, typ)]
            except KeyError:
                remembered = None
        if remembered is not None and self._trusted(realm, remembered[0]) is not None:
            claims = dict(remembered[1])
        else:
            claims = self._verify_signature(realm, token, typ)
        self._check_claims(claims, issuer, audience)
        self._check_times(claims)
        return claims

    def _check_claims(self, claims: dict[str, Any], issuer: str, audience: str | None) -> None:
        for name in REQUIRED_CLAIMS:
            if name not in claims:
                raise TokenRejected(f"missing claim {name}")
        if claims["iss"] != issuer:
            raise TokenRejected("wrong issuer")
        if audience is not None and not jose.audience_matches(claims, audience):
            raise TokenRejected("wrong audience")

    def _verify_signature(self, realm: str, token: str, typ: str | None) -> dict[str, Any]:
        try:
            parsed = jose.parse(token, ALLOWED_ALGS)
        except jose.JoseError as exc:
            raise TokenRejected(str(exc)) from exc
        wanted = None if typ is None else typ.lower()  # a media type: case does not matter (RFC 7515 §4.1.9)
        if wanted is not None and str(parsed.header.get("typ", "")).lower() not in (wanted, f"application/{wanted}"):
            raise TokenRejected("wrong token type")
        kid = parsed.kid
        key = self._trusted(realm, kid) if kid is not None else None
        if key is None and kid is not None and self._may_force_reload(realm):
            self.mark_stale(realm)  # a key rotated in by another process
            key = self._trusted(realm, kid)
        if key is None:
            raise TokenRejected("unknown kid")
        if key.alg != parsed.alg:
            raise TokenRejected("algorithm does not match the key")
        if not jose.signature_valid(parsed, key.verifier):
            raise TokenRejected("bad signature")
        try:
            claims = jose.claims_of(parsed)
        except jose.JoseError as exc:
            raise TokenRejected(f"malformed claims: {exc}") from exc
        with self._lock:
            self._verified[(realm, token, typ)] = (key.kid, dict(claims))
        return claims

    def _check_times(self, claims: dict[str, Any]) -> None:
        """Expiry against the injected clock (PyJWT would use the wall clock)."""
        now = self._clock.now()
        # The claims come from jose.claims_of: exp, nbf and iat are integers (never floats, NaN or strings).
        exp, nbf = claims["exp"], claims.get("nbf", claims["iat"])
        if exp <= now:
            raise TokenRejected("expired")
        if nbf > now:
            raise TokenRejected("not yet valid")

    # --- internals ------------------------------------------------------------------------------

    def _ctx(self, realm: str, kid: str) -> bytes:
        return f"{realm}/{kid}".encode()

    def _trusted(self, realm: str, kid: str) -> _Loaded | None:
        """The realm's key `kid` while it may verify: active, or retired with its publication not ended."""
        key = self._loaded(realm).get(kid)
        if key is None or (not key.active and (key.publish_until or 0) <= self._clock.now()):
            return None
        return key

    def _active(self, realm: str) -> _Loaded:
        active = [k for k in self._loaded(realm).values() if k.active and k.private is not None]
        if not active:
            self.invalidate(realm)
            active = [k for k in self._loaded(realm).values() if k.active and k.private is not None]
        if not active:
            raise RuntimeError(f"realm {realm} has no active signing key")
        return active[-1]

    def _loaded(self, realm: str) -> dict[str, _Loaded]:
        entry = self._cache.get(realm)
        if entry is not None and time.monotonic() - entry[0] < REFRESH_SECONDS:
            return entry[1]
        previous = entry[1] if entry is not None else {}
        loaded: dict[str, _Loaded] = {}
        keys = self._repo.all(realm)
        if self._purge(realm, keys):  # retired keys past their publication go when the ring loads
            keys = self._repo.all(realm)
        for key in keys:
            old = previous.get(key.kid)
            if old is not None and (old.active, old.publish_until) == (key.active, key.publish_until):
                loaded[key.kid] = old  # unchanged: no need to unseal it again
                continue
            private = serialization.load_pem_private_key(
                self._sealer.open(key.private_key_encrypted, self._ctx(realm, key.kid)), password=None)
            public = private.public_key()
            loaded[key.kid] = _Loaded(key.kid, key.alg, private if key.active else None, public, key.public_jwk,
                                      key.active, key.publish_until,
                                      jose.prepare(private, key.alg, key.kid) if key.active else None,
                                      jose.prepare(public, key.alg, key.kid))
        with self._lock:
            self._cache[realm] = (time.monotonic(), loaded)
        return loaded
