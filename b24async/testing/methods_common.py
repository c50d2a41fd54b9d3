"""What every handler shares: the seam types and PHP-style coercion of request params.

The portal is PHP: params arrive as JSON values or as ``parse_str`` strings, and the handlers
judge them the way PHP does (``empty()``, ``intval()``, truthiness). These helpers do that once.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from b24async.testing.state import PortalState

__all__ = [
    "PAGE_SIZE",
    "CallContext",
    "Handler",
    "MethodFailure",
    "MethodResult",
    "ParsedDate",
    "list_values",
    "page_result",
    "parse_date",
    "php_empty",
    "php_intval",
    "php_str",
    "php_truthy",
    "upper_keys",
]

PAGE_SIZE = 50
"""List methods return 50 rows per page, always."""


class MethodFailure(Exception):
    """A handler's documented error: becomes {"error": code, "error_description": description}."""

    def __init__(self, status: int, code: str, description: str) -> None:
        """Keep the HTTP status, the server's error code and its description."""
        super().__init__(f"{status} {code!r}: {description}")
        self.status = status
        self.code = code
        self.description = description


@attrs.frozen
class CallContext:
    """Who calls, when, and from which row (the ``start`` the server already popped)."""

    user_id: int
    """The acting user (webhook owner / token owner)."""
    now: float
    """Unix time of the call."""
    start: int | None = None
    """The ``start`` param cast to int (PHP intval); None when absent."""
    app: bool = False
    """Whether the caller is the OAuth app (events need an app: webhooks are refused)."""
    connector: str = ""
    """The request's ``auth_connector`` (taken out of the params by the OAuth layer)."""


@attrs.frozen
class MethodResult:
    """A handler's answer: ``result`` plus, for list methods, ``total`` and ``next``."""

    result: Any
    total: int | None = None
    next: int | None = None
    printed: list[bytes] | None = attrs.field(default=None, kw_only=True, eq=False, repr=False)
    """``result`` as the reply prints it (:func:`~b24async.testing.jsontext.json_text`), in
    pieces, when the handler has it at hand (cached); None: the reply prints ``result``."""


Handler = Callable[["PortalState", Mapping[str, Any], CallContext], MethodResult]


def php_truthy(value: Any) -> bool:
    """PHP's boolean conversion: ``""``, ``"0"``, 0, 0.0, null, false and ``[]`` are false."""
    if isinstance(value, str):
        return value not in ("", "0")
    return bool(value)


def php_empty(value: Any) -> bool:
    """PHP's ``empty()`` of a present value (an absent key is empty too: pass None)."""
    return not php_truthy(value)


_LEADING_INT = re.compile(r"\s*([+-]?\d+)")


def php_intval(value: Any) -> int:
    """PHP's ``intval()``: leading digits of a string, 0 for anything non-numeric."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value == value and abs(value) < 2**63 else 0
    if isinstance(value, str):
        match = _LEADING_INT.match(value)
        return int(match.group(1)) if match else 0
    if isinstance(value, (list, dict)):
        return 1 if value else 0
    return 0


def php_str(value: Any) -> str:
    """PHP's string conversion of a scalar: true is ``"1"``, false and null are ``""``."""
    if value is None or value is False:
        return ""
    if value is True:
        return "1"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def upper_keys(params: Mapping[str, Any]) -> dict[str, Any]:
    """``array_change_key_case(..., CASE_UPPER)``: on a clash the later key wins, as in PHP."""
    return {str(key).upper(): value for key, value in params.items()}


def list_values(value: Any) -> list[Any] | None:
    """The elements of a PHP array (a list, or a dict with other keys); None for scalars."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return list(value.values())
    return None


@attrs.frozen
class ParsedDate:
    """A date or date-time param as written: the offset is None when none was given."""

    date: dt.date
    time: dt.time | None
    offset: dt.timezone | None

    def local_date(self, zone: dt.tzinfo) -> dt.date:
        """The calendar date in ``zone`` (an explicit offset moves the instant into it)."""
        if self.offset is None or self.time is None:
            return self.date
        return dt.datetime.combine(self.date, self.time, self.offset).astimezone(zone).date()

    def instant(self, zone: dt.tzinfo) -> dt.datetime:
        """The aware date-time, read in ``zone`` unless an offset was given."""
        return dt.datetime.combine(self.date, self.time or dt.time(), self.offset or zone)


_ISO_DATE = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?)?",
    re.IGNORECASE,
)
_PORTAL_DATE = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?")


def parse_date(value: Any) -> ParsedDate | None:
    """Read the date formats ``strtotime`` users send; None if it is not one of them.

    ``YYYY-MM-DD``, ``YYYY-MM-DD[T ]HH:MM[:SS[.ffffff]][Z|±HH[:MM]]`` and the portal's own
    ``DD.MM.YYYY[ HH:MM[:SS]]``.
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    iso = _ISO_DATE.fullmatch(text)
    portal = None if iso else _PORTAL_DATE.fullmatch(text)
    try:
        if iso:
            year, month, day, hour, minute, second, zone = iso.groups()
            offset = _offset(zone) if zone else None
        elif portal:
            day, month, year, hour, minute, second = portal.groups()
            offset = None
        else:
            return None
        date = dt.date(int(year), int(month), int(day))
        time = None if hour is None else dt.time(int(hour), int(minute), int(second or 0))
    except ValueError:
        return None
    return ParsedDate(date=date, time=time, offset=offset)


def _offset(text: str) -> dt.timezone:
    if text.upper() == "Z":
        return dt.timezone.utc
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    minutes = int(digits[:2]) * 60 + int(digits[2:4] or 0)
    return dt.timezone(sign * dt.timedelta(minutes=minutes))


def page_result(rows: list[Any], offset: int | None, total: int) -> MethodResult:
    """A list page the way ``IRestService::setNavData`` reports it.

    ``offset`` None is the ``start=-1`` mode: no counting, ``total`` 0 and no ``next``. An
    empty page carries no ``total`` at all (the methods return the bare empty array).
    """
    if not rows:
        return MethodResult(result=[])
    if offset is None:
        return MethodResult(result=rows, total=0)
    after = offset + len(rows)
    return MethodResult(result=rows, total=total, next=after if after < total else None)
