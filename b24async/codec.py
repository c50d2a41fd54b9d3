"""The one value codec: Python values to Bitrix24 wire values and back, and to plain JSON output.

Request params (:func:`b24async.protocol.encode_params`, typed requests' filters), model parsing
(``b24async.models``) and the CLI (its output and option values) all convert values here, so a
quirk of the wire is handled once and the documented encodings are the actual ones. The tables
below are tested row by row (``tests/test_codec.py`` parses them out of this docstring).

Python to wire (:func:`to_wire`; what a param is sent as, JSON text) and back (the reader that
turns the wire value into the Python value again; ``-`` where the trip is one-way)::

    Python value                                    wire value                   read back by
    ==============================================  ===========================  ===================
    True                                            "Y"                          as_bool
    False                                           "N"                          as_bool
    None                                            null                         -
    31                                              31                           as_int
    "Иван"                                          "Иван"                       -
    1.5                                             1.5                          -
    Decimal("19.90")                                "19.90"                      Decimal
    date(2025, 9, 10)                               "2025-09-10"                 as_date
    datetime(2025, 9, 10, 8, tzinfo=MSK)            "2025-09-10T08:00:00+03:00"  as_opt_datetime
    datetime(2025, 9, 10, 8, 0, 0, 5, tzinfo=UTC)   "2025-09-10T08:00:00+00:00"  -
    Accessibility.BUSY                              "busy"                       Accessibility
    ParticipationStatus.ACCEPTED                    "Y"                          ParticipationStatus
    (1, 2)                                          [1, 2]                       tuple
    {3, 1, 2}                                       [1, 2, 3]                    set
    {"ID": 5, 7: [True]}                            {"ID": 5, "7": ["Y"]}        -
    ==============================================  ===========================  ===================

Why flags are ``"Y"``/``"N"``: a JSON ``true`` reaches PHP as a bool that some handlers compare
loosely (``user.update`` normalizes ``ACTIVE`` so that only falsy or ``"N"`` means inactive), and
a bool cannot travel in a ``batch`` command's query string at all; ``"Y"``/``"N"`` means the same
in a JSON body and in a batch, for every method. Datetimes must be aware (the portal would read a
naive one in its own time zone) and are sent to the second, the portal's resolution. Refused
before anything is sent::

    Python value                                    error
    ==============================================  ==========
    datetime(2025, 9, 10, 8)                        ValueError
    float("nan")                                    ValueError
    Decimal("Infinity")                             ValueError
    b"raw"                                          TypeError
    time(8, 30)                                     TypeError
    {True: 1}                                       TypeError
    {(1, 2): 1}                                     TypeError
    object()                                        TypeError
    ==============================================  ==========

Wire to Python (the readers models use; each takes the value and a field name for the error)::

    wire value                    reader           Python value
    ============================  ===============  ==============================================
    "31"                          as_int           31
    " -7 "                        as_int           -7
    31.0                          as_int           31
    "Y"                           as_bool          True
    "n"                           as_bool          False
    1                             as_bool          True
    false                         as_bool          False
    "1721913214"                  from_timestamp   datetime(2024, 7, 25, 13, 13, 34, tzinfo=UTC)
    "2024-07-25T16:06:54+03:00"   as_opt_datetime  datetime(2024, 7, 25, 16, 6, 54, tzinfo=MSK)
    "2024-07-25T13:06:54Z"        as_opt_datetime  datetime(2024, 7, 25, 13, 6, 54, tzinfo=UTC)
    "2024-07-25 13:06:54.5"       as_opt_datetime  datetime(2024, 7, 25, 13, 6, 54, 500000, UTC)
    "2024-07-25T13:06:54+0300"    as_opt_datetime  datetime(2024, 7, 25, 13, 6, 54, tzinfo=MSK)
    {}                            as_opt_datetime  None
    "2025-09-10T18:33:57.885176"  as_date          date(2025, 9, 10)
    "2025-09-10T01:00:00+03:00"   as_date          date(2025, 9, 10)
    []                            as_map           {}
    {"2": "b", "0": "a"}          as_list          ["a", "b"]
    ============================  ===============  ==============================================

and what they refuse with ``ValueError`` (the field name leads the message)::

    wire value                    reader
    ============================  ===============
    true                          as_int
    null                          as_int
    ""                            as_int
    "1.5"                         as_int
    "0x10"                        as_int
    "1_000"                       as_int
    "١٢"                          as_int
    1.5                           as_int
    "yes"                         as_bool
    2                             as_bool
    "25.07.2024"                  as_opt_datetime
    "2025-02-30"                  as_opt_datetime
    1721913214                    as_opt_datetime
    true                          from_timestamp
    "soon"                        from_timestamp
    ""                            as_date
    ============================  ===============

Integers (:func:`as_int`): an ``int`` (never a ``bool``: ``True`` is not user 1), a string of
ASCII digits with an optional sign and surrounding blanks, or an integral float. ISO-8601
(:func:`as_opt_datetime`): the extended format with ``Z``, a space separator, 1-9 fraction
digits or ``+0300`` on every Python (3.11+ also reads the rest of what ``fromisoformat`` reads);
no offset means UTC, so results are aware.

Printed output (:func:`to_json`, the CLI's stdout) is plain JSON for a reader, not a param: it
follows :func:`to_wire` except where this table says otherwise (and attrs instances, such as
the models, become objects of their fields)::

    Python value                                    JSON
    ==============================================  ============================
    True                                            true
    float("nan")                                    null
    timedelta(minutes=1)                            60.0
    datetime(2025, 9, 10, 8, 0, 0, 5)               "2025-09-10T08:00:00.000005"
    time(8, 30)                                     "08:30:00"
    b"raw"                                          "raw"
    {True: 1}                                       {"True": 1}
    ==============================================  ============================

Why a hand-written codec and not a cattrs ``Converter``: the package depends on attrs only;
the models need logic cattrs would not generate (unknown keys kept in ``extra``, two event shapes,
unknown enum values); and the hot paths (a 2,000-user availability answer is ~50,000 intervals,
issue #15) want exact-type fast paths and no per-value hook dispatch. Each function here is small
and tested on its own.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, TypeVar

import attrs

__all__ = [
    "as_bool",
    "as_date",
    "as_enum",
    "as_int",
    "as_list",
    "as_map",
    "as_opt_bool",
    "as_opt_datetime",
    "as_opt_int",
    "as_opt_str",
    "from_timestamp",
    "int_or_none",
    "to_json",
    "to_timestamp",
    "to_wire",
    "wire_date",
    "yn",
]

E = TypeVar("E", bound=enum.Enum)

_UTC = dt.timezone.utc
_INT_RE = re.compile(r"[+-]?[0-9]+")
_TRUE = frozenset({"Y", "1", "TRUE"})
_FALSE = frozenset({"N", "0", "FALSE"})

# --- Python -> wire -------------------------------------------------------------------------------

_PASS_THROUGH = frozenset({str, int, type(None)})


def to_wire(value: Any, path: str = "params") -> Any:
    """``value`` as the JSON-ready value the portal reads as intended (the first table above).

    ``path`` names the value in errors (``params[FILTER][>LAST_LOGIN]``). Raises ``TypeError``
    for a type the API has no spelling for and ``ValueError`` for a value it would misread.
    """
    kind = type(value)  # hot path: most params are plain str/int values in plain dicts and lists
    if kind in _PASS_THROUGH:
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
        return [to_wire(item, f"{path}[{i}]") for i, item in enumerate(_ordered(value))]
    # The type, not the value: params may hold secrets, and errors end up in logs.
    raise TypeError(f"{path}: cannot send a {type(value).__name__} to the REST API")


def _wire_key(key: Any, path: str) -> str:
    if type(key) is str:
        return key
    if isinstance(key, (str, int)) and not isinstance(key, bool):
        return str(key.value if isinstance(key, enum.Enum) else key)
    raise TypeError(f"{path}: key {key!r} must be str or int")


def _ordered(items: Iterable[Any]) -> Iterable[Any]:
    # Sets go out sorted, so the same set is always the same request (and batch key).
    if isinstance(items, (set, frozenset)):
        try:
            return sorted(items)
        except TypeError:  # mixed types have no order; any order is as good
            return list(items)
    return items


def yn(flag: bool) -> str:
    """``"Y"`` or ``"N"``: the only spelling every Bitrix24 method reads the same way."""
    return "Y" if flag else "N"


def wire_date(day: dt.date) -> str:
    """``YYYY-MM-DD``, the format calendar methods document for ``from``/``to``."""
    return day.isoformat()


def to_timestamp(moment: dt.datetime) -> int:
    """The unix time (whole seconds) of an aware datetime; inverse of :func:`from_timestamp`."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"expected a timezone-aware datetime, got {moment!r}")
    return int(moment.timestamp())


def to_json(value: Any) -> Any:
    """``value`` as plain JSON data for people and ``jq`` (the last table above); never raises.

    Like :func:`to_wire`, except: booleans stay JSON booleans, non-finite floats become ``null``,
    datetimes keep their fraction (and may be naive), times and timedeltas (seconds) print,
    attrs instances become objects of their fields, bytes text, and anything else its ``str``.
    """
    kind = type(value)
    if kind in _PASS_THROUGH or kind is bool:
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
        return [to_json(item) for item in _ordered(value)]
    return str(value)


def _json_key(key: Any) -> str:
    return key if type(key) is str else str(to_json(key))


# --- wire -> Python -------------------------------------------------------------------------------


def as_int(value: Any, field: str) -> int:
    """An int from an int, a numeric string (``"31"``) or an integral float; bools are refused."""
    kind = type(value)
    if kind is int:
        return value  # type: ignore[no-any-return]
    if kind is str and value.isascii() and value.isdigit():  # the wire's usual "31": no regex
        return int(value)
    if kind is str and _INT_RE.fullmatch(value.strip()):
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


def from_timestamp(value: Any, field: str) -> dt.datetime:
    """An aware UTC datetime from a unix timestamp (int, float or numeric string)."""
    kind = type(value)
    seconds: float
    if kind is int or kind is float:
        seconds = value
    elif kind is str and value.isascii() and value.isdigit():  # the wire's "1721913214"
        seconds = int(value)
    elif kind is str:
        text = value.strip()
        try:
            seconds = int(text) if _INT_RE.fullmatch(text) else float(text)
        except ValueError:
            raise ValueError(f"{field}: expected a unix timestamp, got {value!r}") from None
    else:
        raise ValueError(f"{field}: expected a unix timestamp, got {value!r}")
    try:
        return dt.datetime.fromtimestamp(seconds, _UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"{field}: timestamp out of range: {value!r}") from None


# Python 3.10's fromisoformat reads only what isoformat() writes; this rewrites the rest of
# ISO-8601's extended format (Z, a space, 1-9 fraction digits, +HHMM) into that form.
_ISO_RE = re.compile(
    r"(\d{4}-\d{2}-\d{2})"
    r"(?:[T ](\d{2}:\d{2}(?::\d{2})?)(?:[.,](\d{1,9}))?(Z|[+-]\d{2}(?::?\d{2})?)?)?",
    re.IGNORECASE,
)


def _normalize_iso(text: str) -> str | None:
    match = _ISO_RE.fullmatch(text)
    if match is None:
        return None
    day, clock, fraction, offset = match.groups()
    normalized = day + (f"T{clock}" if clock else "")
    if fraction:
        normalized += "." + fraction[:6].ljust(6, "0")
    if offset:
        offset = offset.upper()
        if offset == "Z":
            offset = "+00:00"
        elif len(offset) == 3:
            offset += ":00"
        elif ":" not in offset:
            offset = f"{offset[:3]}:{offset[3:]}"
        normalized += offset
    return normalized


def _parse_iso(text: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(text)  # C speed for the portal's own spelling
    except ValueError:
        normalized = _normalize_iso(text)
    if normalized is None:
        return None
    try:
        return dt.datetime.fromisoformat(normalized)
    except ValueError:  # a well-formed but impossible date, such as 2025-02-30
        return None


def as_opt_datetime(value: Any, field: str) -> dt.datetime | None:
    """An aware datetime from ISO-8601 (``2024-07-25T13:06:54+00:00``), or ``None`` if empty.

    "Empty" is ``null``, ``""`` or an empty ``{}``/``[]`` (``user.get`` sends ``{}`` for some
    unset dates). A value without an offset (never seen from the portal) and a bare date are
    taken as UTC, so the result is always aware.
    """
    if value is None or value == "" or value == {} or value == []:
        return None
    parsed = _parse_iso(value.strip()) if isinstance(value, str) else None
    if parsed is None:
        raise ValueError(f"{field}: expected an ISO-8601 datetime, got {value!r}")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=_UTC)


def as_date(value: Any, field: str) -> dt.date:
    """A date from ``YYYY-MM-DD``, or the date part of an ISO-8601 datetime in its own zone."""
    parsed = as_opt_datetime(value, field)
    if parsed is None:
        raise ValueError(f"{field}: expected a date YYYY-MM-DD, got {value!r}")
    return parsed.date()


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
