"""Resource Owner Password Credentials Grant (RFC 6749 §4.3): a trusted client sends a user's
username and password. Off unless both the realm and the client enable it.

Failed logins are counted per (realm, username, source address) by `services.login_throttle`: past the
limit the answer is `too_many_requests` (429, Retry-After), even for the right password, until the
window moves on. Before the limit, a wrong password, an unknown and an inactive user look the same."""

from __future__ import annotations

import threading
import uuid

from credo.domain.errors import InvalidGrant
from credo.domain.models import Client, Realm
from credo.domain.settings import GRANT_PASSWORD, GRANT_REFRESH_TOKEN
from credo.oauth.scopes import single
from credo.oauth.services import Services
from credo.oauth.token_endpoint import Grant, TokenRequest
from credo.storage.unit_of_work import UnitOfWork

BAD_CREDENTIALS = "The username or password is incorrect."
_dummy: dict[str, str] = {}
_dummy_lock = threading.Lock()


def _dummy_hash(services: Services) -> str:
    """A real argon2id hash to verify against for unknown users, so timing does not reveal usernames."""
    with _dummy_lock:
        if "hash" not in _dummy:
            _dummy["hash"] = services.hasher.hash_password("credo-dummy-password-never-matches")
        return _dummy["hash"]


def refresh_enabled(realm: Realm, client: Client) -> bool:
    return GRANT_REFRESH_TOKEN in realm.settings.grant_types and GRANT_REFRESH_TOKEN in client.grant_types


class Password:
    grant_type = GRANT_PASSWORD

    async def __call__(self, services: Services, request: TokenRequest, client: Client,
                       requested_scopes: tuple[str, ...], work: UnitOfWork) -> Grant:
        username = single(request.params, "username", required=True) or ""
        password = single(request.params, "password", required=True) or ""
        key = (request.realm.name, username, request.source)
        services.login_throttle.check(key)
        try:
            return await self._login(services, request, client, username, password)
        except InvalidGrant:
            services.login_throttle.failed(key)
            raise

    async def _login(self, services: Services, request: TokenRequest, client: Client, username: str,
               password: str) -> Grant:
        user = services.storage.users.by_username(request.realm.name, username)
        if user is None:
            await services.verify_secret(password, _dummy_hash(services))
            raise InvalidGrant("unknown username", description=BAD_CREDENTIALS)
        if not await services.verify_secret(password, user.password_hash):
            raise InvalidGrant(f"wrong password for user {user.id}", description=BAD_CREDENTIALS)
        if not user.active:
            raise InvalidGrant(f"user {user.id} inactive", description=BAD_CREDENTIALS)
        refresh = refresh_enabled(request.realm, client)
        # The refresh-token family is chosen now, so the access token can carry it (revoked with it).
        return Grant(sub=user.id, allowed_scopes=client.scopes, user=True, issue_refresh_token=refresh,
                     refresh_claims={"family": uuid.uuid4().hex} if refresh else {})
