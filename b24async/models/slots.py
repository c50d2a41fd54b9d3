"""Pure interval arithmetic for finding meeting slots: no I/O, no Bitrix24 types.

A *span* is a half-open interval ``(start, end)`` of aware datetimes: ``start`` is inside, ``end``
is not, so back-to-back meetings do not overlap. All arithmetic is done in UTC: adding to or
subtracting aware datetimes that share a ``ZoneInfo`` is wall-clock arithmetic in Python, which
is wrong across a DST change.

:meth:`b24async.models.Availability.common_free_slots` feeds the busy spans of several users into
:func:`free_slots`; the functions are public so they can be tested and reused on their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

__all__ = [
    "Slot",
    "Span",
    "WorkingHours",
    "complement",
    "free_slots",
    "intersect",
    "normalize",
]

Span = tuple[datetime, datetime]
"""A half-open interval ``[start, end)`` of aware datetimes."""

_UTC = timezone.utc


def _require_aware(value: datetime, name: str) -> None:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value!r}")


@attrs.frozen
class Slot:
    """A free window ``[start, end)`` found by :func:`free_slots`; unpacks as ``start, end``."""

    start: datetime
    end: datetime

    @property
    def duration(self) -> timedelta:
        """How long the window is (computed on instants, so DST-safe)."""
        return self.end.astimezone(_UTC) - self.start.astimezone(_UTC)

    def __iter__(self) -> Iterator[datetime]:
        return iter((self.start, self.end))


def _to_tz(value: tzinfo | str) -> tzinfo:
    if isinstance(value, tzinfo):
        return value
    if isinstance(value, str):
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
    raise TypeError(f"tz must be a tzinfo or a zoneinfo name, got {type(value).__name__}")


def _to_weekdays(value: Iterable[int]) -> frozenset[int]:
    days = frozenset(value)
    for day in days:
        if isinstance(day, bool) or not isinstance(day, int) or not 0 <= day <= 6:
            raise ValueError(f"weekdays must be ints 0 (Monday) .. 6 (Sunday), got {day!r}")
    if not days:
        raise ValueError("weekdays must not be empty")
    return days


@attrs.frozen
class WorkingHours:
    """Daily working hours ``[start, end)`` in one time zone, on some weekdays.

    ``start`` and ``end`` are naive wall-clock times read in ``tz`` (a ``tzinfo`` or a zoneinfo
    name such as ``"Europe/Berlin"``); ``end`` must be after ``start`` (no overnight shifts).
    ``weekdays`` uses ``date.weekday()`` numbers, Monday (0) to Friday (4) by default. A wall
    time that does not exist on a DST-change day is resolved by zoneinfo's ``fold=0`` rule.
    Example: ``WorkingHours(time(9), time(18), "Europe/Berlin")``.
    """

    start: time
    end: time
    tz: tzinfo = attrs.field(converter=_to_tz)
    weekdays: frozenset[int] = attrs.field(default=frozenset(range(5)), converter=_to_weekdays)

    def __attrs_post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if not isinstance(value, time):
                raise TypeError(f"WorkingHours.{name} must be a datetime.time, got {value!r}")
            if value.tzinfo is not None:
                raise ValueError(f"WorkingHours.{name} must be naive; the zone goes in tz")
        if self.end <= self.start:
            raise ValueError(f"WorkingHours: end {self.end} must be after start {self.start}")

    def windows(self, start: datetime, end: datetime) -> list[Span]:
        """The working windows that intersect ``[start, end)``, clipped to it, in UTC, in order."""
        _require_aware(start, "start")
        _require_aware(end, "end")
        lo, hi = start.astimezone(_UTC), end.astimezone(_UTC)
        # One local day either side covers zones far from UTC.
        day = lo.astimezone(self.tz).date() - timedelta(days=1)
        last: date = hi.astimezone(self.tz).date() + timedelta(days=1)
        out: list[Span] = []
        while day <= last:
            if day.weekday() in self.weekdays:
                w_start = datetime.combine(day, self.start, tzinfo=self.tz).astimezone(_UTC)
                w_end = datetime.combine(day, self.end, tzinfo=self.tz).astimezone(_UTC)
                w_start, w_end = max(w_start, lo), min(w_end, hi)
                if w_start < w_end:
                    out.append((w_start, w_end))
            day += timedelta(days=1)
        return normalize(out)


def normalize(spans: Iterable[Span]) -> list[Span]:
    """Sort spans, drop empty ones and merge those that overlap or touch; results are in UTC."""
    ordered = sorted(
        (s.astimezone(_UTC), e.astimezone(_UTC)) for s, e in spans if s.astimezone(_UTC) < e
    )
    out: list[Span] = []
    for s, e in ordered:
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def complement(busy: Iterable[Span], start: datetime, end: datetime) -> list[Span]:
    """The parts of ``[start, end)`` not covered by any busy span, in UTC, in order."""
    _require_aware(start, "start")
    _require_aware(end, "end")
    cursor, hi = start.astimezone(_UTC), end.astimezone(_UTC)
    out: list[Span] = []
    for s, e in normalize(busy):
        if e <= cursor:
            continue
        if s >= hi:
            break
        if s > cursor:
            out.append((cursor, s))
        cursor = max(cursor, e)
    if cursor < hi:
        out.append((cursor, hi))
    return out


def intersect(a: Iterable[Span], b: Iterable[Span]) -> list[Span]:
    """The spans covered by both ``a`` and ``b`` (each normalized first), in UTC, in order."""
    left, right = normalize(a), normalize(b)
    out: list[Span] = []
    i = j = 0
    while i < len(left) and j < len(right):
        s = max(left[i][0], right[j][0])
        e = min(left[i][1], right[j][1])
        if s < e:
            out.append((s, e))
        if left[i][1] < right[j][1]:
            i += 1
        else:
            j += 1
    return out


def free_slots(
    busy: Iterable[Span],
    start: datetime,
    end: datetime,
    duration: timedelta,
    working_hours: WorkingHours | None = None,
    *,
    limit: int | None = None,
) -> list[Slot]:
    """The maximal free windows of at least ``duration`` inside ``[start, end)``, earliest first.

    A window is free when no busy span covers any part of it; with ``working_hours`` it is also
    clipped to them (so windows never cross a working-day boundary). Windows are *maximal*: each
    is as long as the free time allows, so callers cut meetings out of them. The result is
    expressed in ``start``'s time zone; ``limit`` keeps only the first ``limit`` windows.
    """
    _require_aware(start, "start")
    _require_aware(end, "end")
    if not isinstance(duration, timedelta):
        raise TypeError(f"duration must be a timedelta, got {type(duration).__name__}")
    if duration <= timedelta(0):
        raise ValueError(f"duration must be positive, got {duration}")
    if end <= start:
        raise ValueError(f"end {end.isoformat()} must be after start {start.isoformat()}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive int or None, got {limit!r}")
    free = complement(busy, start, end)
    if working_hours is not None:
        free = intersect(free, working_hours.windows(start, end))
    out_tz = start.tzinfo
    slots = [Slot(s.astimezone(out_tz), e.astimezone(out_tz)) for s, e in free if e - s >= duration]
    return slots if limit is None else slots[:limit]
