"""What an `Authorization` header carries, as the edge hands it to the core (parsed once, there).

The core never sees the raw header: client authentication receives `BasicCredentials`, the
registration endpoints and tokeninfo a `BearerToken`.
"""

from __future__ import annotations

import base64
from urllib.parse import unquote_plus

from credo.domain.values import value_object


@value_object
class BasicCredentials:
    """`Authorization: Basic` (client_secret_basic): the client id and secret form-decoded as RFC 6749
    §2.3.1 asks, and the secret as sent (many clients, `curl -u` for one, do not form-encode it).
    `malformed`: a Basic header that is not base64 of UTF-8 `id:secret`; it authenticates nobody."""

    client_id: str
    secret: str
    raw_secret: str
    malformed: bool = False


MALFORMED_BASIC = BasicCredentials("", "", "", malformed=True)


def parse_basic(credentials: str) -> BasicCredentials:
    """The credentials of `Basic <credentials>`: base64 of `id:secret`, each form-encoded (RFC 6749 §2.3.1)."""
    try:
        raw = base64.b64decode(credentials.strip(), validate=True).decode()
    except ValueError:  # not base64 (binascii.Error), not ASCII, or not UTF-8 once decoded
        return MALFORMED_BASIC
    client_id, colon, secret = raw.partition(":")
    if not colon:
        return MALFORMED_BASIC
    return BasicCredentials(unquote_plus(client_id), unquote_plus(secret), secret)


@value_object
class BearerToken:
    """`Authorization: Bearer <value>` with a non-empty value (surrounding whitespace removed)."""

    value: str
