"""Types of the CLI's option values: user IDs, days, flags, ``KEY=VALUE`` parameters.

Each takes the text of one option and returns the value, or raises
``argparse.ArgumentTypeError`` with a message argparse prints after the option's name. Integers
and dates are read by :mod:`b24async.codec` (the same rules as values from the portal).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
from typing import Any

from b24async.codec import as_date, as_int

__all__ = [
    "key_value",
    "parse_day",
    "parse_flag",
    "parse_ids",
    "positive_id",
    "positive_int",
    "seconds",
]


def parse_ids(text: str) -> tuple[int, ...]:
    """User IDs as OPI passes them: ``"1"``, ``"1,2,34"``, ``"1 2 34"`` or ``"[1, 2, 34]"``."""
    parts = [p for p in re.split(r"[\s,;]+", text.strip().strip("[]")) if p]
    if not parts:
        raise argparse.ArgumentTypeError("expected user IDs such as 1,2,34")
    try:
        return tuple(as_int(p.strip("\"'"), "user ID") for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected user IDs such as 1,2,34, got {text!r}"
        ) from None


def parse_day(text: str) -> dt.date:
    """A date ``YYYY-MM-DD``, or a datetime reduced to its date part.

    OPI passes naive datetimes (``2025-09-10T18:33:57.885176``): the date part is taken, as
    ``calendar.accessibility.get`` only reads whole days. An aware datetime (``...+03:00``,
    ``...Z``) gives its date in its own time zone.
    """
    try:
        return as_date(text.strip().strip("\"'"), "day")
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a date YYYY-MM-DD or a datetime YYYY-MM-DDTHH:MM:SS, got {text!r}"
        ) from None


_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}


def parse_flag(text: str) -> bool:
    """``true``/``false`` (also yes/no, y/n, 1/0, on/off; any case)."""
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def positive_id(text: str) -> int:
    """An event or user ID: a positive integer (OPI's quoted ``"1058"`` too)."""
    try:
        number = as_int(text.strip().strip("\"'"), "ID")
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a numeric ID, got {text!r}") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive ID, got {number}")
    return number


def key_value(text: str) -> tuple[str, Any]:
    """``KEY=VALUE``: VALUE is read as JSON when it is valid JSON, else kept as a string."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), _json_or_text(raw)


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def _json_or_text(raw: str) -> Any:
    try:
        # NaN/Infinity are not JSON: keep such values as text.
        return json.loads(raw, parse_constant=_reject_constant)
    except ValueError:
        return raw


def positive_int(text: str) -> int:
    """A count of at least 1 (``--retries``)."""
    try:
        number = as_int(text, "count")
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {number}")
    return number


def seconds(text: str) -> float:
    """A positive number of seconds (``--timeout``)."""
    try:
        number = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not number > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return number
