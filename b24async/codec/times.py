"""Dates, datetimes and unix timestamps, both ways: always aware, to the second on the wire.

Python 3.10 reads only what ``isoformat()`` writes; :func:`as_opt_datetime` reads the rest of
ISO-8601's extended format the portal (or a user) may send. The tables are in
:mod:`b24async.codec` (import from there).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from b24async.codec.scalars import INT_RE

__all__ = ["as_date", "as_opt_datetime", "from_timestamp", "to_timestamp", "wire_date"]

_UTC = dt.timezone.utc


def wire_date(day: dt.date) -> str:
    """``YYYY-MM-DD``, the format calendar methods document for ``from``/``to``."""
    return day.isoformat()


def to_timestamp(moment: dt.datetime) -> int:
    """The unix time (whole seconds) of an aware datetime; inverse of :func:`from_timestamp`."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"expected a timezone-aware datetime, got {moment!r}")
    return int(moment.timestamp())


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
            seconds = int(text) if INT_RE.fullmatch(text) else float(text)
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
