"""``calendar.accessibility.get``: each requested user's busy entries, printed once.

Follows CORE ``calendar_restservice.php`` (see :mod:`~b24async.testing.methods_calendar` for
the params' rules). The answer of a 2,000-user, four-week read is ~54,000 entries (18 MB): each
user's entries are printed as JSON once per (window, viewer zone) and each entry once per viewer
zone, kept in the state's :class:`~b24async.testing.printed_cache.PrintedCache` until the state
changes, and spliced into the reply (:mod:`~b24async.testing.jsontext`), byte for byte what
printing the entry dicts prints. The fake portal's own CPU is serial time a real portal does not
spend.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from json.encoder import encode_basestring_ascii
from typing import Any
from zoneinfo import ZoneInfo

from b24async.testing.data import CalendarEvent, HrAbsence, user_timezone
from b24async.testing.jsontext import PrintedMap, json_text
from b24async.testing.methods_calendar import (
    _DAY,
    _epoch_day,
    _midnight,
    _param_day,
    _require,
    _ViewerOffsets,
    _Window,
)
from b24async.testing.methods_common import CallContext, MethodResult, list_values, php_intval
from b24async.testing.state import PortalState

__all__ = ["calendar_accessibility_get"]

# json.dumps's own string printer (ASCII escapes): an entry prints as its dict would.
_quote = encode_basestring_ascii


def _entry_parts(event: CalendarEvent) -> tuple[str, str]:
    """An entry's printed ``calendar.accessibility.get`` object around the viewer offsets.

    ``head + offset_from + ",\"~USER_OFFSET_TO\":" + offset_to + tail`` is exactly what
    ``json_text`` prints for the entry's dict (keys in CORE's order): strings through the
    encoder's own escaping (ASCII, as ``json.dumps``), numbers as JSON prints ``int``/``str``.
    Only the two offsets depend on who asks.
    """
    event_type = "null" if event.event_type is None else _quote(event.event_type)
    head = (
        f'{{"ID":"{event.id}","NAME":{_quote(event.name)},'
        f'"DATE_FROM":{_quote(event.date_from)},"DATE_TO":{_quote(event.date_to)},'
        f'"DATE_FROM_TS_UTC":"{event.start_ts}","DATE_TO_TS_UTC":"{event.end_ts}",'
        '"~USER_OFFSET_FROM":'
    )
    tail = (
        f',"DT_SKIP_TIME":"{"Y" if event.all_day else "N"}",'
        f'"TZ_FROM":{_quote(event.tz_from)},"TZ_TO":{_quote(event.tz_to)},'
        f'"ACCESSIBILITY":{_quote(event.accessibility)},'
        f'"IMPORTANCE":{_quote(event.importance)},"EVENT_TYPE":{event_type}}}'
    )
    return head, tail


def _hr_entry(absence: HrAbsence, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "FROM_HR": True,
        "ID": absence.id,
        "DT_FROM": absence.first_day.strftime("%d.%m.%Y"),
        "DT_TO": absence.last_day.strftime("%d.%m.%Y"),
        "ACCESSIBILITY": "absent",
        "IMPORTANCE": "normal",
        "FROM": _midnight(absence.first_day, zone),
        "TO": _midnight(absence.last_day, zone),
    }


def calendar_accessibility_get(
    state: PortalState, params: Mapping[str, Any], ctx: CallContext
) -> MethodResult:
    """``calendar.accessibility.get``: each requested user's busy entries and HR absences.

    Entries of the users' own calendars overlapping ``[from 00:00, to 23:59:59]`` (portal
    time), without ``free`` ones and without meetings the user declined (``N``) or has not
    answered (``Q``); HR absences follow in their own shape. Every valid requested user is a
    key, ``[]`` when idle; no valid user at all gives a bare ``[]``.
    """
    _require(params, ("from", "to", "users"), "calendar.accessibility.get")
    items = list_values(params["users"])
    user_ids = list(dict.fromkeys(php_intval(item) for item in items or ()))
    user_ids = [user_id for user_id in user_ids if user_id != 0]
    if not user_ids:
        return MethodResult(result=[])
    first = _param_day(params["from"], state.timezone)
    last = _param_day(params["to"], state.timezone)
    viewer_zone = user_timezone(state.seed, ctx.user_id)
    reader: _EntriesPrinter | None = None
    cache = state.printed
    texts: dict[str, bytes] = {}
    for user_id in user_ids:
        # One user's entries print the same for any viewer in the same zone, until the state
        # changes (which empties the cache): printed once, spliced into every answer after.
        key = ("calendar.accessibility.get", user_id, first, last, viewer_zone)
        text = cache.get(key)
        if text is None:
            if reader is None:
                reader = _EntriesPrinter(state, first, last, _ViewerOffsets(state, ctx.user_id))
            text = reader.entries(user_id)
            cache.put(key, text)
        texts[str(user_id)] = text
    result = PrintedMap(texts)
    return MethodResult(result=result, printed=result.pieces)


class _EntriesPrinter:
    """Prints users' ``calendar.accessibility.get`` entries for one window and one viewer."""

    def __init__(
        self,
        state: PortalState,
        first: dt.date | None,
        last: dt.date | None,
        offsets: _ViewerOffsets,
    ) -> None:
        self._state = state
        self._first, self._last = first, last
        self._window = _Window.of_days(first, last, state.timezone)
        self._offsets = offsets
        # Entry ID -> printed entry, for this viewer's zone (the offsets depend on it).
        self._printed_entries = state.printed.entries(offsets.zone_name)

    def entries(self, user_id: int) -> bytes:
        """The user's entries printed as a JSON list (``[]`` when idle)."""
        state, window = self._state, self._window
        first_ts, last_ts = window.first_ts, window.last_ts
        first_day, last_day = window.first_day, window.last_day
        printed_entries = self._printed_entries
        printed = []
        # _Window.overlaps, inlined: this loop runs once per entry of every user asked.
        for event in state.events_of(user_id, self._first, self._last):
            if event.accessibility == "free":
                continue
            start, end = event.start_ts, event.end_ts
            if event.all_day:
                if not (start // _DAY <= last_day and end // _DAY >= first_day):
                    continue
            elif not (start <= last_ts and max(end, start + 1) > first_ts):
                continue
            meeting = event.meeting
            if meeting is not None and state.meeting_status(meeting, user_id) in ("N", "Q"):
                continue
            text = printed_entries.get(event.id)
            if text is None:
                text = printed_entries[event.id] = self._print(event)
            printed.append(text)
        for absence in state.hr_absences_of(user_id):
            if window.days(_epoch_day(absence.first_day), _epoch_day(absence.last_day)):
                printed.append(json_text(_hr_entry(absence, state.timezone)))
        return ("[" + ",".join(printed) + "]").encode("utf-8")

    def _print(self, event: CalendarEvent) -> str:
        offset_from, offset_to = self._offsets.of(event)
        head, tail = _entry_parts(event)
        return f'{head}{offset_from},"~USER_OFFSET_TO":{offset_to}{tail}'
