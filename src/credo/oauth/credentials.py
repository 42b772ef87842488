"""What an `Authorization` header carries, as the edge hands it to the core (parsed once, there).

The core never sees the raw header: client authentication receives `BasicCredentials`, the
registration endpoints and tokeninfo a `BearerToken`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BasicCredentials:
    """`Authorization: Basic` (client_secret_basic): the client id and secret form-decoded as RFC 6749
    §2.3.1 asks, and the secret as sent (many clients, `curl -u` for one, do not form-encode it).
    `malformed`: a Basic header that is not base64 of UTF-8 `id:secret`; it authenticates nobody."""

    client_id: str
    secret: str
    raw_secret: str
    malformed: bool = False


MALFORMED_BASIC = BasicCredentials("", "", "", malformed=True)


@dataclass(frozen=True, slots=True)
class BearerToken:
    """`Authorization: Bearer <value>` with a non-empty value (surrounding whitespace removed)."""

    value: str
