"""Validation messages in Credo's words (the settings models are pydantic's; their messages are not ours).

Every surface that reports a rejected value — the console's forms, the admin API, `credo import` and the
CLI — says it the same way: the field, then what the value must be ("access_token_lifetime: must be at
least 60").
"""

from __future__ import annotations

from typing import Any

_SAYS: dict[str, str] = {
    "greater_than_equal": "must be at least {ge}",
    "less_than_equal": "must be at most {le}",
    "greater_than": "must be more than {gt}",
    "less_than": "must be less than {lt}",
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "string_type": "must be text",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "set_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "missing": "is required",
    "extra_forbidden": "is not a known setting",
    "string_too_short": "must be at least {min_length} characters long",
    "string_too_long": "must be at most {max_length} characters long",
    "too_short": "must have at least {min_length} items",
    "too_long": "must have at most {max_length} items",
    "literal_error": "must be one of {expected}",
    "enum": "must be one of {expected}",
    "url_parsing": "must be a URL",
    "url_scheme": "must be a URL with the scheme {expected_schemes}",
    "url_type": "must be a URL",
    "string_pattern_mismatch": "has characters that are not allowed here",
    "json_invalid": "must be valid JSON",
}


def says(error: Any) -> str:
    """One pydantic error (an item of `ValidationError.errors()`) in Credo's words."""
    kind = str(error.get("type", ""))
    context = dict(error.get("ctx") or {})
    template = _SAYS.get(kind)
    if template is not None:
        try:
            return template.format(**context)
        except (KeyError, IndexError):
            pass
    message = str(error.get("msg") or "is not valid")
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):  # our own validators' words, without pydantic's label
            return message[len(prefix):]
    return message


def where(error: Any) -> str:
    """The dotted path of the field an error is about ("settings.protection.policy.max_clients")."""
    return ".".join(str(p) for p in error.get("loc", ()))
