"""Python values to the wire values the portal reads as intended: :func:`to_wire` (request params).

The encoding table is in :mod:`b24async.codec` (import from there); dates, datetimes and
timestamps are :mod:`b24async.codec.times`, flags :func:`~b24async.codec.scalars.yn`.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from b24async.codec.scalars import yn
from b24async.codec.times import wire_date

__all__ = ["to_wire"]

# Sent as they are (the hot path: most params are plain str/int values in plain dicts and lists).
PASS_THROUGH = frozenset({str, int, type(None)})


def to_wire(value: Any, path: str = "params") -> Any:
    """``value`` as the JSON-ready value the portal reads as intended.

    The first table in :mod:`b24async.codec` shows it.

    ``path`` names the value in errors (``params[FILTER][>LAST_LOGIN]``). Raises ``TypeError``
    for a type the API has no spelling for and ``ValueError`` for a value it would misread.
    """
    kind = type(value)  # hot path: most params are plain str/int values in plain dicts and lists
    if kind in PASS_THROUGH:
        return value
    if kind is dict or isinstance(value, Mapping):
        return {_wire_key(k, path): to_wire(v, f"{path}[{k}]") for k, v in value.items()}
    if kind is list or kind is tuple:
        return [to_wire(item, f"{path}[{i}]") for i, item in enumerate(value)]
    if kind is bool:
        return yn(value)
    if isinstance(value, enum.Enum):  # before str and int: str and int enums send their value
        return to_wire(value.value, path)
    if isinstance(value, (str, int)):  # subclasses (bool was handled above)
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path}: {value!r} cannot be sent")
        return value
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"{path}: naive datetime {value.isoformat()}; attach a tzinfo so the "
                "portal cannot misread it in its own time zone"
            )
        return value.isoformat(timespec="seconds")
    if isinstance(value, dt.date):
        return wire_date(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{path}: {value!r} cannot be sent")
        return str(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_wire(item, f"{path}[{i}]") for i, item in enumerate(ordered(value))]
    # The type, not the value: params may hold secrets, and errors end up in logs.
    raise TypeError(f"{path}: cannot send a {type(value).__name__} to the REST API")


def _wire_key(key: Any, path: str) -> str:
    if type(key) is str:
        return key
    if isinstance(key, (str, int)) and not isinstance(key, bool):
        return str(key.value if isinstance(key, enum.Enum) else key)
    raise TypeError(f"{path}: key {key!r} must be str or int")


def ordered(items: Iterable[Any]) -> Iterable[Any]:
    # Sets go out sorted, so the same set is always the same request (and batch key).
    if isinstance(items, (set, frozenset)):
        try:
            return sorted(items)
        except TypeError:  # mixed types have no order; any order is as good
            return list(items)
    return items
