"""Python values as plain JSON for people and ``jq``: :func:`to_json` (the CLI's stdout).

It follows :func:`~b24async.codec.wire.to_wire` except where the last table of
:mod:`b24async.codec` says otherwise (import from there).
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from b24async.codec.wire import PASS_THROUGH, ordered

__all__ = ["to_json"]


def to_json(value: Any) -> Any:
    """``value`` as plain JSON data for people and ``jq``; never raises.

    The last table in :mod:`b24async.codec` shows it.

    Like :func:`to_wire`, except: booleans stay JSON booleans, non-finite floats become ``null``,
    datetimes keep their fraction (and may be naive), times and timedeltas (seconds) print,
    attrs instances become objects of their fields, bytes text, and anything else its ``str``.
    """
    kind = type(value)
    if kind in PASS_THROUGH or kind is bool:
        return value
    if isinstance(value, enum.Enum):
        return to_json(value.value)
    if isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, Mapping):  # before attrs: Availability is both
        return {_json_key(key): to_json(item) for key, item in value.items()}
    if attrs.has(kind):
        return {f.name: to_json(getattr(value, f.name)) for f in attrs.fields(kind)}
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", "replace")
    if isinstance(value, Iterable):
        return [to_json(item) for item in ordered(value)]
    return str(value)


def _json_key(key: Any) -> str:
    return key if type(key) is str else str(to_json(key))
