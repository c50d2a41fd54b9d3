"""The one place where Bitrix24 wire values become Python values (and back).

Every model's ``from_wire`` and every request's ``to_params`` goes through these functions, so a
quirk of the wire format is handled once. What the wire does (facts file §4, §7):

* integers arrive as ints or as numeric strings (``"ID": "31"``; one doc example has ``"ID": 1``);
* flags arrive as ``"Y"``/``"N"``, as JSON booleans (``user.get`` ``ACTIVE``) or as ``1``/``0``;
* instants arrive as unix-timestamp strings (``DATE_FROM_TS_UTC``) or ISO-8601 strings with an
  offset (``LAST_LOGIN``); "no value" is ``""``, ``null`` or even ``{}`` (``TIMESTAMP_X``);
* PHP serializes an empty map as ``[]``, a map whose keys are exactly 0..n-1 as a list, and a list
  whose keys have gaps (after ``array_filter``) as an object ``{"0": ..., "2": ...}``.

Why plain functions and not a cattrs ``Converter``: the package depends on attrs only, and every
model needs custom logic that cattrs would not generate anyway (keeping unknown keys in ``extra``,
two event shapes, unknown enum values, all-day spans). Registered hooks would wrap these same
functions in one more dispatch layer: more code, slower, and harder to test one by one.

Conversions of *known* fields are strict: a value of the wrong shape raises ``ValueError`` naming
the field (a silent wrong value is worse than an error). *Unknown* fields are never inspected.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime, timezone
from enum import Enum
from typing import Any, TypeVar

__all__ = [
    "FrozenMap",
    "as_bool",
    "as_enum",
    "as_int",
    "as_list",
    "as_map",
    "as_opt_bool",
    "as_opt_datetime",
    "as_opt_str",
    "freeze",
    "from_timestamp",
    "jsonable",
    "split_extra",
    "to_timestamp",
    "wire_date",
    "yn",
]

K = TypeVar("K")
V = TypeVar("V")
E = TypeVar("E", bound=Enum)

_INT_RE = re.compile(r"[+-]?\d+")
_TRUE = frozenset({"Y", "1", "TRUE"})
_FALSE = frozenset({"N", "0", "FALSE"})


class FrozenMap(Mapping[K, V]):
    """A read-only mapping (a copy of the input); picklable, unlike ``types.MappingProxyType``.

    Compares equal to any mapping with the same items (``extra == {"X": 1}`` works). Unhashable,
    like ``dict``. Values are kept as received: nested lists and dicts are not deep-frozen.
    """

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[K, V] | Iterable[tuple[K, V]] = ()) -> None:
        self._data: dict[K, V] = dict(data)

    def __getitem__(self, key: K) -> V:
        return self._data[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"


def freeze(value: Mapping[str, Any]) -> FrozenMap[str, Any]:
    """``value`` as a :class:`FrozenMap` (the converter of every model's ``extra`` field)."""
    return value if isinstance(value, FrozenMap) else FrozenMap(value)


# --- wire -> Python ---------------------------------------------------------------------------


def as_int(value: Any, field: str) -> int:
    """An int from an int, a numeric string (``"31"``) or an integral float; bools are refused."""
    if isinstance(value, bool):
        raise ValueError(f"{field}: expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INT_RE.fullmatch(value.strip()):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ValueError(f"{field}: expected an integer, got {value!r}")


def as_bool(value: Any, field: str) -> bool:
    """A bool from ``true``/``false``, ``"Y"``/``"N"``, ``1``/``0`` or their strings (any case)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
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


def from_timestamp(value: Any, field: str) -> datetime:
    """An aware UTC datetime from a unix timestamp (int, float or numeric string)."""
    if isinstance(value, str):
        text = value.strip()
        try:
            seconds: float = int(text) if _INT_RE.fullmatch(text) else float(text)
        except ValueError:
            raise ValueError(f"{field}: expected a unix timestamp, got {value!r}") from None
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = value
    else:
        raise ValueError(f"{field}: expected a unix timestamp, got {value!r}")
    try:
        return datetime.fromtimestamp(seconds, timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"{field}: timestamp out of range: {value!r}") from None


def as_opt_datetime(value: Any, field: str) -> datetime | None:
    """An aware datetime from ISO-8601 (``2024-07-25T13:06:54+00:00``), or ``None`` if empty.

    "Empty" is ``null``, ``""`` or an empty ``{}``/``[]`` (``user.get`` sends ``{}`` for some
    unset dates). A ``Z`` suffix is accepted on Python 3.10 too. A value without an offset (never
    seen from the portal) and a bare date are taken as UTC, so the result is always aware.
    """
    if value is None or value == "" or value == {} or value == []:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{field}: expected an ISO-8601 datetime, got {value!r}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{field}: expected an ISO-8601 datetime, got {value!r}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)


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


def split_extra(raw: Mapping[str, Any], known: Iterable[str]) -> FrozenMap[str, Any]:
    """The items of ``raw`` whose keys are not in ``known``: what a model keeps in ``extra``."""
    skip = frozenset(known)
    return FrozenMap({k: v for k, v in raw.items() if k not in skip})


# --- Python -> wire ---------------------------------------------------------------------------


def to_timestamp(moment: datetime) -> int:
    """The unix time (whole seconds) of an aware datetime; inverse of :func:`from_timestamp`."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"expected a timezone-aware datetime, got {moment!r}")
    return int(moment.timestamp())


def yn(flag: bool) -> str:
    """``"Y"`` or ``"N"``: the only spelling every Bitrix24 method reads the same way."""
    return "Y" if flag else "N"


def wire_date(day: date) -> str:
    """``YYYY-MM-DD``, the format calendar methods document for ``from``/``to``."""
    return day.isoformat()


def jsonable(value: Any, field: str) -> Any:
    """A JSON-ready copy of a user-supplied param value (filters), or ``TypeError``.

    Mappings become dicts (string keys only), tuples and lists become lists, enums their value,
    dates ``YYYY-MM-DD`` and aware datetimes ISO-8601 (the format ``user.get`` filters take).
    Naive datetimes are refused: the portal would read them in its own time zone.
    """
    if isinstance(value, Enum):  # before str: str enums must go out as their plain value
        return jsonable(value.value, field)
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{field}: datetimes must be timezone-aware, got {value!r}")
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{field}: keys must be strings, got {key!r}")
            out[key] = jsonable(item, f"{field}[{key}]")
        return out
    if isinstance(value, (list, tuple)):
        return [jsonable(item, f"{field}[{i}]") for i, item in enumerate(value)]
    raise TypeError(f"{field}: {type(value).__name__} is not a JSON value: {value!r}")
