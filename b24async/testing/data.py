"""Deterministic seeded data for the fake portal: users, departments, calendar events, absences.

Everything here is a pure function of its arguments (``random.Random`` seeded from them); no
clock, no I/O. Users and departments are generated eagerly in ID order from one stream, so a
user's record depends only on ``(seed, anchor, user id)``, not on the portal's size. Calendar
data is generated lazily per ``(user, week)`` from streams of their own, so a 50,000-user
portal costs nothing until asked; meeting attendees also depend on the portal's size (the
neighbour window wraps around).

Calendar layout (weeks are counted from the anchor Monday, ``-WEEKS_BEFORE..WEEKS_AFTER``):

* every user owns 2-4 ``busy``/``quest``/``absent`` timed events per week in working hours of
  their calendar time zone, one ``free`` event, and sometimes one all-day event;
* every user hosts 1-2 meetings per week (when the portal has 2+ users) with 1-4 attendees taken
  from the next ``NEIGHBOURS`` user IDs (wrapping), each with a seeded status ``Y``/``N``/``Q``;
* user 2's first meeting of every week also invites user 1 (the admin, whose webhook the CLI
  and the examples use), status ``Q``: so user 1 always has invitations to answer (entry IDs
  ``meeting_id(2, 0)``, 1848, this week; user 1 hosts ``meeting_id(1, 0)``, 1272);
* like Bitrix24, a meeting has one entry per participant: the host's entry is the parent
  (``ID == PARENT_ID``, status ``H``), each attendee gets a child entry in their own calendar;
* users with ``id % 13 == 5`` have one HR absence (2-5 days) around the anchor week.

This module holds the seeded calendars (their layout, IDs and generators) and is the one import
path for all seeded data: the users and departments are made in
:mod:`~b24async.testing.data_users`, the calendar entry records and their builders live in
:mod:`~b24async.testing.data_entries`.
"""

from __future__ import annotations

import datetime as dt
import random
from zoneinfo import ZoneInfo

from b24async.testing.data_entries import (
    CalendarEvent,
    HrAbsence,
    Meeting,
    _working_hours,
    all_day_event,
    attendee_entry,
    display_datetime,
    timed_event,
    user_section_id,
)
from b24async.testing.data_users import USER_FIELDS, Department, make_departments, make_users

__all__ = [
    "FIRST_SEEDED_EVENT_ID",
    "INVITING_HOST",
    "NEIGHBOURS",
    "USER_FIELDS",
    "WEEKS_AFTER",
    "WEEKS_BEFORE",
    "CalendarEvent",
    "Department",
    "HrAbsence",
    "Meeting",
    "all_day_event",
    "attendee_entry",
    "decode_seeded_event_id",
    "display_datetime",
    "hosted_meetings",
    "hr_absences",
    "make_departments",
    "make_users",
    "meeting_id",
    "own_events",
    "portal_day_shift",
    "seeded_id_limit",
    "timed_event",
    "user_section_id",
    "user_timezone",
]

WEEKS_BEFORE = 4
"""Seeded calendars start this many weeks before the anchor week..."""
WEEKS_AFTER = 4
"""...and end this many weeks after it; outside, calendars hold only API-added events."""
NEIGHBOURS = 8
"""Attendees of a meeting hosted by user ``h`` come from ``h+1 .. h+NEIGHBOURS`` (wrapping)."""

INVITING_HOST = 2
"""This user's first meeting of every week invites user 1 too (status ``Q``)."""

FIRST_SEEDED_EVENT_ID = 1000
"""Seeded event IDs start here; each (user, week) owns a block of 64 (see ``_block``)."""
_BLOCK = 64  # IDs reserved per (host, week): own events use slots 0..15, meetings 16..63
_OWN_SLOTS = 16
_MEETING_SLOTS = 8  # host + up to 7 attendees
_NWEEKS = WEEKS_BEFORE + WEEKS_AFTER + 1

# fmt: off
_TIMEZONES = (
    "Europe/Moscow",
    "Europe/Moscow",
    "Europe/Moscow",
    "Europe/Riga",
    "Europe/Berlin",
    "America/Managua",
    "Asia/Almaty",
)
# fmt: on

_BUSY_NAMES = ("Focus time", "Code review", "Client call", "Interview", "Training", "Report")
_FREE_NAMES = ("Lunch", "Gym", "Optional webinar", "Reading time")
_ALL_DAY_NAMES = ("Business trip", "Conference", "Offsite", "Day off")
_MEETING_NAMES = ("Standup", "Planning", "Sprint review", "1:1", "Retrospective", "Design review")
_EVENT_TYPES = ("#shared#", "#collab#", "#shared_collab#")
_OFFICE_START, _OFFICE_END = 9 * 60, 18 * 60  # seeded timed entries stay inside (minutes)


def user_timezone(seed: int, user_id: int) -> str:
    """The calendar time zone of a user: mostly the portal's (always for the admin, user 1)."""
    if user_id == 1:
        return _TIMEZONES[0]
    return _TIMEZONES[((user_id * 2654435761 + seed * 97) >> 5) % len(_TIMEZONES)]


def portal_day_shift(portal_tz: dt.tzinfo, year: int) -> tuple[int, int]:
    """How far (in days) a seeded office-hours entry can move when read in ``portal_tz``.

    Seeded timed entries start at 09:00 or later and end by 18:00 in their own zone, so in
    the portal's zone they land between ``shift[0]`` and ``shift[1]`` days from their local
    date: ``(0, 1)`` for a Moscow portal (Managua's evening is the next Moscow morning).
    Probed twice a month through ``year`` and its neighbours to catch daylight saving time.
    """
    gaps = []
    for probe_year in (year - 1, year, year + 1):
        for month in range(1, 13):
            for day in (1, 15):
                probe = dt.datetime(probe_year, month, day, 12)
                portal = portal_tz.utcoffset(probe) or dt.timedelta()
                for name in set(_TIMEZONES):
                    local = ZoneInfo(name).utcoffset(probe) or dt.timedelta()
                    gaps.append(int((portal - local).total_seconds()))
    earliest = _OFFICE_START * 60 + min(gaps)
    latest = _OFFICE_END * 60 + max(gaps)
    return (-1 if earliest < 0 else 0, 1 if latest > 86400 else 0)


def seeded_id_limit(user_count: int) -> int:
    """The first event ID above every seeded one (new events are numbered from here)."""
    return FIRST_SEEDED_EVENT_ID + user_count * _NWEEKS * _BLOCK


def _block(user_id: int, week: int) -> int:
    return FIRST_SEEDED_EVENT_ID + ((user_id - 1) * _NWEEKS + week + WEEKS_BEFORE) * _BLOCK


def meeting_id(host_id: int, week: int, index: int = 0) -> int:
    """The (parent) event ID of a seeded meeting: the ``index``-th ``host_id`` hosts in ``week``.

    It does not depend on the seed or the portal's size: ``meeting_id(1, 0)`` is 1272 (user 1
    hosts it this week), ``meeting_id(2, 0)`` is 1848 (user 2's, which invites user 1).
    """
    return _block(host_id, week) + _OWN_SLOTS + index * _MEETING_SLOTS


def decode_seeded_event_id(event_id: int, user_count: int) -> tuple[int, int, int] | None:
    """``(user who generated it, week, slot)`` for a seeded event ID, else None."""
    if not FIRST_SEEDED_EVENT_ID <= event_id < seeded_id_limit(user_count):
        return None
    block, slot = divmod(event_id - FIRST_SEEDED_EVENT_ID, _BLOCK)
    user_index, week_index = divmod(block, _NWEEKS)
    return user_index + 1, week_index - WEEKS_BEFORE, slot


def _importance(rng: random.Random) -> str:
    roll = rng.random()
    return "high" if roll < 0.2 else "low" if roll < 0.3 else "normal"


def own_events(seed: int, anchor: dt.date, user_id: int, week: int) -> tuple[CalendarEvent, ...]:
    """The non-meeting events of one user in one week (see the module docstring)."""
    rng = random.Random(f"{seed}:{user_id}:{week}:own")
    tz_name = user_timezone(seed, user_id)
    monday = anchor + dt.timedelta(weeks=week)
    base = _block(user_id, week)
    events: list[CalendarEvent] = []

    def next_id() -> tuple[int, int, int]:
        event_id = base + len(events)
        return event_id, event_id, user_id

    for _ in range(rng.randint(2, 4)):
        roll = rng.random()
        access = "quest" if roll < 0.15 else "absent" if roll < 0.2 else "busy"
        shared = rng.random() < 0.1
        events.append(
            _working_hours(
                next_id(),
                rng.choice(_BUSY_NAMES),
                monday + dt.timedelta(days=rng.randrange(5)),
                rng.randrange(_OFFICE_START // 30, _OFFICE_END // 30 - 2) * 30,  # .. 16:30
                rng.choice((30, 60, 90)),
                tz_name,
                accessibility=access,
                importance=_importance(rng),
                event_type=rng.choice(_EVENT_TYPES) if shared else None,
            )
        )
    # A free event: calendar.accessibility.get must leave it out.
    events.append(
        _working_hours(
            next_id(),
            rng.choice(_FREE_NAMES),
            monday + dt.timedelta(days=rng.randrange(5)),
            rng.choice((12 * 60, 13 * 60)),
            60,
            tz_name,
            accessibility="free",
            importance="low",
        )
    )
    if rng.random() < 0.35:
        first = monday + dt.timedelta(days=rng.randrange(4))
        last = first + dt.timedelta(days=rng.randrange(2))
        event_id = base + len(events)
        events.append(
            all_day_event(
                (event_id, event_id, user_id),
                rng.choice(_ALL_DAY_NAMES),
                first,
                last,
                accessibility=rng.choice(("absent", "busy")),
                importance="normal",
            )
        )
    return tuple(events)


def hosted_meetings(
    seed: int, anchor: dt.date, host_id: int, week: int, user_count: int
) -> tuple[tuple[Meeting, CalendarEvent], ...]:
    """The meetings one user hosts in one week, each with the host's (parent) entry."""
    reach = min(NEIGHBOURS, user_count - 1)
    if reach < 1:
        return ()
    rng = random.Random(f"{seed}:{host_id}:{week}:meet")
    tz_name = user_timezone(seed, host_id)
    monday = anchor + dt.timedelta(weeks=week)
    result: list[tuple[Meeting, CalendarEvent]] = []
    for index in range(rng.randint(1, 2)):
        parent_id = meeting_id(host_id, week, index)
        offsets = sorted(rng.sample(range(1, reach + 1), rng.randint(1, min(4, reach))))
        attendees = tuple((host_id - 1 + d) % user_count + 1 for d in offsets)
        statuses = tuple(rng.choices(("Y", "Q", "N"), weights=(5, 3, 2), k=len(attendees)))
        if host_id == INVITING_HOST and index == 0 and 1 not in attendees:
            # Added after the draws, so the rest of the seeded data is what it was.
            attendees, statuses = (*attendees, 1), (*statuses, "Q")
        meeting = Meeting(
            parent_id=parent_id,
            host_id=host_id,
            attendee_ids=(host_id, *attendees),
            entry_ids=tuple(parent_id + i for i in range(len(attendees) + 1)),
            statuses=("H", *statuses),
        )
        event = _working_hours(
            (parent_id, parent_id, host_id),
            rng.choice(_MEETING_NAMES),
            monday + dt.timedelta(days=rng.randrange(5)),
            rng.randrange(20, 32) * 30,  # 10:00 .. 15:30
            rng.choice((30, 60)),
            tz_name,
            accessibility="busy",
            importance=_importance(rng),
            meeting=meeting,
        )
        result.append((meeting, event))
    return tuple(result)


def hr_absences(seed: int, anchor: dt.date, user_id: int) -> tuple[HrAbsence, ...]:
    """HR absences of a user: one 2-5 day absence for ``id % 13 == 5``, none otherwise."""
    if user_id % 13 != 5:
        return ()
    rng = random.Random(f"{seed}:{user_id}:hr")
    first = anchor + dt.timedelta(weeks=rng.choice((-1, 0, 1)), days=rng.randrange(5))
    last = first + dt.timedelta(days=rng.randint(1, 4))
    return (HrAbsence(id=str(500000 + user_id), user_id=user_id, first_day=first, last_day=last),)
