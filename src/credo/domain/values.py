"""Value objects: immutable records built at the cost of a plain dataclass.

`@value_object` makes a dataclass with slots whose fields cannot be assigned after construction: the type
checker refuses it (PEP 681 `frozen_default`; mypy runs in strict mode over the whole code base in CI, so
an assignment anywhere fails the build). Equality and hashing are those of a frozen dataclass.

Python's frozen dataclasses enforce the same at run time by routing every field of every construction
through `object.__setattr__`. A request builds dozens of these values (its headers, form, grant,
decision, tokens and audit event), and that routing was 7 % of the instructions of a client-credentials
request and 9 % of a token exchange (counted with callgrind, docs/performance.md). The rule is the same;
it is checked once, before the code runs, instead of on every request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar, dataclass_transform

T = TypeVar("T")


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def value_object(cls: type[T]) -> type[T]:
    """The class as an immutable value (see the module docstring)."""
    return dataclass(slots=True, unsafe_hash=True)(cls)  # unsafe_hash: the hash a frozen dataclass has
