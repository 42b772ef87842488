"""The keyring's own compact-JWS code: interoperable with PyJWT, and every forged or malformed token refused."""

from __future__ import annotations

import base64
import json

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from credo.domain.clock import FrozenClock
from credo.keys.keyring import KeyRing, TokenRejected
from credo.keys.sealing import Sealer
from credo.storage.memory import MemoryStorage

ISS = "http://credo.test/am/oauth2/realms/root/realms/alpha"


def _ring(alg: str = "ES256") -> tuple[KeyRing, FrozenClock, str]:
    clock = FrozenClock()
    ring = KeyRing(MemoryStorage().keys, Sealer(b"k" * 32), clock)
    key = ring.create_key("alpha", alg)
    return ring, clock, key.kid


def _claims(clock: FrozenClock, **extra: object) -> dict[str, object]:
    return {"iss": ISS, "sub": "c", "client_id": "c", "iat": clock.now(), "exp": clock.now() + 60, "jti": "j1",
            **extra}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(obj: dict[str, object]) -> str:
    return _b64(json.dumps(obj).encode())


def _private(ring: KeyRing, kid: str) -> object:
    return ring._loaded("alpha")[kid].private


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_tokens_interoperate_with_pyjwt(alg: str) -> None:
    ring, clock, kid = _ring(alg)
    jwk = json.dumps(ring.jwks("alpha")["keys"][0])
    public = (ECAlgorithm if alg == "ES256" else RSAAlgorithm).from_jwk(jwk)
    ours = ring.sign_now("alpha", _claims(clock, scope="data-read"))
    header = jwt.get_unverified_header(ours)
    assert header == {"alg": alg, "kid": kid, "typ": "at+jwt"}
    decoded = jwt.decode(ours, public, algorithms=[alg], options={"verify_exp": False, "verify_iat": False,
                                                                  "verify_nbf": False, "verify_aud": False})
    assert decoded["scope"] == "data-read"
    theirs = jwt.encode(_claims(clock, jti="j2"), _private(ring, kid), algorithm=alg,  # type: ignore[arg-type]
                        headers={"kid": kid, "typ": "at+jwt"})
    assert ring.verify("alpha", theirs, issuer=ISS)["jti"] == "j2"


def test_alg_none_and_hmac_with_the_public_key_are_refused() -> None:
    ring, clock, kid = _ring()
    body = _segment(_claims(clock))
    with pytest.raises(TokenRejected, match="not allowed"):
        ring.verify("alpha", f"{_segment({'alg': 'none', 'kid': kid, 'typ': 'at+jwt'})}.{body}.", issuer=ISS)
    pem = ring._loaded("alpha")[kid].public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = _segment({"alg": "HS256", "kid": kid, "typ": "at+jwt"})
    import hashlib
    import hmac

    mac = hmac.new(pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
    with pytest.raises(TokenRejected, match="not allowed"):
        ring.verify("alpha", f"{header}.{body}.{_b64(mac)}", issuer=ISS)


def test_alg_must_match_the_key() -> None:
    ring, clock, kid = _ring("ES256")
    token = ring.sign_now("alpha", _claims(clock))
    _, body, sig = token.split(".")
    header = _segment({"alg": "RS256", "kid": kid, "typ": "at+jwt"})
    with pytest.raises(TokenRejected, match="does not match"):
        ring.verify("alpha", f"{header}.{body}.{sig}", issuer=ISS)


def test_tampered_payload_and_signature_are_refused() -> None:
    ring, clock, _ = _ring()
    token = ring.sign_now("alpha", _claims(clock))
    header, body, sig = token.split(".")
    forged_body = _segment(_claims(clock, sub="admin"))
    with pytest.raises(TokenRejected, match="bad signature"):
        ring.verify("alpha", f"{header}.{forged_body}.{sig}", issuer=ISS)
    raw = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
    raw[10] ^= 1
    with pytest.raises(TokenRejected, match="bad signature"):
        ring.verify("alpha", f"{header}.{body}.{_b64(bytes(raw))}", issuer=ISS)
    with pytest.raises(TokenRejected, match="bad signature"):
        ring.verify("alpha", f"{header}.{body}.{_b64(bytes(raw[:63]))}", issuer=ISS)  # wrong length


@pytest.mark.parametrize("mangle", [
    lambda t: t + "=",                      # padding is not base64url
    lambda t: t[:-2] + "+/",                # standard alphabet, not URL-safe
    lambda t: t[:-1] + " ",                 # whitespace would be skipped by a lenient decoder
    lambda t: t[:-1] + "!",
    lambda t: t + ".x",                     # four segments
    lambda t: t.rsplit(".", 1)[0],          # two segments
    lambda t: t.replace(".", "..", 1),
    lambda t: t + "é",
    lambda t: t[:-1],                       # a segment length base64 cannot have... or a changed signature
])
def test_malformed_encodings_are_refused(mangle: object) -> None:
    ring, clock, _ = _ring()
    token = ring.sign_now("alpha", _claims(clock))
    assert ring.verify("alpha", token, issuer=ISS)["sub"] == "c"
    with pytest.raises(TokenRejected):
        ring.verify("alpha", mangle(token), issuer=ISS)  # type: ignore[operator]


@pytest.mark.parametrize("header_extra", [{"jku": "https://evil.test/jwks"}, {"jwk": {"kty": "EC"}},
                                          {"x5u": "https://evil.test/c"}, {"x5c": ["MII"]}, {"crit": ["exp"]}])
def test_headers_pointing_elsewhere_are_refused(header_extra: dict[str, object]) -> None:
    ring, clock, kid = _ring()
    token = ring.sign_now("alpha", _claims(clock))
    _, body, sig = token.split(".")
    header = _segment({"alg": "ES256", "kid": kid, "typ": "at+jwt", **header_extra})
    with pytest.raises(TokenRejected, match="forbidden header"):
        ring.verify("alpha", f"{header}.{body}.{sig}", issuer=ISS)


def test_unknown_kid_wrong_type_and_non_object_parts_are_refused() -> None:
    ring, clock, _ = _ring()
    token = ring.sign_now("alpha", _claims(clock))
    _, body, sig = token.split(".")
    with pytest.raises(TokenRejected, match="unknown kid"):
        ring.verify("alpha", f"{_segment({'alg': 'ES256', 'kid': 'nope', 'typ': 'at+jwt'})}.{body}.{sig}", issuer=ISS)
    with pytest.raises(TokenRejected, match="wrong token type"):
        ring.verify("alpha", ring.sign_now("alpha", _claims(clock), typ="JWT"), issuer=ISS)
    with pytest.raises(TokenRejected, match="malformed"):
        ring.verify("alpha", f"{_b64(b'[1]')}.{body}.{sig}", issuer=ISS)
    with pytest.raises(TokenRejected, match="malformed"):
        ring.verify("alpha", f"{_b64(b'not json')}.{body}.{sig}", issuer=ISS)


@pytest.mark.parametrize("header_typ", ["JWT", "jwt", "application/JWT"])
def test_the_type_is_a_media_type_compared_without_regard_to_case(header_typ: str) -> None:
    """ID tokens are signed with `typ: JWT` and verified (id_token_hint of logout) asking for "JWT"."""
    ring, clock, _ = _ring()
    token = ring.sign_now("alpha", _claims(clock), typ=header_typ)
    assert ring.verify("alpha", token, issuer=ISS, typ="JWT")["jti"] == "j1"
    with pytest.raises(TokenRejected, match="wrong token type"):
        ring.verify("alpha", token, issuer=ISS)


@pytest.mark.parametrize("missing", ["exp", "iat", "iss", "jti"])
def test_required_claims(missing: str) -> None:
    ring, clock, _ = _ring()
    claims = _claims(clock)
    del claims[missing]
    with pytest.raises(TokenRejected):
        ring.verify("alpha", ring.sign_now("alpha", claims), issuer=ISS)


def test_audience_is_checked_when_asked() -> None:
    ring, clock, _ = _ring()
    token = ring.sign_now("alpha", _claims(clock, aud=["app-1", "app-2"]))
    assert ring.verify("alpha", token, issuer=ISS, audience="app-2")["sub"] == "c"
    with pytest.raises(TokenRejected, match="audience"):
        ring.verify("alpha", token, issuer=ISS, audience="app-3")
    with pytest.raises(TokenRejected, match="audience"):
        ring.verify("alpha", ring.sign_now("alpha", _claims(clock)), issuer=ISS, audience="app-1")


def test_a_remembered_signature_still_gets_every_claim_check() -> None:
    ring, clock, _ = _ring()
    token = ring.sign_now("alpha", _claims(clock))
    first = ring.verify("alpha", token, issuer=ISS)
    first["sub"] = "mutated by a caller"
    assert ring.verify("alpha", token, issuer=ISS)["sub"] == "c"  # the remembered claims are not shared
    with pytest.raises(TokenRejected, match="issuer"):
        ring.verify("alpha", token, issuer="http://evil.test")
    with pytest.raises(TokenRejected):
        ring.verify("bravo", token, issuer=ISS)
    clock.advance(61)
    with pytest.raises(TokenRejected, match="expired"):
        ring.verify("alpha", token, issuer=ISS)


def test_a_remembered_signature_dies_with_its_key() -> None:
    ring, clock, _ = _ring()
    token = ring.sign_now("alpha", _claims(clock, exp=clock.now() + 7200))
    ring.verify("alpha", token, issuer=ISS)
    ring.rotate("alpha", "ES256", longest_token_lifetime=60)
    assert ring.verify("alpha", token, issuer=ISS)["sub"] == "c"  # still published
    clock.advance(61)
    assert ring.purge_retired("alpha") == 1
    with pytest.raises(TokenRejected, match="unknown kid"):
        ring.verify("alpha", token, issuer=ISS)


def _resigned(ring: KeyRing, kid: str, payload: bytes) -> str:
    """A token with exactly `payload` as its claims segment, correctly signed with the realm key."""
    return jwt.api_jws.PyJWS().encode(payload, _private(ring, kid), algorithm="ES256",  # type: ignore[arg-type]
                                      headers={"kid": kid, "typ": "at+jwt"})


@pytest.mark.parametrize("exp", ["NaN", "Infinity", "-Infinity", "1e400", "1.0", "2e9", '"9999999999"', "true"])
def test_numeric_dates_must_be_finite_integers(exp: str) -> None:
    """NaN and Infinity are not JSON: the strict decoder refuses them (a lenient one would let NaN never
    expire, since every comparison with it is false); floats, strings and booleans are refused too."""
    ring, clock, kid = _ring()
    for name in ("exp", "nbf", "iat"):
        claims = _claims(clock, nbf=clock.now())
        body = json.dumps({**claims, name: "__X__"}).replace('"__X__"', exp).encode()
        with pytest.raises(TokenRejected, match="malformed claims"):
            ring.verify("alpha", _resigned(ring, kid, body), issuer=ISS)
    good = json.dumps(_claims(clock, nbf=clock.now())).encode()
    assert ring.verify("alpha", _resigned(ring, kid, good), issuer=ISS)["sub"] == "c"


def test_a_key_set_lookup_never_takes_a_key_from_the_token() -> None:
    """verify_with_key_set: the key comes from the set we own, by kid; embedded or remote keys are refused,
    and so are algorithms outside the allow-list even with a key of the set."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from credo.keys import jose

    ours, theirs = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    jwks = {"keys": [jose.public_jwk(ours.public_key(), "k1", "ES256")]}
    claims = {"iss": "x", "exp": 2_000_000_000}

    def verify(token: str, algorithms: tuple[str, ...] = ("ES256",)) -> dict[str, object]:
        return jose.verify_with_key_set(token, jwks, algorithms=algorithms, now=1_000_000_000)

    assert verify(jwt.encode(claims, ours, algorithm="ES256", headers={"kid": "k1"}))["iss"] == "x"
    assert verify(jwt.encode(claims, ours, algorithm="ES256"))["iss"] == "x"  # no kid: any key of the set
    with pytest.raises(jose.JoseError, match="no trusted key verified"):
        verify(jwt.encode(claims, theirs, algorithm="ES256", headers={"kid": "k1"}))
    with pytest.raises(jose.JoseError, match="no trusted key matches"):
        verify(jwt.encode(claims, ours, algorithm="ES256", headers={"kid": "k2"}))
    embedded = json.loads(ECAlgorithm.to_jwk(theirs.public_key()))
    for header in ({"kid": "k1", "jwk": embedded}, {"jku": "https://evil.test/k"}, {"x5u": "https://evil.test/c"}):
        with pytest.raises(jose.JoseError, match="forbidden header"):
            verify(jwt.encode(claims, theirs, algorithm="ES256", headers=header))
    with pytest.raises(jose.JoseError, match="not allowed"):
        verify(jwt.encode(claims, None, algorithm="none"))  # type: ignore[arg-type]
    with pytest.raises(jose.JoseError, match="not allowed"):
        verify(jwt.encode(claims, ours, algorithm="ES256", headers={"kid": "k1"}), algorithms=("RS256",))
    with pytest.raises(jose.JoseError, match="not allowed"):  # HMAC never, even when a caller lists it
        verify(jwt.encode(claims, "a-shared-secret-of-32-bytes-long", algorithm="HS256", headers={"kid": "k1"}),
               algorithms=("HS256",))
