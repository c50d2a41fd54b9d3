"""The hot path of ``calendar.accessibility.get``: the portal's entries as :class:`BusyInterval`.

One answer for 2,000 users over four weeks holds ~54,000 entries, nearly all of one shape (CORE
``calendar_event.php``): the same 14 keys in the same order, digit-string IDs and unix
timestamps, ``DT_SKIP_TIME`` ``"Y"``/``"N"``, known enum values, strings or ``null``.
:func:`decode_entries` reads such an entry by position and builds the object through its slots
(no attrs ``__init__``: the values are checked here). Anything else (HR absences, other keys or
key order, odd or unknown values) goes to :meth:`BusyInterval._from_wire_checked`, the general
reader; both give equal objects (``tests/models/test_calendar_fast.py`` compares them).

Entries share most of their values, and so do the typed objects: one ``datetime`` per instant,
one string per zone, type and name, one compact ``extra`` map per distinct display-date pair
(~176 bytes per entry kept instead of ~430). The tables that hold the shared values double as
the check: only checked values get in, so a hit proves a value good. Each is a bounded cache,
cleared when full: never a leak, at worst less sharing.
"""

from __future__ import annotations

import operator
import sys
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any, Literal

import attrs

from b24async import jsonio
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
_intern = sys.intern
_BEFORE_ALL = datetime.min.replace(tzinfo=timezone.utc)

# Shared values by their wire form. Only checked values get in, so a hit is the check: a
# digit-string timestamp; a zone or event type as a string (``""`` and ``null`` read as ``None``,
# as the general reader does); the extras with dates as strings or null and offsets as ints (the
# caller checks the offsets' type exactly: ``0 == False`` would find another type's map). A miss
# goes to the table's maker, which checks the value (``ValueError`` if odd) and adds it.
_INSTANTS: dict[str, datetime] = {}
_NO_TEXT: dict[str | None, str | None] = {None: None, "": None}
_TEXTS = dict(_NO_TEXT)
_EXTRAS: dict[tuple[Any, ...], FrozenMap[str, Any]] = {}
_TABLE_MAX = 1 << 15  # entries per table; a full table is cleared (a cache, never a leak)
# The event keys as the JSON decoder last spelled them: it gives every entry of one answer the
# same key objects, which compare by identity (no string comparisons).
_SEEN = [_EVENT_KEYS]


# Entries with other keys or another order (a newer portal, a filtered answer) are read through
# their shape: getters of the attribute values (in _KNOWN's order) and of the other values, and
# the index their ``extra`` maps share. ``False``: not an event's keys (an HR absence...).
_KNOWN = tuple(key for key in _EVENT_KEYS if key not in _EXTRA_INDEX)
_Getter = Callable[[tuple[Any, ...]], tuple[Any, ...]]
_Shape = tuple[_Getter, _Getter, dict[str, int]]
_SHAPES: dict[tuple[Any, ...], _Shape | Literal[False]] = {}


def _getter(positions: list[int]) -> _Getter:
    if len(positions) > 1:
        return operator.itemgetter(*positions)
    return lambda values: tuple(values[p] for p in positions)


def _shape(keys: tuple[Any, ...]) -> _Shape | Literal[False]:
    position = {key: i for i, key in enumerate(keys)}
    shape: _Shape | Literal[False] = False
    if "FROM_HR" not in position and all(key in position for key in _KNOWN):
        other = [key for key in keys if key not in _KNOWN]
        shape = (
            _getter([position[key] for key in _KNOWN]),
            _getter([position[key] for key in other]),
            {key: i for i, key in enumerate(other)},
        )
    if len(_SHAPES) >= 64:
        _SHAPES.clear()
    _SHAPES[keys] = shape
    return shape


def promote_young() -> None:
    """Move every object built since the last collection to the oldest GC generation, unwalked.

    For the end of a paused big decode (``jsonio.gc_paused``): its entries are long-lived and
    form no cycles, yet the young collection that follows the pause would walk each of them (and
    a middle one again later), ~0.2-0.3 µs per entry. ``gc.freeze()`` + ``gc.unfreeze()`` moves
    them to the oldest generation in O(1); the next full collection looks at them, as at every
    long-lived object. Young cyclic garbage made just before waits for that collection too.
    Skipped when anything is frozen already (``unfreeze`` would release it) and where freezing
    walks every object (:func:`b24async.jsonio.promote_young`, which does the move).
    """
    jsonio.promote_young()


def clear_tables() -> None:
    """Empty the shared-value tables (to measure a first answer; tests)."""
    _INSTANTS.clear()
    _EXTRAS.clear()
    _TEXTS.clear()
    _TEXTS.update(_NO_TEXT)


def _instant(stamp: Any) -> datetime:
    if not (type(stamp) is str and stamp.isascii() and stamp.isdigit()):
        raise ValueError(stamp)
    if len(_INSTANTS) >= _TABLE_MAX:
        _INSTANTS.clear()
    moment = _INSTANTS[stamp] = from_timestamp(stamp, "DATE_FROM_TS_UTC")
    return moment


def _text(value: Any) -> str | None:
    if type(value) is not str:
        raise ValueError(value)
    if len(_TEXTS) >= _TABLE_MAX:
        _TEXTS.clear()
        _TEXTS.update(_NO_TEXT)
    text = _TEXTS[value] = _intern(value)
    return text


def _text_or_none(*values: Any) -> tuple[str | None, ...]:
    return tuple(_TEXTS[v] if v in _TEXTS else _text(v) for v in values)


def _extra(date_from: Any, date_to: Any, offset_from: Any, offset_to: Any) -> FrozenMap[str, Any]:
    values = (date_from, date_to, offset_from, offset_to)
    if not (
        (date_from is None or type(date_from) is str)
        and (date_to is None or type(date_to) is str)
        and type(offset_from) is int
        and type(offset_to) is int
    ):
        return FrozenMap.compact(_EXTRA_INDEX, values)  # odd values: kept as sent, not shared
    if len(_EXTRAS) >= _TABLE_MAX:
        _EXTRAS.clear()
    date_from, date_to = date_from and _intern(date_from), date_to and _intern(date_to)
    values = (date_from, date_to, offset_from, offset_to)  # the key is the map's values too
    extra = _EXTRAS[values] = FrozenMap.compact(_EXTRA_INDEX, values)
    return extra


def decode_entry(raw: Any) -> BusyInterval:
    """One wire entry as a :class:`BusyInterval` (see the module docs)."""
    return decode_entries((raw,))[0]


def decode_entries(items: Iterable[Any]) -> tuple[BusyInterval, ...]:
    """A user's wire entries as :class:`BusyInterval` objects, in :func:`ordered`'s order."""
    entries: list[BusyInterval] = []
    append = entries.append
    latest, in_order = _BEFORE_ALL, True  # starts strictly increase: no sort and no duplicates
    for raw in items:
        entry = None
        if type(raw) is dict:
            keys, seen = tuple(raw), _SEEN[0]
            if keys and keys[0] is not seen[0] and keys == _EVENT_KEYS:
                _SEEN[0] = seen = keys  # a new answer: compare its own key objects from now on
            if keys == seen:
                shape = None  # the portal's keys in its order
            else:
                shape = _SHAPES.get(keys)
                if shape is None:
                    shape = _shape(keys)
            if shape is not False:
                try:
                    if shape is None:  # the portal's keys in its order: equal extras share a map
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
                        if type(offset_from) is int and type(offset_to) is int:  # 0 == False
                            try:
                                extra = _EXTRAS[date_from, date_to, offset_from, offset_to]
                            except (KeyError, TypeError):  # new, or unhashable dates
                                extra = _extra(date_from, date_to, offset_from, offset_to)
                        else:
                            extra = _extra(date_from, date_to, offset_from, offset_to)
                    else:  # other keys or another order: read by the shape's positions
                        known, other, index = shape
                        values = tuple(raw.values())
                        ident, name, start, end, skip, tz_from, tz_to, access, importance, kind = (
                            known(values)
                        )
                        extra = FrozenMap.compact(index, other(values))
                    if not (
                        type(ident) is str
                        and ident.isdigit()
                        and ident.isascii()
                        and (name is None or type(name) is str)
                    ):
                        raise ValueError(ident)
                    try:
                        begin = _INSTANTS[start]
                    except KeyError:
                        begin = _instant(start)
                    try:
                        finish = _INSTANTS[end]
                    except KeyError:
                        finish = _instant(end)
                    try:
                        tz_from, tz_to, kind = _TEXTS[tz_from], _TEXTS[tz_to], _TEXTS[kind]
                    except KeyError:
                        tz_from, tz_to, kind = _text_or_none(tz_from, tz_to, kind)
                    entry = _new(BusyInterval)
                    _set_id(entry, int(ident))
                    _set_start(entry, begin)
                    _set_end(entry, finish)
                    _set_name(entry, _intern(name) if name else None)
                    _set_tz_from(entry, tz_from)
                    _set_tz_to(entry, tz_to)
                    _set_all_day(entry, _SKIP_TIME[skip])
                    _set_accessibility(entry, _ACCESSIBILITY[access])
                    _set_importance(entry, _IMPORTANCE[importance])
                    _set_event_type(entry, kind)
                    _set_from_hr(entry, False)
                    _set_extra(entry, extra)
                except (KeyError, TypeError, ValueError):
                    entry = None  # an odd value: the general reader decides (value or error)
        if entry is None:  # not an event's shape (an HR absence...), or an odd value
            entry = BusyInterval._from_wire_checked(raw)
            begin = entry.start
        if in_order:
            if begin > latest:
                latest = begin
            else:
                in_order = False
        append(entry)
    return tuple(entries) if in_order else ordered(entries)


_sort_key = operator.attrgetter("start", "end", "id")
_id = operator.attrgetter("id")


def ordered(items: Iterable[BusyInterval]) -> tuple[BusyInterval, ...]:
    """By start, end and ID, each entry once (the same event seen by two merged parts)."""
    entries = list(items)
    if len(entries) > 1:
        # Exact duplicates share an ID: when every ID is distinct there is nothing to drop
        # (hashing an entry costs more than collecting its ID).
        if len(set(map(_id, entries))) < len(entries):
            entries = list(dict.fromkeys(entries))
        entries.sort(key=_sort_key)
    return tuple(entries)
