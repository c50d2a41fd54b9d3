"""The fake portal's data: users, departments, calendars, messenger statuses, and the write ledger.

:class:`PortalState` is plain in-memory state plus the indexes the handlers need to stay fast on
a 50,000-user portal: users kept in ID order (keyset paging is a bisect), calendar weeks
generated lazily per ``(user, week)`` and cached, and the handlers' printed answer parts
(:class:`PrintedCache`), which every change of the state drops (:meth:`PortalState.changed`).
The HTTP layer never touches it except through the handlers in ``methods.py`` and the few
helpers of the seam (``record``, ``is_admin``, ``user_exists``); tests may read it directly
(``meetings_of``, ``hr_absences_of``, ``ledger``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import attrs

from b24async.testing.data import (
    INVITING_HOST,
    NEIGHBOURS,
    WEEKS_AFTER,
    WEEKS_BEFORE,
    CalendarEvent,
    Department,
    HrAbsence,
    Meeting,
    attendee_entry,
    decode_seeded_event_id,
    hosted_meetings,
    hr_absences,
    make_departments,
    make_users,
    own_events,
    portal_day_shift,
    seeded_id_limit,
)
from b24async.testing.printed_cache import PrintedCache

if TYPE_CHECKING:
    from b24async.testing.events import EventHub

__all__ = ["PORTAL_TIMEZONE", "LedgerEntry", "MeetingView", "PortalState", "PrintedCache"]

PORTAL_TIMEZONE = "Europe/Moscow"
"""The portal's own time zone: ``server.time``, user dates and date-only params use it."""

ADMIN_ID = 1
"""The portal admin: may edit any user and add events to any calendar."""
_WEEK_CACHE_LIMIT = 60_000  # (user, week) entries, ~10 events each; cleared when full
# Seeded messenger statuses by ``id % 6``; None means "never set" (im.user.status.get: false).
_IM_PATTERN = (None, "online", "online", "dnd", "away", "break")


@attrs.frozen
class LedgerEntry:
    """One applied write, in order of application."""

    seq: int
    at: float
    method: str
    actor: int
    target: str
    change: Mapping[str, Any]


@attrs.frozen
class MeetingView:
    """One user's place in a meeting (a test helper, see :meth:`PortalState.meetings_of`)."""

    event_id: int
    """The user's own calendar entry of the meeting (the parent for the host)."""
    parent_id: int
    host_id: int
    status: str
    """The current status: ``H`` for the host, ``Y``/``N``/``Q`` for attendees."""
    name: str
    start_ts: int


class PortalState:
    """Everything the fake portal knows; mutated only by handlers (and tests)."""

    def __init__(
        self,
        users: list[dict[str, Any]],
        departments: list[Department],
        *,
        seed: int,
        anchor: dt.date,
        timezone: str = PORTAL_TIMEZONE,
    ) -> None:
        """Wrap prepared data; use :meth:`seeded` to build a portal."""
        self.seed = seed
        self.anchor = anchor
        self.timezone = ZoneInfo(timezone)
        self.departments = departments
        self.ledger: list[LedgerEntry] = []
        self._users = users
        self.user_ids = [int(user["ID"]) for user in users]
        self.users_version = 0
        self.user_query_cache: dict[Hashable, Any] = {}
        """Handler-owned cache of user queries; emptied whenever a user changes."""
        self.version = 0
        """Bumped by every change of the state (users, calendars, meetings, statuses)."""
        self.printed = PrintedCache()
        """Handler-owned cache of printed answer parts; emptied by every change."""
        self._im_statuses: dict[int, str] = {}
        self._meeting_statuses: dict[tuple[int, int], str] = {}
        self._week_cache: dict[tuple[int, int], tuple[CalendarEvent, ...]] = {}
        self._hosted_cache: dict[tuple[int, int], tuple[tuple[Meeting, CalendarEvent], ...]] = {}
        self._added: dict[int, CalendarEvent] = {}
        self._added_by_owner: dict[int, list[CalendarEvent]] = {}
        self._next_event_id = seeded_id_limit(len(users))
        # Seeded calendars depend on the seeded user count; users registered later (ONUSERADD)
        # get empty calendars and do not reshuffle everyone else's meetings.
        self._seeded = len(users)
        self._hidden: set[int] = set()  # seeded entries deleted or replaced through the API
        self.events: EventHub | None = None
        """The app's event handlers and offline queue (set by the FakePortal)."""
        self._day_shift = portal_day_shift(self.timezone, anchor.year)

    @classmethod
    def seeded(
        cls, *, users: int = 50, seed: int = 0, anchor: dt.date | None = None
    ) -> PortalState:
        """A portal with ``users`` users (IDs 1..users) and calendars around ``anchor``.

        ``anchor`` defaults to the Monday of the current week. The same arguments always give
        the same data.
        """
        if anchor is None:
            today = dt.date.today()
            anchor = today - dt.timedelta(days=today.weekday())
        zone = ZoneInfo(PORTAL_TIMEZONE)
        records = make_users(users, seed, anchor, zone)
        return cls(records, make_departments(records), seed=seed, anchor=anchor)

    # -- the seam ---------------------------------------------------------------------------

    def record(
        self, method: str, actor: int, target: str, change: Mapping[str, Any], now: float
    ) -> LedgerEntry:
        """Append one applied write to the ledger and return it."""
        entry = LedgerEntry(
            seq=len(self.ledger) + 1,
            at=now,
            method=method,
            actor=actor,
            target=target,
            change=dict(change),
        )
        self.ledger.append(entry)
        return entry

    def changed(self) -> None:
        """Note a change of the state: every cached answer is dropped.

        Every method that changes what a handler can answer calls it (a new one must too).
        """
        self.version += 1
        self.printed.clear()

    def is_admin(self, user_id: int) -> bool:
        """Whether the user is the portal admin (user 1)."""
        return user_id == ADMIN_ID and self.user_exists(user_id)

    def user_exists(self, user_id: int) -> bool:
        """Whether a user with this ID exists (fired users exist too)."""
        return 1 <= user_id <= len(self._users)

    def is_active(self, user_id: int) -> bool:
        """Whether the user exists and is not fired."""
        return self.user_exists(user_id) and bool(self._users[user_id - 1]["ACTIVE"])

    # -- users ------------------------------------------------------------------------------

    @property
    def users(self) -> Sequence[dict[str, Any]]:
        """User records in ID order, in ``user.get`` form (do not mutate; see update_user)."""
        return self._users

    def get_user(self, user_id: int) -> dict[str, Any] | None:
        """The stored record of a user, or None."""
        return self._users[user_id - 1] if self.user_exists(user_id) else None

    def update_user(self, user_id: int, fields: Mapping[str, Any]) -> None:
        """Apply already-normalized fields to a user and invalidate cached queries."""
        record = self._users[user_id - 1]
        record.update(fields)
        self.users_version += 1
        self.user_query_cache.clear()
        self.changed()

    def add_user(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Register a new user (ID = the next one) from ``user.get``-shaped ``fields``."""
        record = dict(fields)
        record["ID"] = str(len(self._users) + 1)
        self._users.append(record)
        self.user_ids.append(len(self._users))
        self.users_version += 1
        self.user_query_cache.clear()
        self.changed()
        return record

    # -- messenger status -------------------------------------------------------------------

    def im_status(self, user_id: int) -> str | None:
        """The user's messenger status, or None if none was ever stored."""
        if user_id in self._im_statuses:
            return self._im_statuses[user_id]
        return _IM_PATTERN[user_id % len(_IM_PATTERN)] if self.user_exists(user_id) else None

    def set_im_status(self, user_id: int, status: str) -> None:
        """Store the user's messenger status."""
        self._im_statuses[user_id] = status
        self.changed()

    # -- calendars --------------------------------------------------------------------------

    def week_of(self, day: dt.date) -> int:
        """The week index of a date, counted from the anchor Monday."""
        return (day - self.anchor).days // 7

    def events_of(
        self, owner_id: int, first_day: dt.date | None, last_day: dt.date | None
    ) -> list[CalendarEvent]:
        """A superset of the owner's entries on those days (None: unbounded), by start time.

        Seeded weeks touching the range (plus a day either side for time zones) and every
        event added through the API; callers apply the exact bounds.
        """
        if not self.user_exists(owner_id) or owner_id > self._seeded:
            return list(self._added_by_owner.get(owner_id, ()))
        # Seeded entries of week k fall on Mon..Fri in their own zone, i.e. on portal dates
        # Mon+early .. Fri+late: only the weeks that can reach [first_day, last_day] are read.
        early, late = self._day_shift
        low, high = -WEEKS_BEFORE, WEEKS_AFTER
        if first_day is not None:
            low = max(low, -((4 + late - (first_day - self.anchor).days) // 7))
        if last_day is not None:
            high = min(high, ((last_day - self.anchor).days - early) // 7)
        events: list[CalendarEvent] = []
        for week in range(low, high + 1):
            events.extend(self._week(owner_id, week))
        if self._hidden:
            events = [event for event in events if event.id not in self._hidden]
        added = self._added_by_owner.get(owner_id)
        if added:
            events.extend(added)
            events.sort(key=lambda event: (event.start_ts, event.id))
        return events

    def find_event(self, event_id: int) -> CalendarEvent | None:
        """The calendar entry with this ID, seeded or added, or None."""
        if event_id in self._added:
            return self._added[event_id]
        if event_id in self._hidden:
            return None
        decoded = decode_seeded_event_id(event_id, self._seeded)
        if decoded is None:
            return None
        user_id, week, _slot = decoded
        for event in self._week(user_id, week):
            if event.id == event_id:
                return event
        for meeting, host_event in self._hosted(user_id, week):
            if event_id in meeting.entry_ids:
                return _entry_for(host_event, meeting.entry_ids.index(event_id))
        return None

    def meeting_status(self, meeting: Meeting, user_id: int) -> str | None:
        """A participant's current status (``H``/``Y``/``N``/``Q``); None if not invited."""
        if user_id not in meeting.attendee_ids:
            return None
        override = self._meeting_statuses.get((meeting.parent_id, user_id))
        return override or meeting.statuses[meeting.attendee_ids.index(user_id)]

    def set_meeting_status(self, meeting: Meeting, user_id: int, status: str) -> None:
        """Store an attendee's new status."""
        self._meeting_statuses[(meeting.parent_id, user_id)] = status
        self.changed()

    def allocate_event_ids(self, count: int) -> int:
        """Reserve ``count`` consecutive new event IDs and return the first."""
        first = self._next_event_id
        self._next_event_id += count
        self.changed()
        return first

    def store_events(self, events: Iterable[CalendarEvent]) -> None:
        """Keep events created through the API (IDs from :meth:`allocate_event_ids`)."""
        for event in events:
            self._added[event.id] = event
            owned = self._added_by_owner.setdefault(event.owner_id, [])
            owned.append(event)
            owned.sort(key=lambda item: (item.start_ts, item.id))
        self.changed()

    def replace_event(self, event: CalendarEvent) -> None:
        """Store a changed entry (``calendar.event.update``) in place of the one with its ID."""
        self.delete_event(event.id)  # a seeded entry stays hidden behind the stored copy
        self.store_events([event])

    def delete_event(self, event_id: int) -> None:
        """Remove an entry, seeded or added (``calendar.event.delete``)."""
        removed = self._added.pop(event_id, None)
        if removed is not None:
            owned = self._added_by_owner.get(removed.owner_id, [])
            owned[:] = [event for event in owned if event.id != event_id]
        else:
            self._hidden.add(event_id)
        self.changed()

    def hr_absences_of(self, user_id: int) -> tuple[HrAbsence, ...]:
        """The user's HR absences (users with ``id % 13 == 5`` have one)."""
        return hr_absences(self.seed, self.anchor, user_id) if self.user_exists(user_id) else ()

    def meetings_of(self, user_id: int) -> list[MeetingView]:
        """Every meeting the user hosts or is invited to, over all seeded weeks, by start time."""
        views = []
        for event in self.events_of(user_id, None, None):
            if event.meeting is None:
                continue
            status = self.meeting_status(event.meeting, user_id)
            assert status is not None  # the entry is in this user's calendar
            views.append(
                MeetingView(
                    event_id=event.id,
                    parent_id=event.parent_id,
                    host_id=event.meeting.host_id,
                    status=status,
                    name=event.name,
                    start_ts=event.start_ts,
                )
            )
        return views

    def _hosted(self, host_id: int, week: int) -> tuple[tuple[Meeting, CalendarEvent], ...]:
        key = (host_id, week)
        cached = self._hosted_cache.get(key)
        if cached is None:
            if len(self._hosted_cache) > _WEEK_CACHE_LIMIT:
                self._hosted_cache.clear()
            cached = hosted_meetings(self.seed, self.anchor, host_id, week, self._seeded)
            self._hosted_cache[key] = cached
        return cached

    def _week(self, user_id: int, week: int) -> tuple[CalendarEvent, ...]:
        """All seeded entries in one user's calendar in one week, by start time."""
        key = (user_id, week)
        cached = self._week_cache.get(key)
        if cached is not None:
            return cached
        if len(self._week_cache) > _WEEK_CACHE_LIMIT:
            self._week_cache.clear()
        events = list(own_events(self.seed, self.anchor, user_id, week))
        events.extend(event for _meeting, event in self._hosted(user_id, week))
        count = self._seeded
        hosts = {(user_id - 1 - d) % count + 1 for d in range(1, min(count - 1, NEIGHBOURS) + 1)}
        if user_id == 1 and count >= INVITING_HOST:
            hosts.add(INVITING_HOST)  # always invites user 1 (see data.py)
        for host in sorted(hosts):
            for meeting, host_event in self._hosted(host, week):
                if user_id in meeting.attendee_ids:
                    events.append(_entry_for(host_event, meeting.attendee_ids.index(user_id)))
        events.sort(key=lambda event: (event.start_ts, event.id))
        result = tuple(events)
        self._week_cache[key] = result
        return result


def _entry_for(host_event: CalendarEvent, index: int) -> CalendarEvent:
    """Participant ``index``'s own entry of a meeting (index 0 is the host's parent entry)."""
    meeting = host_event.meeting
    if index == 0 or meeting is None:
        return host_event
    return attendee_entry(host_event, meeting.entry_ids[index], meeting.attendee_ids[index])
