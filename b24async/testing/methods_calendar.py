"""``calendar.meeting.status.get/set``, ``calendar.event.add/get`` and the calendar helpers.

``calendar.accessibility.get`` lives in :mod:`~b24async.testing.methods_accessibility`.

Follows CORE ``calendar_restservice.php``: params are read verbatim (``eventId``, ``from``,
``users``: case matters), a missing or PHP-``empty()`` required param is HTTP 400 with error
``""`` and ``The required parameter "<name>" for the method "<method>" is not set.``
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from b24async.testing.data import (
    CalendarEvent,
    Meeting,
    all_day_event,
    attendee_entry,
    timed_event,
    user_section_id,
    user_timezone,
)
from b24async.testing.methods_common import (
    CallContext,
    MethodFailure,
    MethodResult,
    list_values,
    parse_date,
    php_empty,
    php_intval,
    php_str,
)
from b24async.testing.state import PortalState

__all__ = [
    "calendar_event_add",
    "calendar_event_get",
    "calendar_meeting_status_get",
    "calendar_meeting_status_set",
]

_DAY = 86400
_UNBOUNDED = 2**62
_ACCESSIBILITY = ("busy", "absent", "quest", "free")
_IMPORTANCE = ("high", "normal", "low")


def _missing(param: str, method: str) -> MethodFailure:
    text = f'The required parameter "{param}" for the method "{method}" is not set.'
    return MethodFailure(400, "", text)


def _require(params: Mapping[str, Any], names: tuple[str, ...], method: str) -> None:
    for name in names:
        if php_empty(params.get(name)):
            raise _missing(name, method)


@attrs.frozen
class _Window:
    """An inclusive span as instants (timed entries) and as UTC epoch days (all-day ones)."""

    first_ts: int
    last_ts: int
    first_day: int
    last_day: int

    @classmethod
    def of_days(cls, first: dt.date | None, last: dt.date | None, zone: ZoneInfo) -> _Window:
        """Whole days in ``zone``; None leaves that side open."""
        first_ts = -_UNBOUNDED if first is None else _midnight(first, zone)
        last_ts = _UNBOUNDED if last is None else _midnight(last + dt.timedelta(days=1), zone) - 1
        return cls(
            first_ts=first_ts,
            last_ts=last_ts,
            first_day=-_UNBOUNDED if first is None else _epoch_day(first),
            last_day=_UNBOUNDED if last is None else _epoch_day(last),
        )

    def overlaps(self, event: CalendarEvent) -> bool:
        """Whether any part of the entry falls inside the span."""
        if event.all_day:
            return self.days(event.start_ts // _DAY, event.end_ts // _DAY)
        end = max(event.end_ts, event.start_ts + 1)  # a zero-length entry still occupies its start
        return event.start_ts <= self.last_ts and end > self.first_ts

    def days(self, first_day: int, last_day: int) -> bool:
        """Whether the epoch days ``first_day..last_day`` meet the span."""
        return first_day <= self.last_day and last_day >= self.first_day


def _midnight(day: dt.date, zone: ZoneInfo) -> int:
    return int(dt.datetime.combine(day, dt.time(), zone).timestamp())


def _epoch_day(day: dt.date) -> int:
    return day.toordinal() - dt.date(1970, 1, 1).toordinal()


def _param_day(value: Any, zone: ZoneInfo) -> dt.date | None:
    """CORE ``unConvertDate``: the date of a ``strtotime`` value; None (no bound) if unreadable."""
    parsed = parse_date(value)
    return None if parsed is None else parsed.local_date(zone)


_HOUR_OFFSETS: dict[str, dict[int, int]] = {}  # zone name -> {unix hour: UTC offset, s}


class _ViewerOffsets:
    """``~USER_OFFSET_*``: an entry's zone offset minus the viewing user's, as CORE computes it."""

    def __init__(self, state: PortalState, viewer_id: int) -> None:
        self.zone_name = user_timezone(state.seed, viewer_id)
        self._zone = ZoneInfo(self.zone_name)
        # Zones switch offsets on the hour; a zone's offsets never change: shared by all calls.
        self._hours = _HOUR_OFFSETS.setdefault(self.zone_name, {})
        if len(self._hours) > 200_000:
            self._hours.clear()

    def _viewer(self, timestamp: int) -> int:
        hour = timestamp // 3600
        offset = self._hours.get(hour)
        if offset is None:
            offset = self._hours[hour] = _zone_offset(self._zone, hour * 3600)
        return offset

    def of(self, event: CalendarEvent) -> tuple[int, int]:
        """The pair for one entry; all-day entries have 0 and 0."""
        if event.all_day:
            return 0, 0
        return (
            event.offset_from - self._viewer(event.start_ts),
            event.offset_to - self._viewer(event.end_ts),
        )


def calendar_meeting_status_get(
    state: PortalState, params: Mapping[str, Any], ctx: CallContext
) -> MethodResult:
    """``calendar.meeting.status.get``: the caller's ``Y``/``N``/``Q``/``H`` in a meeting.

    Any entry ID of the meeting works (the parent or any attendee's copy), as in CORE.
    """
    _require(params, ("eventId",), "calendar.meeting.status.get")
    event = state.find_event(php_intval(params["eventId"]))
    status = None
    if event is not None and event.meeting is not None:
        status = state.meeting_status(event.meeting, ctx.user_id)
    if status is None:
        raise MethodFailure(400, "", "An error occurred while retrieving the status")
    return MethodResult(result=status)


def calendar_meeting_status_set(
    state: PortalState, params: Mapping[str, Any], ctx: CallContext
) -> MethodResult:
    """``calendar.meeting.status.set``: answer an invitation with ``Y``, ``N`` or ``Q``.

    As in CORE the result is ``true`` even when nothing changes: the caller is not invited, the
    event is unknown, or the caller is the host (whose ``H`` stays). Only an applied answer
    goes to the ledger.
    """
    method = "calendar.meeting.status.set"
    _require(params, ("eventId", "status"), method)
    raw = params["status"]
    status = php_str(raw).upper() if not isinstance(raw, (list, dict)) else ""
    if status not in ("Y", "N", "Q"):
        raise MethodFailure(400, "", 'Invalid value for the parameter "status"')
    event_id = php_intval(params["eventId"])
    event = state.find_event(event_id)
    if event is not None and event.meeting is not None:
        current = state.meeting_status(event.meeting, ctx.user_id)
        if current is not None and current != "H":
            state.set_meeting_status(event.meeting, ctx.user_id, status)
            change = {"MEETING_STATUS": status, "PARENT_ID": event.parent_id}
            state.record(method, ctx.user_id, f"event:{event_id}", change, ctx.now)
    return MethodResult(result=True)


# -- events ---------------------------------------------------------------------------------


def _zone(name: Any, fallback: str) -> str:
    if isinstance(name, str) and name:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            return fallback
        return name
    return fallback


def _instant(params: Mapping[str, Any], key: str, zone: str) -> dt.datetime | None:
    """``from``/``to`` (or ``from_ts``/``to_ts`` when the former is absent) as an instant."""
    if params.get(key) is not None:
        parsed = parse_date(params[key])
        return None if parsed is None else parsed.instant(ZoneInfo(zone))
    if params.get(f"{key}_ts") is not None:
        return dt.datetime.fromtimestamp(php_intval(params[f"{key}_ts"]), ZoneInfo(zone))
    return None


def calendar_event_add(
    state: PortalState, params: Mapping[str, Any], ctx: CallContext
) -> MethodResult:
    """``calendar.event.add``: a new entry (and its attendees' copies); the result is its ID.

    Not idempotent: every call creates a new event and a ledger entry. Only ``type=user``
    calendars exist; the caller may add to their own calendar, the admin to anyone's.
    """
    method = "calendar.event.add"
    creator_zone = user_timezone(state.seed, ctx.user_id)
    skip_time = params.get("skip_time", params.get("skipTime")) == "Y"
    zone_from = creator_zone if skip_time else _zone(params.get("timezone_from"), creator_zone)
    zone_to = zone_from if skip_time else _zone(params.get("timezone_to"), zone_from)
    start = _instant(params, "from", zone_from)
    end = _instant(params, "to", zone_to)
    if start is None:
        raise _missing("from", method)
    if end is None:
        raise _missing("to", method)
    needed: tuple[str, ...] = ("name", "ownerId", "type")
    auto_section = params.get("auto_detect_section")
    if auto_section is not None and auto_section != "Y":
        needed += ("section",)
    _require(params, needed, method)
    owner = php_intval(params["ownerId"])
    section = params.get("section")
    if (
        php_str(params["type"]) != "user"
        or not state.user_exists(owner)
        or (not php_empty(section) and php_intval(section) != user_section_id(owner))
    ):
        raise MethodFailure(400, "", "CAL_REST_SECTION_ERROR")
    if owner != ctx.user_id and not state.is_admin(ctx.user_id):
        raise MethodFailure(400, "", "Access denied")

    is_meeting = params.get("is_meeting") == "Y"
    attendees = [php_intval(item) for item in list_values(params.get("attendees")) or ()]
    attendees = [a for a in dict.fromkeys(attendees) if a > 0 and a != owner] if is_meeting else []
    host = php_intval(params["host"]) if params.get("host") is not None else ctx.user_id
    first_id = state.allocate_event_ids(1 + len(attendees))
    meeting = None
    if is_meeting:
        members = (owner, *attendees)
        meeting = Meeting(
            parent_id=first_id,
            host_id=host,
            attendee_ids=members,
            entry_ids=tuple(first_id + index for index in range(len(members))),
            statuses=tuple("H" if m == host else "Y" if m == owner else "Q" for m in members),
        )
    access = php_str(params.get("accessibility"))
    importance = php_str(params.get("importance"))
    extra: dict[str, Any] = {
        "accessibility": access if access in _ACCESSIBILITY else "busy",
        "importance": importance if importance in _IMPORTANCE else "normal",
        "description": php_str(params.get("description")).strip(),
        "meeting": meeting,
    }
    ids = (first_id, first_id, owner)
    name = php_str(params["name"]).strip()
    if skip_time:
        last_day = max(end.date(), start.date())
        entry = all_day_event(ids, name, start.date(), last_day, **extra)
    else:
        entry = timed_event(ids, name, start, max(end, start), zone_from, zone_to, **extra)
    copies = [entry]
    copies.extend(
        attendee_entry(entry, first_id + index, attendee)
        for index, attendee in enumerate(attendees, start=1)
    )
    state.store_events(copies)
    change = {
        "OWNER_ID": owner,
        "NAME": name,
        "DATE_FROM_TS_UTC": entry.start_ts,
        "DATE_TO_TS_UTC": entry.end_ts,
        "DT_SKIP_TIME": "Y" if skip_time else "N",
        "IS_MEETING": is_meeting,
        "ATTENDEES": attendees,
    }
    state.record(method, ctx.user_id, f"event:{first_id}", change, ctx.now)
    return MethodResult(result=first_id)


def _event_dict(
    state: PortalState, event: CalendarEvent, offsets: tuple[int, int]
) -> dict[str, Any]:
    """The ``calendar.event.get`` shape of an entry."""
    meeting = event.meeting
    status = "Y" if meeting is None else state.meeting_status(meeting, event.owner_id)
    length = event.end_ts - event.start_ts + (_DAY if event.all_day else 0)
    row: dict[str, Any] = {
        "ID": str(event.id),
        "PARENT_ID": str(event.parent_id),
        "DELETED": "N",
        "CAL_TYPE": "user",
        "OWNER_ID": str(event.owner_id),
        "NAME": event.name,
        "DATE_FROM": event.date_from,
        "DATE_TO": event.date_to,
        "ORIGINAL_DATE_FROM": None,
        "TZ_FROM": event.tz_from,
        "TZ_TO": event.tz_to,
        "TZ_OFFSET_FROM": str(event.offset_from),
        "TZ_OFFSET_TO": str(event.offset_to),
        "DATE_FROM_TS_UTC": str(event.start_ts),
        "DATE_TO_TS_UTC": str(event.end_ts),
        "DT_SKIP_TIME": "Y" if event.all_day else "N",
        "DT_LENGTH": length,
        "EVENT_TYPE": event.event_type,
        "CREATED_BY": str(event.created_by),
        "DESCRIPTION": event.description,
        "PRIVATE_EVENT": "",
        "ACCESSIBILITY": event.accessibility,
        "IMPORTANCE": event.importance,
        "IS_MEETING": meeting is not None,
        "MEETING_STATUS": status,
        "MEETING_HOST": str(meeting.host_id if meeting else event.created_by),
        "RRULE": "",
        "SECTION_ID": str(event.section_id),
        "SECT_ID": str(event.section_id),
        "~USER_OFFSET_FROM": offsets[0],
        "~USER_OFFSET_TO": offsets[1],
    }
    if meeting is not None:
        row["ATTENDEE_LIST"] = [
            {"id": member, "entryId": str(entry), "status": state.meeting_status(meeting, member)}
            for member, entry in zip(meeting.attendee_ids, meeting.entry_ids, strict=True)
        ]
    return row


def _zone_offset(zone: ZoneInfo, timestamp: int) -> int:
    offset = dt.datetime.fromtimestamp(timestamp, zone).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def calendar_event_get(
    state: PortalState, params: Mapping[str, Any], ctx: CallContext
) -> MethodResult:
    """``calendar.event.get``: one calendar's entries in a window (not paginated).

    Without ``from`` and ``to`` the window is 30 days back to 90 days ahead; with only
    ``from`` it is open-ended. Only ``type=user`` calendars hold events here.
    """
    _require(params, ("type",), "calendar.event.get")
    owner = php_intval(params.get("ownerId"))
    zone = state.timezone
    first = _param_day(params.get("from"), zone)
    last = _param_day(params.get("to"), zone)
    if first is None and last is None:
        today = dt.datetime.fromtimestamp(ctx.now, zone).date()
        first, last = today - dt.timedelta(days=30), today + dt.timedelta(days=90)
    if php_str(params["type"]) != "user":
        return MethodResult(result=[])
    sections = list_values(params.get("section"))
    if sections is None and php_intval(params.get("section")) > 0:
        sections = [params["section"]]
    if sections is not None and user_section_id(owner) not in map(php_intval, sections):
        return MethodResult(result=[])
    window = _Window.of_days(first, last, zone)
    events = [event for event in state.events_of(owner, first, last) if window.overlaps(event)]
    offsets = _ViewerOffsets(state, ctx.user_id)
    return MethodResult(result=[_event_dict(state, event, offsets.of(event)) for event in events])
