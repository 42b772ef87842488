"""What an import keeps of what a realm already has: a document says what its set-up needs, and importing
it never switches off or resets what another set-up relies on (see docs/config-schema.md, "Importing
into a realm that has entries").

- A member the document leaves out is left as it is (also inside `settings.protection`, a client's
  `attributes`, a user's `active`, a script's `description`, a policy's `permissions`).
- Objects merge member by member (the settings are a JSON merge patch, RFC 7396: null resets a setting to
  its default).
- Lists that grant something are added to: the entry keeps its members and gains the document's. They are
  the realm's `grant_types` and `registration_scope_allowlist`; an application's or agent's `grant_types`,
  `scopes`, `owners`, `redirect_uris`, `post_logout_redirect_uris` and `resources`; a group's `members`;
  a policy's `subjects` and `subject_groups`. Removing a member is done with the console, the admin API
  or the CLI.
- Lists that limit something are set as written when the document gives them: `protection.policy`'s
  `allowed_*` lists, `software_statement_keys.issuers`, a policy's `permissions` (adding to a limit would
  widen it; an empty one means no limit).
- An existing user's password and an existing client's secret change only when the entry says
  `reset_password: true` / `reset_secret: true`; otherwise the document's value is used only when the
  entry is created, and a different one is counted in `secrets_kept`.

An entry the import creates (a realm included) takes the document's values as written.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from credo.domain.models import Client
from credo.domain.settings import ProviderSettings
from credo.keys.secrets import SecretHasher

ADDED_SETTINGS = ("grant_types", "registration_scope_allowlist")
ADDED_CLIENT_LISTS = ("grant_types", "scopes", "owners", "redirect_uris", "post_logout_redirect_uris", "resources")


def added(current: Iterable[str], wanted: Iterable[str]) -> tuple[str, ...]:
    """`current` with the members of `wanted` it lacks appended (order kept, no duplicates)."""
    return tuple(dict.fromkeys((*current, *wanted)))


def settings_patch(current: ProviderSettings | None, wanted: dict[str, Any]) -> dict[str, Any]:
    """The JSON merge patch a document's `settings` make of an existing realm's (`current`; None for a realm
    the import creates): the granting lists gain the document's members instead of being replaced."""
    if current is None:
        return wanted
    patch = dict(wanted)
    for key in ADDED_SETTINGS:
        if isinstance(patch.get(key), list):
            patch[key] = list(added(getattr(current, key), patch[key]))
    return patch


def client_value(current: Client, key: str, value: Any) -> Any:
    """What an existing client's field `key` becomes when the document gives `value`."""
    if key == "attributes":
        return {**current.attributes, **{k: [str(x) for x in v] for k, v in (value or {}).items()}}
    if key in ADDED_CLIENT_LISTS:
        return added(getattr(current, key), value or ())
    return tuple(value) if isinstance(value, list) else value


def same_secret(hasher: SecretHasher, clear: str | None, hashed: str | None, stored: str | None) -> bool:
    """Whether the document's secret (clear or as a hash) is the stored one; True when it gives none."""
    if clear:
        return hasher.verify(clear, stored)
    return not hashed or hashed == stored
