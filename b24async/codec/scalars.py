"""Flags, numbers, strings, enums and PHP's two array shapes, from the wire (and ``yn`` to it).

Each reader takes the wire value and a field name for its error; the tables of what they read
and refuse are in :mod:`b24async.codec` (import from there). Dates and times are
:mod:`b24async.codec.times`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from typing import Any, TypeVar

__all__ = [
    "as_bool",
    "as_enum",
    "as_int",
    "as_list",
    "as_map",
    "as_opt_bool",
    "as_opt_int",
    "as_opt_str",
    "int_or_none",
    "yn",
]

E = TypeVar("E", bound=enum.Enum)

INT_RE = re.compile(r"[+-]?[0-9]+")  # an integer as the wire may spell it (also timestamps)
_TRUE = frozenset({"Y", "1", "TRUE"})
_FALSE = frozenset({"N", "0", "FALSE"})


def yn(flag: bool) -> str:
    """``"Y"`` or ``"N"``: the only spelling every Bitrix24 method reads the same way."""
    return "Y" if flag else "N"


def as_int(value: Any, field: str) -> int:
    """An int from an int, a numeric string (``"31"``) or an integral float; bools are refused."""
    kind = type(value)
    if kind is int:
        return value  # type: ignore[no-any-return]
    if kind is str and value.isascii() and value.isdigit():  # the wire's usual "31": no regex
        return int(value)
    if kind is str and INT_RE.fullmatch(value.strip()):
        return int(value)
    if kind is float and value.is_integer():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    raise ValueError(f"{field}: expected an integer, got {value!r}")


def as_opt_int(value: Any, field: str) -> int | None:
    """Like :func:`as_int`, but ``None`` and ``""`` (no value) give ``None``."""
    if value is None or value == "":
        return None
    return as_int(value, field)


def int_or_none(value: Any) -> int | None:
    """:func:`as_opt_int` for informational fields (``total``, ``next``): ``None`` if unreadable."""
    try:
        return as_opt_int(value, "")
    except ValueError:
        return None


def as_bool(value: Any, field: str) -> bool:
    """A bool from ``true``/``false``, ``"Y"``/``"N"``, ``1``/``0`` or their strings (any case)."""
    if isinstance(value, bool):
        return value
    if type(value) is int and value in (0, 1):
        return value == 1
    if isinstance(value, str):
        upper = value.strip().upper()
        if upper in _TRUE:
            return True
        if upper in _FALSE:
            return False
    raise ValueError(f"{field}: expected a Y/N flag, got {value!r}")


def as_opt_bool(value: Any, field: str) -> bool | None:
    """Like :func:`as_bool`, but ``None`` and ``""`` (no value) give ``None``."""
    if value is None or value == "":
        return None
    return as_bool(value, field)


def as_opt_str(value: Any, field: str) -> str | None:
    """A string, or ``None`` for ``null`` and ``""``; numbers are turned into their text."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"{field}: expected a string, got {value!r}")


def as_enum(cls: type[E], value: Any, unknown: E) -> E:
    """The member of ``cls`` whose value is ``value``; ``unknown`` for anything else.

    Used for server-sent enums, where a new value must not break parsing. Callers keep the raw
    value elsewhere (models keep it in ``extra``).
    """
    try:
        return cls(value)
    except (ValueError, TypeError):  # TypeError: an unhashable value such as a list
        return unknown


def as_map(value: Any, field: str) -> dict[str, Any]:
    """A dict from a JSON object; PHP's ``[]`` (empty map) and 0..n-1 lists become dicts too."""
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    raise ValueError(f"{field}: expected an object, got {value!r}")


def as_list(value: Any, field: str) -> list[Any]:
    """A list from a JSON array, or from an object with numeric keys (PHP list with gaps).

    ``null``, ``false`` and ``""`` mean "nothing" and give ``[]``. Object values are returned in
    the numeric order of their keys.
    """
    if value is None or value is False or value == "":
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, Mapping):
        return [value[k] for k in sorted(value, key=lambda k: as_int(k, field))]
    raise ValueError(f"{field}: expected an array, got {value!r}")
