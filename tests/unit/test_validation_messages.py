"""Rejected settings are reported in Credo's words, the same on every surface."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from credo.domain.settings import ProviderSettings
from credo.management.messages import says, where


@pytest.mark.parametrize(("values", "field", "message"), [
    ({"access_token_lifetime": 5}, "access_token_lifetime", "must be at least 60"),
    ({"access_token_lifetime": "soon"}, "access_token_lifetime", "must be a whole number"),
    ({"allow_open_registration": "maybe"}, "allow_open_registration", "must be true or false"),
    ({"grant_types": "client_credentials"}, "grant_types", "must be a list"),
    ({"no_such_setting": 1}, "no_such_setting", "is not a known setting"),
    ({"protection": {"policy": {"max_clients": -1}}}, "protection.policy.max_clients", "must be at least 0"),
])
def test_pydantic_errors_in_credos_words(values: dict[str, object], field: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ProviderSettings.model_validate(values)
    first = caught.value.errors()[0]
    assert (where(first), says(first)) == (field, message)
    assert "Input should" not in says(first) and "Value error" not in says(first)


def test_our_own_validators_keep_their_words_without_pydantics_label() -> None:
    assert says({"type": "value_error", "msg": "Value error, unknown grant type x"}) == "unknown grant type x"
    assert says({"type": "something_new", "msg": "Whatever pydantic said"}) == "Whatever pydantic said"
