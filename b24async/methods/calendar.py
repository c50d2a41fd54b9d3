"""Typed calendar requests: users' busy time and the current user's meeting answers.

Date policy of :class:`GetAccessibility`: the API takes whole days (CORE keeps only the date of
``from``/``to``), so ``start``/``end`` take a ``date`` or a timezone-aware ``datetime``. An aware
datetime is reduced to its date *in its own time zone* (``datetime(2025, 9, 10, 23, 30,
tzinfo=Moscow)`` is 2025-09-10). A naive datetime is a ``ValueError``: it names no day reliably.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, ClassVar, cast

import attrs

from b24async.methods.base import Method, to_id
from b24async.methods.merging import MergeRule, register_merge_rule
from b24async.models import _calendar_msgspec as _fast
from b24async.models import _convert as cv
from b24async.models.calendar import Availability, ParticipationStatus, _canonical_user_keys

__all__ = ["GetAccessibility", "GetParticipationStatus", "SetParticipationStatus"]

_Users = Sequence[int]


def _user_ids(value: Iterable[int]) -> tuple[int, ...]:
    kind = type(value)
    if (kind is list or kind is tuple) and len(value) == 1:  # type: ignore[arg-type]
        (user,) = value  # one user (a fan-in's call): the common case, checked inline
        if type(user) is int and user > 0:
            return (user,)
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise TypeError(
            f"GetAccessibility.users must be a list of user IDs (e.g. users=[5]), got {value!r}"
        )
    ids = tuple(dict.fromkeys(to_id(v, "GetAccessibility.users item") for v in value))
    if not ids:
        raise ValueError("GetAccessibility.users must not be empty")
    return ids


def _day(value: date | datetime, name: str) -> date:
    if type(value) is date:
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"GetAccessibility.{name} is a naive datetime {value.isoformat()}: pass a date "
                "or a timezone-aware datetime (it is reduced to its date in its own time zone)"
            )
        return value.date()
    if isinstance(value, date):
        return value
    raise TypeError(f"GetAccessibility.{name} must be a date or an aware datetime, got {value!r}")


def _start_day(value: date | datetime) -> date:
    return _day(value, "start")


def _end_day(value: date | datetime) -> date:
    return _day(value, "end")


def _event_id(value: int) -> int:
    return to_id(value, "event_id")


@functools.lru_cache(maxsize=64)
def _window_key(start: date, end: date) -> tuple[str, str]:
    """``(from, to)`` as ``group`` reads them off the params: one tuple per window, shared."""
    return cv.wire_date(start), cv.wire_date(end)


class AccessibilityMerge(MergeRule):
    """``calendar.accessibility.get``: queries for the same window share multi-user commands.

    The result maps user IDs (as strings) to their events, so a command for the union of several
    callers' users answers each of them. Only plain queries merge (positive int users, ``from``
    and ``to`` strings, nothing else); anything odd goes as given and the portal judges it.
    """

    def group(self, params: Mapping[str, Any]) -> tuple[Hashable, list[Hashable]] | None:
        """``((from, to), users)`` for a plain query; ``None`` otherwise."""
        users, start, end = params.get("users"), params.get("from"), params.get("to")
        if not isinstance(users, list) or not users:
            return None
        if not isinstance(start, str) or not isinstance(end, str):
            return None
        if not all(isinstance(u, int) and not isinstance(u, bool) and u > 0 for u in users):
            return None
        if set(params) - {"users", "from", "to"}:
            return None
        return (start, end), list(dict.fromkeys(users))

    def group_request(self, request: Any) -> tuple[Hashable, Sequence[Hashable]] | None:
        """``((from, to), users)`` of a :class:`GetAccessibility` (its fields are validated).

        ``users`` is the request's own tuple, and the key is shared by every call for the same
        window: a waiting call of a fan-in holds no copy of either.
        A subclass may send other params (its own ``to_params``): it goes the general way.
        """
        if type(request) is not GetAccessibility:
            return None
        start, end = request.start, request.end
        if type(start) is not date or type(end) is not date:
            return None  # a date subclass spells itself: the general way checks its params
        return _window_key(start, end), request.users

    def parse_command(self, result: Any) -> Availability | None:
        """The command's users' entries, typed at once (``None`` for keys a caller would skip).

        Each user's entries are decoded on their own, so a caller's slice of this equals what
        parsing its own slice gives, provided every key is a user ID spelled as ``pick`` looks
        it up (``"05"`` or ``" 5"`` would be read as user 5 here but skipped by ``pick``).
        """
        if not isinstance(result, dict) or not _canonical_user_keys(result):
            return None
        return Availability.from_wire(result)

    def pick_parsed(self, parsed: Availability, items: Sequence[Hashable]) -> Availability:
        """The users ``items`` of ``parsed`` (``()`` for a user the answer left out)."""
        return parsed._pick(cast(_Users, items))

    def reads_text(self) -> bool:
        """Whether ``msgspec`` reads the text (installed and not switched off)."""
        return _fast.ENABLED

    def parse_command_text(self, text: str) -> Availability | None:
        """The user map read by ``msgspec`` (:mod:`b24async.models._calendar_msgspec`).

        ``None`` unless every key is a canonical user ID (as :meth:`parse_command` demands).
        """
        return _fast.decode_users(text)

    def pick_part_parsed(
        self, parsed: Availability, items: Sequence[Hashable]
    ) -> tuple[Availability, int]:
        """The users ``items`` present in ``parsed`` (as :meth:`parse_part` of :meth:`pick`)."""
        part = parsed._present(cast(_Users, items))
        return part, len(part)

    def params(self, key: Hashable, items: Sequence[Hashable]) -> dict[str, Any]:
        """``{"from": ..., "to": ..., "users": [...]}``."""
        if not isinstance(key, tuple):
            raise TypeError(f"not a key made by group(): {key!r}")
        return {"from": key[0], "to": key[1], "users": list(items)}

    def pick(self, result: Any, items: Sequence[Hashable]) -> dict[str, Any]:
        """The requested users' entries (PHP sends an empty map as ``[]``: no entries)."""
        if not isinstance(result, Mapping):
            return {}
        picked: dict[str, Any] = {}
        for user in items:
            key = str(user)
            if key in result:
                picked[key] = result[key]
        return picked

    typed_parts = True

    def parse_part(self, picked: Mapping[str, Any]) -> Availability:
        """One part's users, typed."""
        return Availability.from_wire(picked)

    def join_parsed(self, parse: Callable[[Any], Any], parts: Sequence[Any]) -> Any:
        """Every requested user (in the call's order, from ``parse`` of no entries), joined."""
        return Availability.merge(parse(self.join({})), *parts)


@attrs.frozen
class GetAccessibility(Method[Availability]):
    """When are these users busy between two dates (both inclusive)?

    ``calendar.accessibility.get``: https://apidocs.bitrix24.com/api-reference/calendar/calendar-event/calendar-accessibility-get.html
    Open Integration Package: ``GetUserBusy`` (ПолучитьЗанятостьПользователей).

    Returns an :class:`~b24async.models.Availability` with every requested user as a key.
    ``users`` are positive int IDs (duplicates dropped; no maximum is documented, so a caller
    querying thousands may split them and join the parts with ``Availability.merge``).
    ``start``/``end`` are dates or aware datetimes (see the module docstring); ``end`` may not
    be before ``start``.
    """

    api_method: ClassVar[str] = "calendar.accessibility.get"
    #: Concurrent queries for one window share commands (see :class:`AccessibilityMerge`).
    merge_rule: ClassVar[MergeRule] = AccessibilityMerge()

    users: tuple[int, ...] = attrs.field(converter=_user_ids)
    start: date = attrs.field(converter=_start_day)
    end: date = attrs.field(converter=_end_day)

    def __attrs_post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"GetAccessibility: end {self.end} is before start {self.start}")

    def to_params(self) -> dict[str, Any]:
        """``{"users": [...], "from": "YYYY-MM-DD", "to": "YYYY-MM-DD"}`` (keys case-sensitive).

        >>> from datetime import date, datetime, timedelta, timezone
        >>> evening = datetime(2025, 9, 12, 23, 30, tzinfo=timezone(timedelta(hours=3)))
        >>> GetAccessibility(users=[5, 3, 5], start=date(2025, 9, 10), end=evening).to_params()
        {'users': [5, 3], 'from': '2025-09-10', 'to': '2025-09-12'}
        """
        return {
            "users": list(self.users),
            "from": cv.wire_date(self.start),
            "to": cv.wire_date(self.end),
        }

    def parse(self, result: Any) -> Availability:
        """The user map, with every requested user present."""
        return Availability.from_wire(result, users=self.users)


@attrs.frozen
class GetParticipationStatus(Method[ParticipationStatus]):
    """The current user's answer to a meeting: accepted, declined, invited (no answer) or host.

    ``calendar.meeting.status.get``: https://apidocs.bitrix24.com/api-reference/calendar/calendar-event/calendar-meeting-status-get.html
    Open Integration Package: ``GetUserParticipationStatus``.

    A letter this version does not know parses as ``ParticipationStatus.UNKNOWN``.
    """

    api_method: ClassVar[str] = "calendar.meeting.status.get"

    event_id: int = attrs.field(converter=_event_id)

    def to_params(self) -> dict[str, Any]:
        """``{"eventId": id}`` (the key is case-sensitive).

        >>> GetParticipationStatus(event_id=1058).to_params()
        {'eventId': 1058}
        """
        return {"eventId": self.event_id}

    def parse(self, result: Any) -> ParticipationStatus:
        """The status letter as a :class:`ParticipationStatus`."""
        return ParticipationStatus.from_wire(result)


_SETTABLE = (
    ParticipationStatus.ACCEPTED,
    ParticipationStatus.DECLINED,
    ParticipationStatus.INVITED,
)


def _settable_participation(value: ParticipationStatus | str) -> ParticipationStatus:
    valid = ", ".join(f"{s.value!r} ({s.name})" for s in _SETTABLE)
    if isinstance(value, ParticipationStatus):
        status = value
    elif isinstance(value, str):
        # The server upper-cases ``status`` itself (CORE), so "y" is as good as "Y".
        status = cv.as_enum(ParticipationStatus, value.strip().upper(), ParticipationStatus.UNKNOWN)
    else:
        raise TypeError(
            f"SetParticipationStatus.status must be a ParticipationStatus, got {value!r}"
        )
    if status is ParticipationStatus.HOST:
        raise ValueError(f"status H (HOST) can be read but not set; use one of {valid}")
    if status not in _SETTABLE:
        raise ValueError(f"invalid participation status {value!r}; use one of {valid}")
    return status


@attrs.frozen
class SetParticipationStatus(Method[bool]):
    """Answer a meeting invitation as the current user: accept, decline or leave undecided.

    ``calendar.meeting.status.set``: https://apidocs.bitrix24.com/api-reference/calendar/calendar-event/calendar-meeting-status-set.html
    Open Integration Package: ``SetUserParticipationStatus``.

    ``status`` is ``ParticipationStatus.ACCEPTED``/``DECLINED``/``INVITED`` or ``"Y"``/``"N"``/
    ``"Q"`` (any case); ``HOST`` cannot be set. Returns ``True``.
    """

    api_method: ClassVar[str] = "calendar.meeting.status.set"

    event_id: int = attrs.field(converter=_event_id)
    status: ParticipationStatus = attrs.field(converter=_settable_participation)

    def to_params(self) -> dict[str, Any]:
        """``{"eventId": id, "status": "Y" | "N" | "Q"}``.

        >>> SetParticipationStatus(event_id=1058, status=ParticipationStatus.DECLINED).to_params()
        {'eventId': 1058, 'status': 'N'}
        >>> SetParticipationStatus(event_id=1058, status="q").to_params()
        {'eventId': 1058, 'status': 'Q'}
        """
        return {"eventId": self.event_id, "status": self.status.value}

    def parse(self, result: Any) -> bool:
        """``True`` on success."""
        return cv.as_bool(result, self.api_method)


register_merge_rule(GetAccessibility.api_method, GetAccessibility.merge_rule)
