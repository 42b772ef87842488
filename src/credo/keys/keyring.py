"""Per-realm signing keys: creation, rotation, the published JWKS, signing and verifying JWTs.

Verification never trusts the token: the key is looked up by `kid` among this realm's own keys, the
algorithm must be the one that key was made for (ES256 or RS256; never `none` or HMAC), and headers
that point elsewhere for key material (`jku`, `jwk`, `x5u`, `x5c`) or demand unknown processing
(`crit`) are refused.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from credo.domain.models import SigningKey
from credo.keys import jws
from credo.keys.clock import Clock
from credo.keys.sealing import Sealer
from credo.storage.protocols import KeyRepository

ALLOWED_ALGS = ("ES256", "RS256")
FORBIDDEN_HEADERS = ("jku", "jwk", "x5u", "x5c", "crit")
REFRESH_SECONDS = 30.0
REQUIRED_CLAIMS = ("exp", "iat", "iss", "jti")
VERIFIED_CACHE_SIZE = 10_000  # about 2 KB each (token and claims)


class TokenRejected(Exception):
    """A JWT failed verification; the message is for the log only."""


@dataclass(frozen=True)
class _Loaded:
    kid: str
    alg: str
    private: Any | None
    public: Any
    jwk: dict[str, Any]
    active: bool
    publish_until: int | None


def generate_private_key(alg: str) -> Any:
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(f"unsupported signing algorithm {alg}")


def public_jwk(public_key: Any, kid: str, alg: str) -> dict[str, Any]:
    algo = ECAlgorithm if alg == "ES256" else RSAAlgorithm
    jwk: dict[str, Any] = json.loads(algo.to_jwk(public_key))
    jwk.update({"kid": kid, "alg": alg, "use": "sig"})
    return jwk


class KeyRing:
    def __init__(self, repo: KeyRepository, sealer: Sealer, clock: Clock) -> None:
        self._repo = repo
        self._sealer = sealer
        self._clock = clock
        self._cache: dict[str, tuple[float, dict[str, _Loaded]]] = {}
        self._headers: dict[tuple[str, str], bytes] = {}
        self._verified: dict[tuple[str, str, str | None], tuple[str, dict[str, Any]]] = {}
        self._forced: dict[str, float] = {}
        self.forced_reload_interval = 1.0  # seconds
        self._lock = threading.Lock()

    # --- administration -------------------------------------------------------------------------

    def create_key(self, realm: str, alg: str = "ES256") -> SigningKey:
        private = generate_private_key(alg)
        kid = uuid.uuid4().hex[:16]
        pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        key = SigningKey(realm=realm, kid=kid, alg=alg, private_key_encrypted=self._sealer.seal(pem, self._ctx(realm, kid)),
                         public_jwk=public_jwk(private.public_key(), kid, alg), created_at=self._clock.now())
        self._repo.add(key)
        self.invalidate(realm)
        return key

    def ensure_key(self, realm: str, alg: str = "ES256") -> None:
        if not any(k.active for k in self._repo.all(realm)):
            self.create_key(realm, alg)

    def rotate(self, realm: str, alg: str, longest_token_lifetime: int) -> SigningKey:
        """Add a new active key; older active keys stop signing but stay published until every token
        they could have signed has expired."""
        new = self.create_key(realm, alg)
        until = self._clock.now() + longest_token_lifetime
        for key in self._repo.all(realm):
            if key.kid != new.kid and key.active:
                self._repo.put(replace(key, active=False, publish_until=until))
        self.invalidate(realm)
        return new

    def purge_retired(self, realm: str) -> int:
        now = self._clock.now()
        gone = 0
        for key in self._repo.all(realm):
            if not key.active and key.publish_until is not None and key.publish_until <= now:
                gone += int(self._repo.delete(realm, key.kid))
        self.invalidate(realm)
        return gone

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

    def sign(self, realm: str, claims: dict[str, Any], typ: str = "at+jwt") -> str:
        signer = self._active(realm)
        assert signer.private is not None
        header = self._headers.get((signer.kid, typ))
        if header is None:
            header = self._headers[(signer.kid, typ)] = jws.encoded_header(signer.alg, signer.kid, typ)
        return jws.sign(header, claims, signer.private, signer.alg)

    def signing_alg(self, realm: str) -> str:
        return self._active(realm).alg

    def verify(self, realm: str, token: str, *, issuer: str, typ: str | None = "at+jwt",
               audience: str | None = None) -> dict[str, Any]:
        """The claims of a token signed by one of this realm's keys, with the given issuer, type and
        audience, within its validity period. Signature results are remembered per token string
        (bounded), only while the signing key is still one of the realm's keys."""
        remembered = self._verified.get((realm, token, typ))
        if remembered is not None and remembered[0] in self._loaded(realm):
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
        if audience is not None:
            aud = claims.get("aud")
            if not (aud == audience or (isinstance(aud, list) and audience in aud)):
                raise TokenRejected("wrong audience")

    def _verify_signature(self, realm: str, token: str, typ: str | None) -> dict[str, Any]:
        try:
            header, payload, signing_input, signature = jws.split(token)
        except jws.MalformedJws as exc:
            raise TokenRejected(f"malformed token: {exc}") from exc
        for name in FORBIDDEN_HEADERS:
            if name in header:
                raise TokenRejected(f"forbidden header {name}")
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ALLOWED_ALGS:
            raise TokenRejected(f"algorithm {alg!r} not allowed")
        if typ is not None and str(header.get("typ", "")).lower() not in (typ, f"application/{typ}"):
            raise TokenRejected("wrong token type")
        key = self._loaded(realm).get(kid) if isinstance(kid, str) else None
        if key is None and isinstance(kid, str) and self._may_force_reload(realm):
            self.mark_stale(realm)  # a key rotated in by another process
            key = self._loaded(realm).get(kid)
        if key is None:
            raise TokenRejected("unknown kid")
        if key.alg != alg:
            raise TokenRejected("algorithm does not match the key")
        if not jws.signature_valid(key.public, key.alg, signing_input, signature):
            raise TokenRejected("bad signature")
        try:
            claims = jws.claims_of(payload)
        except jws.MalformedJws as exc:
            raise TokenRejected(f"malformed claims: {exc}") from exc
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[(realm, token, typ)] = (key.kid, dict(claims))
        return claims

    def _check_times(self, claims: dict[str, Any]) -> None:
        """Expiry against the injected clock (PyJWT would use the wall clock)."""
        now = self._clock.now()
        exp, nbf = claims["exp"], claims.get("nbf", claims["iat"])
        # Credo issues integer NumericDates only: strings, booleans and floats are refused, not coerced.
        if type(exp) is not int or type(nbf) is not int or type(claims["iat"]) is not int:
            raise TokenRejected("time claim is not an integer")
        if exp <= now:
            raise TokenRejected("expired")
        if nbf > now:
            raise TokenRejected("not yet valid")

    # --- internals ------------------------------------------------------------------------------

    def _ctx(self, realm: str, kid: str) -> bytes:
        return f"{realm}/{kid}".encode()

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
        for key in self._repo.all(realm):
            old = previous.get(key.kid)
            if old is not None and (old.active, old.publish_until) == (key.active, key.publish_until):
                loaded[key.kid] = old  # unchanged: no need to unseal it again
                continue
            private = serialization.load_pem_private_key(
                self._sealer.open(key.private_key_encrypted, self._ctx(realm, key.kid)), password=None)
            loaded[key.kid] = _Loaded(key.kid, key.alg, private if key.active else None,
                                      private.public_key(), key.public_jwk, key.active, key.publish_until)
        with self._lock:
            self._cache[realm] = (time.monotonic(), loaded)
        return loaded
