"""A client's accessTokenLifetime attribute (settable by a DCR script or an administrator) is clamped to
what a realm may ask for: no 10,000-year token, no integer the database cannot hold."""

from __future__ import annotations

import pytest

from credo.domain.models import ATTR_ACCESS_TOKEN_LIFETIME, ATTR_OVERRIDES_ENABLED, Client
from credo.domain.settings import MAX_ACCESS_TOKEN_LIFETIME


@pytest.mark.parametrize("value, expected", [
    ("315360000000", MAX_ACCESS_TOKEN_LIFETIME), ("9" * 40, MAX_ACCESS_TOKEN_LIFETIME), ("5", 60), ("7200", 7200),
    ("-3", 60), ("NaN", None), ("1e9", None), ("", None),
])
def test_client_lifetime_is_clamped(value: str, expected: int | None) -> None:
    client = Client("alpha", "c", attributes={ATTR_ACCESS_TOKEN_LIFETIME: [value], ATTR_OVERRIDES_ENABLED: ["true"]})
    assert client.access_token_lifetime == expected
