"""Calendar results: busy intervals from ``calendar.accessibility.get`` and meeting statuses.

Unknown values policy (applies to every server-sent enum in :mod:`b24async.models`): a value the
enum does not know parses as its ``UNKNOWN`` member instead of failing, and a model keeps the raw
wire value in ``extra`` under its wire key (``extra["ACCESSIBILITY"] == "tentative"``). An
``UNKNOWN`` accessibility blocks time, like every value except ``free``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from b24async import jsonio
from b24async.models import _convert as cv
from b24async.models.slots import Slot, WorkingHours, free_slots

__all__ = [
    "Accessibility",
    "Availability",
    "BusyInterval",
    "Importance",
    "ParticipationStatus",
]


class Accessibility(str, Enum):
    """How an event occupies its owner (``ACCESSIBILITY``). Only ``FREE`` leaves time free."""

    BUSY = "busy"
    ABSENT = "absent"
    QUEST = "quest"  # tentative
    FREE = "free"
    UNKNOWN = "unknown"  # a value this version does not know; raw value in ``extra``

    def __str__(self) -> str:
        return self.value


class Importance(str, Enum):
    """The event's importance (``IMPORTANCE``)."""

    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"
    UNKNOWN = "unknown"  # a value this version does not know; raw value in ``extra``

    def __str__(self) -> str:
        return self.value


class ParticipationStatus(str, Enum):
    """The current user's answer to a meeting (``calendar.meeting.status.*``, ``MEETING_STATUS``).

    ``HOST`` can be read but not set. ``UNKNOWN`` stands for a letter this version does not know
    (the letter itself is not kept: the result is a bare string).
    """

    ACCEPTED = "Y"
    DECLINED = "N"
    INVITED = "Q"  # invited, no answer yet
    HOST = "H"
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def from_wire(cls, raw: Any) -> ParticipationStatus:
        """Parse the letter returned by ``calendar.meeting.status.get`` (``UNKNOWN`` if new).

        >>> ParticipationStatus.from_wire("H"), ParticipationStatus.from_wire("X")
        (<ParticipationStatus.HOST: 'H'>, <ParticipationStatus.UNKNOWN: 'unknown'>)
        """
        return cv.as_enum(cls, raw, cls.UNKNOWN)


def _aware(_: Any, attribute: attrs.Attribute[datetime], value: datetime) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"BusyInterval.{attribute.name} must be an aware datetime: {value!r}")


def _zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@attrs.frozen(kw_only=True)
class BusyInterval:
    """One entry of a user's ``calendar.accessibility.get`` list: an event or an HR absence.

    ``start``/``end`` are aware UTC datetimes taken from ``DATE_FROM_TS_UTC``/``DATE_TO_TS_UTC``
    (``FROM``/``TO`` for HR absences), exactly as sent. ``span`` is the time the entry blocks,
    which differs for all-day entries (see there). ``extra`` keeps every wire key not turned into
    an attribute: display dates (``DATE_FROM``, ``DT_FROM``), ``~USER_OFFSET_*``, new fields, and
    the raw value of an unknown ``ACCESSIBILITY``/``IMPORTANCE``.
    """

    id: int
    start: datetime = attrs.field(validator=_aware)
    end: datetime = attrs.field(validator=_aware)
    name: str | None = None
    tz_from: str | None = None
    tz_to: str | None = None
    all_day: bool = False
    accessibility: Accessibility = Accessibility.BUSY
    importance: Importance = Importance.NORMAL
    event_type: str | None = None
    from_hr: bool = False
    extra: Mapping[str, Any] = attrs.field(factory=cv.FrozenMap, converter=cv.freeze, hash=False)

    @classmethod
    def from_wire(cls, raw: Mapping[str, Any]) -> BusyInterval:
        """Build from one wire entry: a calendar event or an HR absence (``FROM_HR: true``)."""
        return _wire.decode_entry(raw) if cls is BusyInterval else cls._from_wire_checked(raw)

    @classmethod
    def _from_wire_checked(cls, raw: Mapping[str, Any]) -> BusyInterval:
        """The general reader: every shape the wire may take (the fast path's reference)."""
        if not isinstance(raw, Mapping):
            raise ValueError(f"busy interval: expected an object, got {raw!r}")
        used = {"ID", "NAME", "TZ_FROM", "TZ_TO", "EVENT_TYPE", "FROM_HR", "DT_SKIP_TIME"}
        from_hr = cv.as_opt_bool(raw.get("FROM_HR"), "FROM_HR") is True
        ident = cv.as_int(raw.get("ID"), "ID")
        start_key = _first_present(raw, ("DATE_FROM_TS_UTC", "FROM"), ident)
        end_key = _first_present(raw, ("DATE_TO_TS_UTC", "TO"), ident)
        used.update((start_key, end_key))
        if "DT_SKIP_TIME" in raw:
            all_day = cv.as_bool(raw["DT_SKIP_TIME"], "DT_SKIP_TIME")
        else:
            # HR absences carry no flag; dates without a time ("12.09.2025") mean whole days.
            all_day = from_hr and all(_is_bare_date(raw.get(k)) for k in ("DT_FROM", "DT_TO"))
        accessibility = cv.as_enum(Accessibility, raw.get("ACCESSIBILITY"), Accessibility.UNKNOWN)
        if accessibility is not Accessibility.UNKNOWN:
            used.add("ACCESSIBILITY")
        importance = cv.as_enum(Importance, raw.get("IMPORTANCE"), Importance.UNKNOWN)
        if importance is not Importance.UNKNOWN:
            used.add("IMPORTANCE")
        return cls(
            id=ident,
            start=cv.from_timestamp(raw[start_key], start_key),
            end=cv.from_timestamp(raw[end_key], end_key),
            name=cv.as_opt_str(raw.get("NAME"), "NAME"),
            tz_from=cv.as_opt_str(raw.get("TZ_FROM"), "TZ_FROM"),
            tz_to=cv.as_opt_str(raw.get("TZ_TO"), "TZ_TO"),
            all_day=all_day,
            accessibility=accessibility,
            importance=importance,
            event_type=cv.as_opt_str(raw.get("EVENT_TYPE"), "EVENT_TYPE"),
            from_hr=from_hr,
            extra=cv.split_extra(raw, used),
        )

    @property
    def zone_from(self) -> ZoneInfo | None:
        """``tz_from`` as a ``ZoneInfo``; ``None`` if absent or not in the local tz database."""
        return _zone(self.tz_from)

    @property
    def zone_to(self) -> ZoneInfo | None:
        """``tz_to`` as a ``ZoneInfo``; ``None`` if absent or not in the local tz database."""
        return _zone(self.tz_to)

    @property
    def blocks(self) -> bool:
        """Whether the entry makes its owner unavailable: everything but ``free`` does."""
        return self.accessibility is not Accessibility.FREE

    @property
    def span(self) -> tuple[datetime, datetime]:
        """The half-open time ``[start, end)`` the entry occupies, in UTC.

        For all-day entries the server's end timestamp is the *start* of the last day (a one-day
        event has ``end == start``; CORE ``calendar_event.php``), so one day is added to cover
        it. A span with ``end <= start`` is empty and blocks nothing.
        """
        end = self.end + timedelta(days=1) if self.all_day else self.end
        return self.start, max(end, self.start)

    def overlaps(self, start: datetime, end: datetime) -> bool:
        """Whether ``span`` shares any instant with ``[start, end)`` (an empty span never does)."""
        s, e = self.span
        return s < e and s < end and start < e


def _is_bare_date(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip()) and ":" not in value


def _first_present(raw: Mapping[str, Any], keys: tuple[str, str], ident: int) -> str:
    for key in keys:
        if raw.get(key) not in (None, ""):
            return key
    raise ValueError(f"busy interval {ident}: none of {', '.join(keys)} is set")


_BIG_USERS = 100  # answers for this many users (~2,700 entries a month) pause the cyclic GC


def _canonical_user_keys(keys: Iterable[Any]) -> bool:
    """Whether every key is a user ID as ``str(user)`` spells it (``"5"``; not ``"05"`` or ``5``).

    Only then is a map read whole: :meth:`Availability.from_wire` joins ``"7"`` and ``"07"``.
    """
    for key in keys:
        if not (type(key) is str and key.isascii() and key.isdigit() and key[0] != "0"):
            return False
    return True


def _freeze_by_user(
    value: Mapping[int, Iterable[BusyInterval]],
) -> dict[int, tuple[BusyInterval, ...]]:
    return {cv.as_int(user, "user id"): _wire.ordered(items) for user, items in value.items()}


def _check_window(start: datetime, end: datetime) -> None:
    for name, value in (("start", start), ("end", end)):
        if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{name} must be a timezone-aware datetime, got {value!r}")
    if end <= start:
        raise ValueError(f"end {end.isoformat()} must be after start {start.isoformat()}")


@attrs.frozen(eq=False, repr=False)
class Availability(Mapping[int, tuple[BusyInterval, ...]]):
    """Result of ``calendar.accessibility.get``: user ID -> that user's entries, by start time.

    A read-only mapping; every requested user is a key (with ``()`` when the server sent ``[]``
    or left the user out). Entries include ``free`` events; helpers skip them when looking for
    time. Compares equal to any mapping with the same items.
    """

    _by_user: dict[int, tuple[BusyInterval, ...]] = attrs.field(converter=_freeze_by_user)

    @classmethod
    def from_wire(cls, raw: Any, users: Iterable[int] = ()) -> Availability:
        """Parse the ``result`` value; ``users`` are the requested IDs, all present afterwards.

        ``raw`` is an object keyed by user ID, or ``[]`` when it is empty (PHP). A user's value
        is a list of entries, or an object with numeric keys when the server filtered the list.
        """
        by_user: dict[int, tuple[BusyInterval, ...]] = dict.fromkeys(users, ())
        raw_users = cv.as_map(raw, "calendar.accessibility.get result")
        big = len(raw_users) >= _BIG_USERS
        with jsonio.gc_paused() if big else contextlib.nullcontext():
            for key, items in raw_users.items():
                user = cv.as_int(key, "user id")
                entries = _wire.decode_entries(cv.as_list(items, f"user {user}"))
                if by_user.get(user):  # "7" and "07" name one user: join their entries
                    entries = _wire.ordered(by_user[user] + entries)
                by_user[user] = entries
            if big:
                _wire.promote_young()  # no young collection walks the entries after the pause
            return cls._adopt(by_user)

    @classmethod
    def _adopt(cls, by_user: dict[int, tuple[BusyInterval, ...]]) -> Availability:
        """Wrap a map already in final form (int keys, ordered tuples): no converter pass."""
        availability: Availability = cls.__new__(cls)
        object.__setattr__(availability, "_by_user", by_user)
        return availability

    def _pick(self, users: Iterable[int]) -> Availability:
        """Every one of ``users`` (``()`` for one not here), sharing this result's entries.

        No checks: ``users`` are user IDs (a fan-in's slice of one parsed command).
        """
        by_user = self._by_user
        return Availability._adopt({user: by_user.get(user, ()) for user in users})

    def _present(self, users: Iterable[int]) -> Availability:
        """The ones of ``users`` that are here, sharing this result's entries (no checks)."""
        by_user = self._by_user
        return Availability._adopt({user: by_user[user] for user in users if user in by_user})

    @classmethod
    def merge(cls, *parts: Mapping[int, Iterable[BusyInterval]]) -> Availability:
        """Join results of several queries (split by users or by dates) into one.

        A user present in several parts gets the union of their entries; an entry seen twice
        (an event spanning two date ranges) is kept once.
        """
        by_user: dict[int, list[BusyInterval]] = {}
        for part in parts:
            for user, items in part.items():
                by_user.setdefault(user, []).extend(items)
        return cls(by_user)

    def subset(self, users: Iterable[int]) -> Availability:
        """The part of this result for ``users`` only; ``KeyError`` if one was not queried."""
        wanted = list(dict.fromkeys(users))
        self._require(wanted)
        return Availability({user: self._by_user[user] for user in wanted})

    def __getitem__(self, user: int) -> tuple[BusyInterval, ...]:
        return self._by_user[user]

    def __iter__(self) -> Iterator[int]:
        return iter(self._by_user)

    def __len__(self) -> int:
        return len(self._by_user)

    def __repr__(self) -> str:
        return f"Availability({self._by_user!r})"

    def conflicts(self, user: int, start: datetime, end: datetime) -> tuple[BusyInterval, ...]:
        """The entries of ``user`` that block any part of ``[start, end)`` (``free`` ones never)."""
        _check_window(start, end)
        self._require([user])
        return tuple(i for i in self._by_user[user] if i.blocks and i.overlaps(start, end))

    def is_free(self, user: int, start: datetime, end: datetime) -> bool:
        """Whether ``user`` has nothing blocking in ``[start, end)`` (aware datetimes)."""
        return not self.conflicts(user, start, end)

    def common_free_slots(
        self,
        users: Iterable[int] | None,
        start: datetime,
        end: datetime,
        duration: timedelta,
        working_hours: WorkingHours | None = None,
        *,
        limit: int | None = None,
    ) -> list[Slot]:
        """Free windows of at least ``duration`` in ``[start, end)`` when all ``users`` can meet.

        Windows are maximal (as long as the common free time allows), clipped to
        ``working_hours`` if given, earliest first, in ``start``'s time zone; ``limit`` keeps the
        first few. ``users=None`` means every user in this result; an unknown user is a
        ``KeyError`` (no data is not the same as free). ``free`` entries never block; all-day
        entries block their whole days (see :attr:`BusyInterval.span`).
        """
        wanted = list(self) if users is None else list(dict.fromkeys(users))
        if not wanted:
            raise ValueError("common_free_slots needs at least one user")
        self._require(wanted)
        busy = (i.span for user in wanted for i in self._by_user[user] if i.blocks)
        return free_slots(busy, start, end, duration, working_hours, limit=limit)

    def _require(self, users: Iterable[int]) -> None:
        missing = [user for user in users if user not in self._by_user]
        if missing:
            raise KeyError(f"no availability data for users {missing}; they were not queried")


# The hot-path decoder needs the classes above (imported last to break the cycle).
from b24async.models import _calendar_wire as _wire  # noqa: E402
