"""The grant handlers the token endpoint knows. A realm still has to enable each one."""

from __future__ import annotations

from credo.oauth.grants.client_credentials import ClientCredentials
from credo.oauth.token_endpoint import GrantHandler


def default_handlers() -> list[GrantHandler]:
    return [ClientCredentials()]
