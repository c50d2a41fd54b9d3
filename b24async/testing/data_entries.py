"""Calendar entries of the fake portal: the records and the builders that fill them in.

A :class:`CalendarEvent` is one entry in one user's calendar (a meeting has one per
participant, tied by a :class:`Meeting`); an :class:`HrAbsence` is a row of the HR absence
chart. The builders compute what the portal stores for an entry (UTC instants, display
strings, zone offsets) from wall-clock times, whether the entry is seeded or added through the
API. Re-exported by :mod:`b24async.testing.data`.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
from typing import Any
from zoneinfo import ZoneInfo

import attrs

__all__ = [
    "CalendarEvent",
    "HrAbsence",
    "Meeting",
    "all_day_event",
    "attendee_entry",
    "display_datetime",
    "timed_event",
    "user_section_id",
]


@attrs.frozen
class Meeting:
    """The participants of one meeting: ``entry_ids[i]`` is the entry of ``attendee_ids[i]``.

    Index 0 is the host (status ``H``, entry == ``parent_id``). ``statuses`` are the seeded ones;
    the portal state keeps later ``calendar.meeting.status.set`` changes on top.
    """

    parent_id: int
    host_id: int
    attendee_ids: tuple[int, ...]
    entry_ids: tuple[int, ...]
    statuses: tuple[str, ...]


@attrs.frozen
class CalendarEvent:
    """One calendar entry in one user's calendar (a meeting has one per participant).

    Timed events: ``start_ts``/``end_ts`` are UTC instants, ``date_from``/``date_to`` the wall
    clock of ``tz_from``/``tz_to`` in the portal display format, ``offset_*`` those zones'
    offsets at each end (``TZ_OFFSET_FROM``/``TO``). All-day events, as CORE stores them: the
    zones are empty and the offsets 0, ``start_ts``/``end_ts`` are the UTC midnights of the
    first and the last day (equal for a one-day event), the display strings are bare dates.
    """

    id: int
    parent_id: int
    owner_id: int
    created_by: int
    section_id: int
    name: str
    start_ts: int
    end_ts: int
    date_from: str
    date_to: str
    offset_from: int
    offset_to: int
    tz_from: str
    tz_to: str
    all_day: bool
    accessibility: str
    importance: str
    event_type: str | None = None
    description: str = ""
    meeting: Meeting | None = None


@attrs.frozen
class HrAbsence:
    """An absence from the HR absence chart (shown by ``calendar.accessibility.get`` only)."""

    id: str
    user_id: int
    first_day: dt.date
    last_day: dt.date


def display_datetime(value: dt.datetime) -> str:
    """Format a wall-clock time the way the portal displays it: ``02.12.2024 11:00:00``.

    Bitrix's SQL date formatting drops a midnight time: ``05.12.2024`` for 00:00:00.
    """
    label = f"{value.day:02d}.{value.month:02d}.{value.year:04d}"
    if value.hour == value.minute == value.second == 0:
        return label
    return f"{label} {value.hour:02d}:{value.minute:02d}:{value.second:02d}"


def user_section_id(user_id: int) -> int:
    """The ID of a user's personal calendar section (one per user)."""
    return 100 + user_id


def timed_event(
    ids: tuple[int, int, int],
    name: str,
    start: dt.datetime,
    end: dt.datetime,
    tz_from: str,
    tz_to: str,
    **extra: Any,
) -> CalendarEvent:
    """A timed entry from aware ``start``/``end``; ``ids`` is (id, parent_id, owner)."""
    start = start.astimezone(ZoneInfo(tz_from))
    end = end.astimezone(ZoneInfo(tz_to))
    event_id, parent_id, owner = ids
    return CalendarEvent(
        id=event_id,
        parent_id=parent_id,
        owner_id=owner,
        created_by=owner,
        section_id=user_section_id(owner),
        name=name,
        start_ts=int(start.timestamp()),
        end_ts=int(end.timestamp()),
        date_from=display_datetime(start),
        date_to=display_datetime(end),
        offset_from=int((start.utcoffset() or dt.timedelta()).total_seconds()),
        offset_to=int((end.utcoffset() or dt.timedelta()).total_seconds()),
        tz_from=tz_from,
        tz_to=tz_to,
        all_day=False,
        **extra,
    )


def all_day_event(
    ids: tuple[int, int, int],
    name: str,
    first: dt.date,
    last: dt.date,
    **extra: Any,
) -> CalendarEvent:
    """An all-day entry from its first to its last day; ``ids`` is (id, parent_id, owner)."""
    event_id, parent_id, owner = ids
    return CalendarEvent(
        id=event_id,
        parent_id=parent_id,
        owner_id=owner,
        created_by=owner,
        section_id=user_section_id(owner),
        name=name,
        start_ts=calendar.timegm(first.timetuple()),
        end_ts=calendar.timegm(last.timetuple()),
        date_from=_day_label(first.toordinal()),
        date_to=_day_label(last.toordinal()),
        offset_from=0,
        offset_to=0,
        tz_from="",
        tz_to="",
        all_day=True,
        **extra,
    )


_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


@functools.lru_cache(maxsize=4096)
def _day_label(ordinal: int) -> str:
    day = dt.date.fromordinal(ordinal)
    return f"{day.day:02d}.{day.month:02d}.{day.year:04d}"


@functools.lru_cache(maxsize=16384)
def _noon_offset(tz_name: str, ordinal: int) -> int:
    noon = dt.datetime.combine(dt.date.fromordinal(ordinal), dt.time(12))
    offset = ZoneInfo(tz_name).utcoffset(noon)
    return int(offset.total_seconds()) if offset is not None else 0


def _working_hours(
    ids: tuple[int, int, int],
    name: str,
    day: dt.date,
    minute_of_day: int,
    minutes: int,
    tz_name: str,
    **extra: Any,
) -> CalendarEvent:
    """A seeded office-hours entry: the same as :func:`timed_event`, by arithmetic.

    Zones switch daylight saving time at night, so an office-hours entry has its day's noon
    offset at both ends and never crosses midnight. This runs for every seeded entry (tens of
    thousands when a big portal's calendars are read), hence the caches.
    """
    ordinal = day.toordinal()
    offset = _noon_offset(tz_name, ordinal)
    start_ts = (ordinal - _EPOCH_ORDINAL) * 86400 + minute_of_day * 60 - offset
    end_minute = minute_of_day + minutes
    label = _day_label(ordinal)
    event_id, parent_id, owner = ids
    return CalendarEvent(
        id=event_id,
        parent_id=parent_id,
        owner_id=owner,
        created_by=owner,
        section_id=user_section_id(owner),
        name=name,
        start_ts=start_ts,
        end_ts=start_ts + minutes * 60,
        date_from=f"{label} {minute_of_day // 60:02d}:{minute_of_day % 60:02d}:00",
        date_to=f"{label} {end_minute // 60:02d}:{end_minute % 60:02d}:00",
        offset_from=offset,
        offset_to=offset,
        tz_from=tz_name,
        tz_to=tz_name,
        all_day=False,
        **extra,
    )


def attendee_entry(host_entry: CalendarEvent, entry_id: int, owner: int) -> CalendarEvent:
    """An attendee's own copy of a meeting entry (``attrs.evolve``, but three times faster)."""
    return CalendarEvent(
        id=entry_id,
        parent_id=host_entry.parent_id,
        owner_id=owner,
        created_by=owner,
        section_id=user_section_id(owner),
        name=host_entry.name,
        start_ts=host_entry.start_ts,
        end_ts=host_entry.end_ts,
        date_from=host_entry.date_from,
        date_to=host_entry.date_to,
        offset_from=host_entry.offset_from,
        offset_to=host_entry.offset_to,
        tz_from=host_entry.tz_from,
        tz_to=host_entry.tz_to,
        all_day=host_entry.all_day,
        accessibility=host_entry.accessibility,
        importance=host_entry.importance,
        event_type=host_entry.event_type,
        description=host_entry.description,
        meeting=host_entry.meeting,
    )
