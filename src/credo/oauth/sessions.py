"""Browser sign-in: the realm's SSO session and the users' credentials check.

A session is a random 256-bit value in an HttpOnly cookie; only its keyed hash is stored (a token record
of kind "session": the user, the time of sign-in, the session id `sid` that ID tokens carry). Signing in
always creates a new session (the old one, if any, is deleted: the session id rotates at sign-in).
Forms are protected against cross-site requests by a token derived from a second cookie with the
server's key (`csrf_token`): a page from another site can neither read the cookie nor compute the token.
"""

from __future__ import annotations

import hmac
import os
import threading
import unicodedata

from credo.domain.errors import InvalidGrant
from credo.domain.models import Realm, TokenRecord, User
from credo.domain.values import value_object
from credo.keys.secrets import new_secret
from credo.oauth.services import Services
from credo.storage.unit_of_work import UnitOfWork

BAD_CREDENTIALS = "The username or password is incorrect."
SIGN_IN_PAGE = "sign-in page"  # what the browser sign-in counts its failures under (a password grant: the client)
MAX_CREDENTIAL = 1024  # characters of a username or password that are looked at
_dummy: dict[str, str] = {}
_dummy_lock = threading.Lock()


@value_object
class Session:
    realm: str
    sid: str
    user: User
    auth_time: int
    token_hash: str


def _dummy_hash(services: Services) -> str:
    """A real argon2id hash to verify against for unknown users, so timing does not reveal usernames."""
    with _dummy_lock:
        if "hash" not in _dummy:
            _dummy["hash"] = services.hasher.hash_password("credo-dummy-password-never-matches")
        return _dummy["hash"]


async def authenticate_user(services: Services, realm: Realm, username: str, password: str, source: str,
                            *, via: str = SIGN_IN_PAGE) -> User:
    """The active user with these credentials, or InvalidGrant with one answer for every failure (a wrong
    password, an unknown or inactive user: same words, same argon2 work); TooManyRequests once a failure
    count is over its limit: per (username, address) and per username (guessing one account), and per
    (`via`, address) and per `via` over every username (spraying one password over many accounts), `via`
    being the client of a password grant or the sign-in page."""
    username = unicodedata.normalize("NFKC", username[:MAX_CREDENTIAL])  # as stored: look-alikes share a count
    key, spray = (realm.name, username, source), (realm.name, via, source)
    with services.login_throttle.attempt(key, InvalidGrant), services.spray_throttle.attempt(spray, InvalidGrant):
        return await _check(services, realm, username[:MAX_CREDENTIAL], password[:MAX_CREDENTIAL])


async def _check(services: Services, realm: Realm, username: str, password: str) -> User:
    user = services.storage.users.by_username(realm.name, username) if username and "\x00" not in username else None
    if user is None:
        await services.verify_secret(password, _dummy_hash(services))
        raise InvalidGrant("unknown username", description=BAD_CREDENTIALS)
    if not await services.verify_secret(password, user.password_hash):
        raise InvalidGrant(f"wrong password for user {user.id}", description=BAD_CREDENTIALS)
    if not user.active:
        raise InvalidGrant(f"user {user.id} inactive", description=BAD_CREDENTIALS)
    return user


def start_session(services: Services, realm: Realm, user: User, old: Session | None, work: UnitOfWork) -> str:
    """A new session for `user` (stored with `work`); the cookie value is returned. An old session of
    the browser is ended, whoever it was for."""
    if old is not None:
        services.storage.tokens.delete(old.token_hash)
    now = services.clock.now()
    value = new_secret(32)
    work.add_token(TokenRecord(
        token_hash=services.hasher.keyed_hash(value), realm=realm.name, jti=os.urandom(16).hex(), kind="session",
        client_id="", sub=user.id, scopes=(), issued_at=now, expires_at=now + realm.settings.session_lifetime,
        claims={"auth_time": now}))
    return value


def read_session(services: Services, realm: Realm, value: str | None) -> Session | None:
    """The live session behind a cookie value, for an active user; None otherwise."""
    if not value or len(value) > 100:
        return None
    token_hash = services.hasher.keyed_hash(value)
    record = services.storage.tokens.get(token_hash)
    if record is None or record.kind != "session" or record.realm != realm.name:
        return None
    if record.expires_at <= services.clock.now():
        return None
    user = services.user(realm.name, record.sub)
    if user is None or not user.active:
        return None
    return Session(realm=realm.name, sid=record.jti, user=user,
                   auth_time=int(record.claims.get("auth_time", record.issued_at)), token_hash=token_hash)


def end_session(services: Services, session: Session | None) -> None:
    if session is not None:
        services.storage.tokens.delete(session.token_hash)


def new_csrf_cookie() -> str:
    return new_secret(32)


def csrf_token(services: Services, realm: Realm, cookie: str) -> str:
    """The value the realm's forms carry for this browser's CSRF cookie."""
    return services.hasher.keyed_hash(f"csrf:{realm.name}:{cookie}")


def csrf_ok(services: Services, realm: Realm, cookie: str | None, sent: str | None) -> bool:
    if not cookie or not sent or len(cookie) > 100 or len(sent) > 200:
        return False
    # As bytes: compare_digest refuses str with characters outside ASCII (TypeError), and a form may send any.
    return hmac.compare_digest(csrf_token(services, realm, cookie).encode(), sent.encode("utf-8", "surrogatepass"))
