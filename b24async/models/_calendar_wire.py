"""The hot path of ``calendar.accessibility.get``: the portal's entries as :class:`BusyInterval`.

One answer for 2,000 users over four weeks holds ~54,000 entries, nearly all of one shape (CORE
``calendar_event.php``): the same 14 keys in the same order, digit-string IDs and unix
timestamps, ``DT_SKIP_TIME`` ``"Y"``/``"N"``, known enum values, strings or ``null``.
:func:`decode_entry` reads such an entry by position and builds the object through its slots
(no attrs ``__init__``: the values are checked here). Anything else (HR absences, other keys,
odd or unknown values) goes to :meth:`BusyInterval._from_wire_checked`, the general reader; both
give equal objects (``tests/models/test_calendar_fast.py`` compares them on whole answers).

Entries share most of their values, and the typed result shares them too: one ``datetime`` per
instant, one string per name, zone or type, one ``extra`` map per distinct display-date pair.
The tables that hold them double as the check: only checked values get in, so a hit proves the
value good and a miss sends the entry to :func:`_learn` (then one retry). Each table is a
bounded cache, cleared when full: never a leak, at worst less sharing.
"""

from __future__ import annotations

import operator
import sys
from collections.abc import Iterable
from datetime import datetime
from itertools import islice
from typing import Any

import attrs

from b24async.codec import from_timestamp
from b24async.models._convert import FrozenMap
from b24async.models.calendar import Accessibility, BusyInterval, Importance

__all__ = ["decode_entry", "ordered"]

# The keys of a portal event, in the portal's order.
_EVENT_KEYS = (
    "ID",
    "NAME",
    "DATE_FROM",
    "DATE_TO",
    "DATE_FROM_TS_UTC",
    "DATE_TO_TS_UTC",
    "~USER_OFFSET_FROM",
    "~USER_OFFSET_TO",
    "DT_SKIP_TIME",
    "TZ_FROM",
    "TZ_TO",
    "ACCESSIBILITY",
    "IMPORTANCE",
    "EVENT_TYPE",
)
# The keys that stay in ``extra``, by position in a map's values (one index shared by all maps).
_EXTRA_INDEX = {"DATE_FROM": 0, "DATE_TO": 1, "~USER_OFFSET_FROM": 2, "~USER_OFFSET_TO": 3}
_ACCESSIBILITY = {m.value: m for m in Accessibility if m is not Accessibility.UNKNOWN}
_IMPORTANCE = {m.value: m for m in Importance if m is not Importance.UNKNOWN}
_SKIP_TIME = {"Y": True, "N": False}
_FIELDS = (
    "id",
    "start",
    "end",
    "name",
    "tz_from",
    "tz_to",
    "all_day",
    "accessibility",
    "importance",
    "event_type",
    "from_hr",
    "extra",
)
if tuple(f.name for f in attrs.fields(BusyInterval)) != _FIELDS:  # pragma: no cover
    raise AssertionError("BusyInterval's fields changed: update decode_entry")
# Slot descriptors: setting them skips attrs' frozen ``__setattr__`` guard and validators.
(
    _set_id,
    _set_start,
    _set_end,
    _set_name,
    _set_tz_from,
    _set_tz_to,
    _set_all_day,
    _set_accessibility,
    _set_importance,
    _set_event_type,
    _set_from_hr,
    _set_extra,
) = (getattr(BusyInterval, name).__set__ for name in _FIELDS)
_new = object.__new__

# The shared values by wire value; only checked values get in (:func:`_learn`): a digit-string
# timestamp, a string (``""`` and ``null`` read as ``None``, as the general reader does), the
# extras' dates as strings or null and offsets as ints. Plain dicts: their lookups are the
# fastest check there is. ``0 == False``, so the caller checks the offsets' type exactly.
_INSTANTS: dict[str, datetime] = {}
_NO_STRING: dict[str | None, str | None] = {None: None, "": None}
_STRINGS = dict(_NO_STRING)
_EXTRAS: dict[tuple[Any, ...], FrozenMap[str, Any]] = {}
_TABLE_MAX = 1 << 15  # entries per table
# The event keys as the JSON decoder last spelled them: it gives every entry of one answer the
# same key objects, which compare by identity (no string comparisons).
_SEEN = [_EVENT_KEYS]


def _learn(stamps: tuple[Any, Any], texts: tuple[Any, ...], extra: tuple[Any, ...]) -> bool:
    """Put an entry's new and valid values in the tables; whether any went in."""
    learned = False
    for stamp in stamps:
        if type(stamp) is str and stamp not in _INSTANTS and stamp.isascii() and stamp.isdigit():
            if len(_INSTANTS) >= _TABLE_MAX:
                _INSTANTS.clear()
            _INSTANTS[stamp] = from_timestamp(stamp, "DATE_FROM_TS_UTC")
            learned = True
    for text in texts:
        if type(text) is str and text not in _STRINGS:
            if len(_STRINGS) >= _TABLE_MAX:
                _STRINGS.clear()
                _STRINGS.update(_NO_STRING)
            _STRINGS[text] = sys.intern(text)
            learned = True
    dates = extra[:2]
    if all(v is None or type(v) is str for v in dates) and extra not in _EXTRAS:
        if len(_EXTRAS) >= _TABLE_MAX:
            _EXTRAS.clear()
        values = (*(v and sys.intern(v) for v in dates), *extra[2:])
        _EXTRAS[values] = FrozenMap.compact(_EXTRA_INDEX, values)
        learned = True
    return learned


def decode_entry(raw: Any) -> BusyInterval:
    """One wire entry as a :class:`BusyInterval` (see the module docs)."""
    if type(raw) is dict:
        keys, seen = tuple(raw), _SEEN[0]
        if keys and keys[0] is not seen[0] and keys == _EVENT_KEYS:
            _SEEN[0] = seen = keys  # a new answer: compare its own key objects from now on
        if keys == seen:
            (
                ident,
                name,
                date_from,
                date_to,
                start,
                end,
                offset_from,
                offset_to,
                skip,
                tz_from,
                tz_to,
                access,
                importance,
                kind,
            ) = raw.values()
            if (
                type(ident) is str
                and ident.isdigit()
                and ident.isascii()
                and type(offset_from) is int
                and type(offset_to) is int
            ):
                for _ in (0, 1):  # a miss teaches the tables the entry's values, then one retry
                    try:
                        entry = _new(BusyInterval)
                        _set_id(entry, int(ident))
                        _set_start(entry, _INSTANTS[start])
                        _set_end(entry, _INSTANTS[end])
                        _set_name(entry, _STRINGS[name])
                        _set_tz_from(entry, _STRINGS[tz_from])
                        _set_tz_to(entry, _STRINGS[tz_to])
                        _set_all_day(entry, _SKIP_TIME[skip])
                        _set_accessibility(entry, _ACCESSIBILITY[access])
                        _set_importance(entry, _IMPORTANCE[importance])
                        _set_event_type(entry, _STRINGS[kind])
                        _set_from_hr(entry, False)
                        _set_extra(entry, _EXTRAS[date_from, date_to, offset_from, offset_to])
                        return entry
                    except (KeyError, TypeError, ValueError):
                        extra = (date_from, date_to, offset_from, offset_to)
                        try:
                            if not _learn((start, end), (name, tz_from, tz_to, kind), extra):
                                break
                        except TypeError:  # an unhashable value
                            break
    # Not the portal's event shape, or an odd value: the general reader decides (value or error).
    return BusyInterval._from_wire_checked(raw)


_sort_key = operator.attrgetter("start", "end", "id")
_start = operator.attrgetter("start")
_id = operator.attrgetter("id")


def ordered(items: Iterable[BusyInterval]) -> tuple[BusyInterval, ...]:
    """By start, end and ID, each entry once (the same event seen by two merged parts)."""
    entries = list(items)
    if len(entries) > 1:
        # Exact duplicates share an ID: when every ID is distinct there is nothing to drop
        # (hashing an entry costs more than collecting its ID).
        if len(set(map(_id, entries))) < len(entries):
            entries = list(dict.fromkeys(entries))
        # Strictly increasing starts already are the order (the portal's usual one); else sort.
        starts = list(map(_start, entries))
        if any(map(operator.ge, starts, islice(starts, 1, None))):
            entries.sort(key=_sort_key)
    return tuple(entries)
