"""Client authentication (RFC 6749 §2.3): client_secret_basic, client_secret_post, none, and
private_key_jwt (RFC 7523 §2.2: a `client_assertion`, checked in oauth/client_assertion.py).

Exactly one method per request. A client with a secret may send it either way (Basic header or body),
whichever it registered, unless an administrator pinned its registered method (`Client.strict_auth_method`);
a public client (`none`) sends no secret, and a client with a secret always sends it. A disabled, unknown
or wrongly authenticated client always gets the same `invalid_client` answer. The token endpoint,
introspection and revocation all authenticate here.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from credo.domain.errors import InvalidClient
from credo.domain.models import Client
from credo.oauth.client_assertion import authenticate_assertion, unverified_issuer
from credo.oauth.client_documents import authenticating_client
from credo.oauth.credentials import BasicCredentials
from credo.oauth.federation import authenticate_federated
from credo.oauth.services import Services
from credo.oauth.throttle import ThrottleKey


async def authenticate_client(services: Services, realm: str, params: Mapping[str, str],
                        basic: BasicCredentials | None, *, source: str = "", endpoint: str = "") -> Client:
    """The authenticated client, or InvalidClient; TooManyRequests after too many recent failures
    for this (realm, client_id, source address). `basic`: the request's Basic credentials, if any;
    `endpoint`: the path of the endpoint under the realm (`access_token`, `introspect`, `token/revoke`),
    an audience a client assertion may name besides the issuer."""
    claimed = _claimed_id(params, basic)
    key = (realm, claimed, source)
    throttle = services.auth_throttle
    throttle.check(key)
    started = time.perf_counter()
    try:
        if "client_assertion" in params or "client_assertion_type" in params:
            return await _asserted(services, realm, params, basic, endpoint)
        return await _authenticate(services, realm, params, basic, key)
    except InvalidClient:
        throttle.failed(key)
        await services.pad_failure(started)  # every failure takes as long: timing tells no id apart
        raise


def _claimed_id(params: Mapping[str, str], basic: BasicCredentials | None) -> str:
    if basic is not None:
        return basic.client_id  # "" when malformed
    return params.get("client_id") or unverified_issuer(params.get("client_assertion") or "")


async def _asserted(services: Services, realm: str, params: Mapping[str, str], basic: BasicCredentials | None,
                    endpoint: str) -> Client:
    """A client assertion: a workload platform's token from a trusted issuer (oauth/federation.py), else
    private_key_jwt; the assertion is the only credential of the request."""
    agent = await authenticate_federated(services, services.realm(realm), params, basic)
    if agent is not None:
        return agent
    assertion = params.get("client_assertion")
    if basic is not None or "client_secret" in params:
        raise InvalidClient("two authentication methods in one request")
    if not assertion:
        raise InvalidClient("client_assertion_type without client_assertion")
    record = services.realm(realm)
    base = f"{services.base_url}{record.url_path}"
    audiences = (services.issuer(record), *((f"{base}/{endpoint}",) if endpoint else ()))
    return await authenticate_assertion(services, realm, assertion, params.get("client_assertion_type"),
                                        params.get("client_id"), audiences)


async def _authenticate(services: Services, realm: str, params: Mapping[str, str], basic: BasicCredentials | None,
                        key: ThrottleKey) -> Client:
    if "assertion" in params:  # the jwt-bearer grant's workload token alone (oauth/federation.py)
        agent = await authenticate_federated(services, services.realm(realm), params, basic)
        if agent is not None:
            return agent
    body_id, body_secret = params.get("client_id"), params.get("client_secret")
    method: str
    if basic is not None:
        if body_secret is not None:
            raise InvalidClient("two authentication methods in one request")
        if basic.malformed:
            raise InvalidClient("malformed Basic header")
        client_id, secret, raw_secret = basic.client_id, basic.secret, basic.raw_secret
        if body_id is not None and body_id != client_id:
            raise InvalidClient("client_id in body differs from the Basic header")
        method = "client_secret_basic"
    elif body_secret is not None:
        client_id, secret, method = body_id or "", body_secret, "client_secret_post"
        raw_secret = secret
    elif body_id:
        client_id, secret, raw_secret, method = body_id, "", "", "none"
    else:
        raise InvalidClient("no client authentication")

    client = await authenticating_client(services, realm, client_id) if client_id else None
    if client is None or not client.enabled:
        # Spend the work of a real check; the caller pads every failure to the same time.
        await services.verify_secret(secret or "x", "h1$" + "0" * 64)
        raise InvalidClient(f"unknown or disabled client {client_id!r}")
    hasher = services.hasher
    if hasher.is_slow(client.secret_hash) and not hasher.remembered(secret, client.secret_hash):
        # argon2 waits: the attempt is held as a failure meanwhile, so concurrent guesses cannot all pass
        # the count (a generated secret's HMAC check does not wait and holds nothing)
        with services.auth_throttle.holding(key):
            return await _checked(services, client, method, secret, raw_secret)
    return await _checked(services, client, method, secret, raw_secret)


async def _checked(services: Services, client: Client, method: str, secret: str, raw_secret: str) -> Client:
    if not client.accepts_auth_method(method):
        raise await _wrong_method(services, client, method, secret)
    if method != "none" and not await _secret_matches(services, client, secret, raw_secret):
        raise InvalidClient(f"wrong secret for client {client.client_id}")
    return client


async def _secret_matches(services: Services, client: Client, secret: str, raw: str) -> bool:
    """RFC 6749 §2.3.1 form-encodes Basic credentials, but many clients (`curl -u`) send them as they
    are: a secret whose decoded and sent forms differ (it holds `+` or `%`) is checked both ways."""
    if await services.verify_secret(secret, client.secret_hash):
        return True
    return raw != secret and await services.verify_secret(raw, client.secret_hash)


_HOW = {"client_secret_basic": "send client_id and client_secret in an HTTP Basic Authorization header",
        "client_secret_post": "send client_id and client_secret as form parameters in the request body"}


async def _wrong_method(services: Services, client: Client, method: str, secret: str) -> InvalidClient:
    """The error for a client that used a method it may not use (a pinned client the other way of sending
    its secret). Only a caller that proved it holds the secret learns which method to use; everybody else
    gets the generic answer."""
    detail = f"client {client.client_id} registered {client.auth_method}, used {method}"
    how = _HOW.get(client.auth_method)
    if how is None or method == "none" or not await services.verify_secret(secret, client.secret_hash):
        return InvalidClient(detail)
    return InvalidClient(detail, description=f"This client is registered for {client.auth_method}: {how}.")
