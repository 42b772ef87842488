"""Authorization Code Grant (RFC 6749 §4.1.3 as OAuth 2.1 keeps it), with PKCE (RFC 7636) and resource
indicators (RFC 8707 §2.2).

A code is single use: redeeming it deletes it (a compare-and-delete, so two concurrent redemptions
cannot both win) and leaves a tombstone; a second use revokes every token issued from the code (its
family: the access tokens carry it as `fid`, the refresh tokens are of it), as RFC 6749 §4.1.2 and
RFC 9700 §4.2.4 ask. The code is bound to its client, its redirect URI, its PKCE challenge (a verifier
is required when the authorization request had a challenge, and refused when it had none: a downgrade),
its resources (the token request may only narrow them) and its nonce (carried into the ID token).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from credo.domain.errors import InvalidGrant
from credo.domain.models import Client, Realm, TokenRecord
from credo.domain.settings import GRANT_AUTHORIZATION_CODE
from credo.oauth.authorization import refresh_wanted
from credo.oauth.lifecycle import record_current
from credo.oauth.resources import narrowed
from credo.oauth.scopes import single
from credo.oauth.services import Services
from credo.oauth.token_endpoint import Grant, TokenRequest
from credo.oauth.tokens import FAMILY_REVOKED, GRANT_CLAIM, token_lifetime
from credo.storage.unit_of_work import UnitOfWork

BAD_CODE = "The authorization code is invalid, expired, already used or was issued to another client."
USED_PREFIX = "code-used:"
_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode("ascii")


def _record(services: Services, realm: Realm, client: Client, token_hash: str) -> TokenRecord | None:
    record = services.storage.tokens.get(token_hash)
    if record is None or record.kind != "code" or record.realm != realm.name:
        return None
    return record if record.client_id == client.client_id else None


def _revoke_family(services: Services, realm: Realm, client: Client, family: object) -> None:
    until = services.clock.now() + max(realm.settings.refresh_token_lifetime, token_lifetime(realm, client))
    services.storage.one_time.burn(realm.name, FAMILY_REVOKED + str(family), until)


def _replayed(services: Services, realm: Realm, client: Client, code: str) -> None:
    tomb = _record(services, realm, client, services.hasher.keyed_hash(USED_PREFIX + code))
    if tomb is not None:
        _revoke_family(services, realm, client, tomb.claims.get("family"))
        raise InvalidGrant(f"code reused; family {tomb.claims.get('family')} revoked", description=BAD_CODE)


def _burn(services: Services, realm: Realm, client: Client, record: TokenRecord, code: str, work: UnitOfWork) -> None:
    """Delete the code (the authoritative single use) and leave its tombstone, stored with the tokens."""
    if not services.storage.tokens.delete(record.token_hash):
        _revoke_family(services, realm, client, record.claims.get("family"))
        raise InvalidGrant("code redeemed concurrently; family revoked", description=BAD_CODE)
    keep_until = services.clock.now() + max(realm.settings.refresh_token_lifetime, token_lifetime(realm, client))
    work.add_token(TokenRecord(
        token_hash=services.hasher.keyed_hash(USED_PREFIX + code), realm=realm.name, jti=record.jti, kind="code",
        client_id=record.client_id, sub=record.sub, scopes=(), issued_at=record.issued_at, expires_at=keep_until,
        claims={"used": True, "family": record.claims.get("family")}))


def _check_pkce(record: TokenRecord, verifier: str | None) -> None:
    challenge = record.claims.get("code_challenge")
    if challenge is None:
        if verifier is not None:
            raise InvalidGrant("code_verifier for a code without a challenge", description=BAD_CODE)
        return
    if verifier is None:
        raise InvalidGrant("missing code_verifier", description="The 'code_verifier' parameter is required (PKCE).")
    if not _VERIFIER.match(verifier) or not hmac.compare_digest(s256(verifier), str(challenge)):
        raise InvalidGrant("PKCE verification failed", description="The code_verifier does not match the code_challenge.")


class AuthorizationCode:
    grant_type = GRANT_AUTHORIZATION_CODE

    async def __call__(self, services: Services, request: TokenRequest, client: Client,
                       requested_scopes: tuple[str, ...], work: UnitOfWork) -> Grant:
        realm, params = request.realm, request.params
        code = single(params, "code", required=True) or ""
        if len(code) > 512:
            raise InvalidGrant("code too long", description=BAD_CODE)
        record = _record(services, realm, client, services.hasher.keyed_hash(code))
        if record is None or record.claims.get("used"):
            _replayed(services, realm, client, code)
            raise InvalidGrant("unknown code or another client's", description=BAD_CODE)
        if record.expires_at <= services.clock.now():
            raise InvalidGrant("code expired", description=BAD_CODE)
        redirect_uri = params.get("redirect_uri")
        if (redirect_uri is not None or record.claims.get("redirect_uri_given")) and \
                redirect_uri != record.claims.get("redirect_uri"):
            raise InvalidGrant("redirect_uri differs from the authorization request",
                               description="The redirect_uri does not match the authorization request.")
        _check_pkce(record, params.get("code_verifier"))
        resources = narrowed(request.resources, tuple(record.claims.get("resources") or ()))
        user = services.user(realm.name, record.sub)
        if user is None or not record_current(services, realm, client, record, user=True):
            raise InvalidGrant(f"user {record.sub} gone or inactive", description=BAD_CODE)
        _burn(services, realm, client, record, code, work)
        claims = record.claims
        carried = {"family": claims["family"], GRANT_CLAIM: claims.get(GRANT_CLAIM), "resources": list(resources),
                   "auth_time": claims.get("auth_time"), "sid": claims.get("sid")}
        id_token = None
        if "openid" in record.scopes:
            id_token = {"sub": user.id, "auth_time": claims.get("auth_time"), "nonce": claims.get("nonce"),
                        "sid": claims.get("sid")}
        return Grant(sub=user.id, allowed_scopes=record.scopes, audience=resources or None, user=True,
                     issue_refresh_token=refresh_wanted(realm, record.scopes), refresh_claims=carried,
                     family=str(claims["family"]), grant_id=claims.get(GRANT_CLAIM), id_token=id_token)
