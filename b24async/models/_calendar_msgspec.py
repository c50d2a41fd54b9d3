"""``calendar.accessibility.get`` JSON text straight to :class:`BusyInterval`, with ``msgspec``.

``pip install b24async[speed]`` adds `msgspec <https://jcristharif.com/msgspec/>`_, which decodes
JSON into typed structs in C: the portal's usual entries (see :mod:`._calendar_wire`) are read
into a strict :class:`_Event` per entry, with no dict per entry, and :func:`decode_users` builds
the typed objects from those through the slots and the shared-value tables of
:mod:`._calendar_wire`, as its dict path does. On a 2,000-user, four-week answer that costs
~0.7x the CPU per interval of parsing the text to dicts (``orjson`` or the stdlib) and building
from those (``benchmarks/decode_availability.py``); the key-order check below is ~0.5 µs of
its ~2.8 µs per interval.

Exactness first: the result is ``==`` to the general reader's, with the same ``hash``, ``repr``
and field types, or this path is not taken. Each user's entries are decoded on their own
(``msgspec.Raw`` slices of the user map) and go this way only if they are all of the portal's
usual shape:

* the struct is strict: exactly the 14 keys (none missing, none other: an HR absence, a newer
  portal's key, fails), each of its exact JSON type (``ID`` and the timestamps strings, the
  offsets integers, never ``0.0`` or ``false``; ``DT_SKIP_TIME`` ``"Y"``/``"N"``; names, zones,
  dates and types strings or ``null``);
* the values are checked as :mod:`._calendar_wire` checks them (digit strings, known enum
  values); a miss raises;
* the key order is the portal's: the general reader keeps the wire's order of the keys that stay
  in ``extra``, which a struct cannot see, so :data:`_CANONICAL` must match at the start of
  every entry's object (its first eight keys in the portal's order, with nothing between: each
  key literal found there is a real key, as every key was checked by the struct). That also
  rules out a repeated key before them.

A user whose entries fail any of these is read as today: its slice decoded by the stdlib's
:func:`json.loads` (the scanner the large-answer walk uses) and
:func:`~._calendar_wire.decode_entries`. A map that is not an object of canonical user IDs (PHP's
``[]``, ``"07"``, not JSON) gives ``None``: the caller reads it the general way, errors included.

The path is on when ``msgspec`` is installed, unless ``B24ASYNC_JSON=stdlib`` is set (the switch
that rules out the optional C decoders when reporting a bug); :func:`use` switches it at run
time (tests and benchmarks measure both).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from typing import Any, Literal

from b24async import jsonio
from b24async.models import _calendar_wire as wire
from b24async.models import _convert as cv
from b24async.models.calendar import _BIG_USERS, Availability, BusyInterval, _canonical_user_keys

__all__ = ["AVAILABLE", "ENABLED", "decode_users", "use"]

_users_decoder: Callable[[str | bytes], dict[str, Any]] | None = None
_events_decoder: Callable[[Any], list[Any]] | None = None
try:
    import msgspec  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # the optional ``speed`` extra is not installed
    pass
else:

    class _Event(  # type: ignore[call-arg,unused-ignore]  # Any without msgspec
        msgspec.Struct,  # type: ignore[misc,unused-ignore]
        forbid_unknown_fields=True,
        gc=False,  # no cycles: the collector need not track them
        rename={
            "ident": "ID",
            "name": "NAME",
            "date_from": "DATE_FROM",
            "date_to": "DATE_TO",
            "start": "DATE_FROM_TS_UTC",
            "end": "DATE_TO_TS_UTC",
            "offset_from": "~USER_OFFSET_FROM",
            "offset_to": "~USER_OFFSET_TO",
            "skip": "DT_SKIP_TIME",
            "tz_from": "TZ_FROM",
            "tz_to": "TZ_TO",
            "access": "ACCESSIBILITY",
            "importance": "IMPORTANCE",
            "kind": "EVENT_TYPE",
        },
    ):
        """One portal event as the portal sends it (every key required, exact JSON types)."""

        ident: str
        name: str | None
        date_from: str | None
        date_to: str | None
        start: str
        end: str
        offset_from: int
        offset_to: int
        skip: Literal["Y", "N"]
        tz_from: str | None
        tz_to: str | None
        access: str
        importance: str
        kind: str | None

    _users_decoder = msgspec.json.Decoder(dict[str, msgspec.Raw]).decode
    _events_decoder = msgspec.json.Decoder(list[_Event]).decode

#: Whether ``msgspec`` is installed.
AVAILABLE = _users_decoder is not None
#: Whether :func:`decode_users` reads answers (``msgspec`` installed and not switched off).
ENABLED = AVAILABLE and os.environ.get("B24ASYNC_JSON", "").strip().lower() != "stdlib"

# An entry's object starting with the portal's first eight keys in its order (see the module
# docs). A string value is matched whole (escapes included); the others up to the next comma,
# which is then the member separator, since the next key literal must follow it.
_STRING = rb'(?:null|"[^"\\]*(?:\\.[^"\\]*)*")'
_CANONICAL = re.compile(
    rb'\{(?="ID":[^,]*,"NAME":%s,"DATE_FROM":%s,"DATE_TO":%s,"DATE_FROM_TS_UTC":[^,]*,'
    rb'"DATE_TO_TS_UTC":[^,]*,"~USER_OFFSET_FROM":[^,]*,"~USER_OFFSET_TO":)' % ((_STRING,) * 3)
)
_canonical_starts = _CANONICAL.findall

_ACCESSIBILITY, _IMPORTANCE = wire._ACCESSIBILITY, wire._IMPORTANCE
_instant, _text_or_none, _extra = wire._instant, wire._text_or_none, wire._extra
_new = object.__new__
_intern = wire._intern
(_SET_ID, _SET_START, _SET_END, _SET_NAME, _SET_TZ_FROM, _SET_TZ_TO) = (
    wire._set_id,
    wire._set_start,
    wire._set_end,
    wire._set_name,
    wire._set_tz_from,
    wire._set_tz_to,
)
(_SET_ALL_DAY, _SET_ACCESS, _SET_IMPORTANCE, _SET_KIND, _SET_FROM_HR, _SET_EXTRA) = (
    wire._set_all_day,
    wire._set_accessibility,
    wire._set_importance,
    wire._set_event_type,
    wire._set_from_hr,
    wire._set_extra,
)


def use(enabled: bool) -> None:
    """Switch the ``msgspec`` path on or off; ``ImportError`` to switch it on without msgspec."""
    global ENABLED
    if enabled and not AVAILABLE:
        raise ImportError("msgspec is not installed: pip install b24async[speed]")
    ENABLED = enabled


def decode_users(text: str | bytes) -> Availability | None:
    """The user map ``text`` (a command's ``result``) as an :class:`Availability`, or ``None``.

    Equal to ``Availability.from_wire(json.loads(text))`` when not ``None``; ``None`` when
    disabled, or when ``text`` is not an object keyed by canonical user IDs (``"5"``, never
    ``"05"``) or one user's value is not what the general reader reads: the caller then reads
    the text the general way (its value or its error).
    """
    if not ENABLED or _users_decoder is None:
        return None
    try:
        users = _users_decoder(text)
    except msgspec.MsgspecError:
        return None
    if not _canonical_user_keys(users):
        return None  # Availability.from_wire joins "7" and "07": the general way
    by_user: dict[int, tuple[BusyInterval, ...]] = {}
    with jsonio.gc_paused() as paused:
        try:
            for key, raw in users.items():
                by_user[int(key)] = _user_entries(key, raw)
        except Exception:  # e.g. not a list of entries: the general reader raises it
            return None
        if paused and len(by_user) >= _BIG_USERS:
            wire.promote_young()  # as Availability.from_wire: no young collection walks them
    return Availability._adopt(by_user)


def _user_entries(key: str, raw: Any) -> tuple[BusyInterval, ...]:
    """One user's entries: by struct when all are of the usual shape, else as today."""
    assert _events_decoder is not None
    try:
        events = _events_decoder(raw)
        if len(_canonical_starts(raw)) == len(events):
            return _build(events)
    except (msgspec.ValidationError, msgspec.DecodeError, KeyError, ValueError):
        pass
    return wire.decode_entries(cv.as_list(json.loads(bytes(raw)), f"user {key}"))


def _build(events: list[Any]) -> tuple[BusyInterval, ...]:
    """Typed entries of checked structs (``KeyError``/``ValueError`` for an odd value)."""
    entries: list[BusyInterval] = []
    append = entries.append
    latest, in_order = wire._BEFORE_ALL, True
    extras, instants, texts, new = wire._EXTRAS, wire._INSTANTS, wire._TEXTS, _new
    set_id, set_start, set_end, set_name = _SET_ID, _SET_START, _SET_END, _SET_NAME
    set_tz_from, set_tz_to, set_all_day, set_access = (
        _SET_TZ_FROM,
        _SET_TZ_TO,
        _SET_ALL_DAY,
        _SET_ACCESS,
    )
    set_importance, set_kind, set_from_hr, set_extra = (
        _SET_IMPORTANCE,
        _SET_KIND,
        _SET_FROM_HR,
        _SET_EXTRA,
    )
    for event in events:
        ident = event.ident
        if not (ident.isdigit() and ident.isascii()):
            raise ValueError(ident)
        try:
            begin = instants[event.start]
        except KeyError:
            begin = _instant(event.start)
        try:
            finish = instants[event.end]
        except KeyError:
            finish = _instant(event.end)
        try:
            tz_from, tz_to, kind = texts[event.tz_from], texts[event.tz_to], texts[event.kind]
        except KeyError:
            tz_from, tz_to, kind = _text_or_none(event.tz_from, event.tz_to, event.kind)
        key = (event.date_from, event.date_to, event.offset_from, event.offset_to)
        try:
            extra = extras[key]
        except KeyError:
            extra = _extra(*key)
        name = event.name
        entry = new(BusyInterval)
        set_id(entry, int(ident))
        set_start(entry, begin)
        set_end(entry, finish)
        set_name(entry, _intern(name) if name else None)
        set_tz_from(entry, tz_from)
        set_tz_to(entry, tz_to)
        set_all_day(entry, event.skip == "Y")
        set_access(entry, _ACCESSIBILITY[event.access])
        set_importance(entry, _IMPORTANCE[event.importance])
        set_kind(entry, kind)
        set_from_hr(entry, False)
        set_extra(entry, extra)
        if in_order:
            if begin > latest:
                latest = begin
            else:
                in_order = False
        append(entry)
    return tuple(entries) if in_order else wire.ordered(entries)
