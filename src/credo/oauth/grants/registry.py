"""The grant handlers the token endpoint knows. A realm still has to enable each one."""

from __future__ import annotations

from credo.oauth.grants.authorization_code import AuthorizationCode
from credo.oauth.grants.client_credentials import ClientCredentials
from credo.oauth.grants.jwt_bearer import JwtBearer
from credo.oauth.grants.password import Password
from credo.oauth.grants.refresh_token import RefreshToken
from credo.oauth.grants.token_exchange import TokenExchange
from credo.oauth.token_endpoint import GrantHandler


def default_handlers() -> list[GrantHandler]:
    return [ClientCredentials(), Password(), RefreshToken(), TokenExchange(), AuthorizationCode(), JwtBearer()]
