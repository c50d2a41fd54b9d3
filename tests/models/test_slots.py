"""Slot finding: the pure interval functions, and common_free_slots against a brute-force oracle."""

from __future__ import annotations

import itertools
from datetime import datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from b24async.models import Accessibility, Availability, BusyInterval, Slot, WorkingHours
from b24async.models.slots import Span, complement, free_slots, intersect, normalize

UTC = timezone.utc
T0 = datetime(2025, 9, 15, tzinfo=UTC)  # a Monday, 00:00 UTC


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


# --- the building blocks --------------------------------------------------------------------------


def test_normalize_merges_overlapping_and_touching_and_drops_empty() -> None:
    spans = [(h(5), h(6)), (h(1), h(2)), (h(2), h(3)), (h(2.5), h(2.7)), (h(4), h(4))]
    assert normalize(spans) == [(h(1), h(3)), (h(5), h(6))]


def test_normalize_converts_to_utc() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    ((s, e),) = normalize([(datetime(2025, 9, 15, 9, tzinfo=berlin), h(8))])
    assert s == h(7)
    assert s.tzinfo is UTC
    assert e.tzinfo is UTC


def test_complement_and_intersect() -> None:
    busy = [(h(-1), h(1)), (h(3), h(4)), (h(9), h(20))]
    assert complement(busy, h(0), h(10)) == [(h(1), h(3)), (h(4), h(9))]
    assert complement([], h(0), h(1)) == [(h(0), h(1))]
    assert complement([(h(0), h(2))], h(0), h(1)) == []
    assert intersect([(h(0), h(5)), (h(6), h(8))], [(h(4), h(7))]) == [(h(4), h(5)), (h(6), h(7))]
    assert intersect([(h(0), h(1))], [(h(1), h(2))]) == []


def test_slot_unpacks_and_has_a_dst_safe_duration() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # 26 Oct 2025: clocks go back at 03:00, so 00:00-06:00 wall time is 7 hours.
    slot = Slot(datetime(2025, 10, 26, 0, tzinfo=berlin), datetime(2025, 10, 26, 6, tzinfo=berlin))
    start, end = slot
    assert (start, end) == (slot.start, slot.end)
    assert slot.duration == timedelta(hours=7)


def test_working_hours_windows_follow_local_time_across_dst() -> None:
    hours = WorkingHours(time(9), time(18), "Europe/Berlin", weekdays=range(7))
    windows = hours.windows(datetime(2025, 10, 25, tzinfo=UTC), datetime(2025, 10, 27, tzinfo=UTC))
    assert windows == [
        (datetime(2025, 10, 25, 7, tzinfo=UTC), datetime(2025, 10, 25, 16, tzinfo=UTC)),  # CEST
        (datetime(2025, 10, 26, 8, tzinfo=UTC), datetime(2025, 10, 26, 17, tzinfo=UTC)),  # CET
    ]


def test_working_hours_skip_weekends_by_default() -> None:
    hours = WorkingHours(time(9), time(17), UTC)
    friday, monday = datetime(2025, 9, 19, tzinfo=UTC), datetime(2025, 9, 22, tzinfo=UTC)
    windows = hours.windows(friday, monday + timedelta(days=1))
    assert [s.date() for s, _ in windows] == [friday.date(), monday.date()]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"start": time(18), "end": time(9), "tz": UTC}, ValueError),
        ({"start": time(9), "end": time(9), "tz": UTC}, ValueError),
        ({"start": time(9), "end": time(18), "tz": "Mars/Olympus"}, ValueError),
        ({"start": time(9), "end": time(18), "tz": 3}, TypeError),
        ({"start": time(9), "end": time(18), "tz": UTC, "weekdays": [7]}, ValueError),
        ({"start": time(9), "end": time(18), "tz": UTC, "weekdays": [True]}, ValueError),
        ({"start": time(9), "end": time(18), "tz": UTC, "weekdays": []}, ValueError),
        ({"start": time(9, tzinfo=UTC), "end": time(18), "tz": UTC}, ValueError),
        ({"start": 9, "end": time(18), "tz": UTC}, TypeError),
    ],
)
def test_working_hours_validation(kwargs: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        WorkingHours(**kwargs)  # type: ignore[arg-type]


def test_free_slots_argument_checks() -> None:
    with pytest.raises(ValueError, match="positive"):
        free_slots([], h(0), h(1), timedelta(0))
    with pytest.raises(TypeError, match="timedelta"):
        free_slots([], h(0), h(1), 30)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="after start"):
        free_slots([], h(1), h(0), timedelta(minutes=1))
    with pytest.raises(ValueError, match="timezone-aware"):
        free_slots([], datetime(2025, 1, 1), h(1), timedelta(minutes=1))
    with pytest.raises(ValueError, match="limit"):
        free_slots([], h(0), h(1), timedelta(minutes=1), limit=0)


def test_free_slots_example() -> None:
    busy = [(h(10), h(11)), (h(10.5), h(12)), (h(14), h(14.25))]
    slots = free_slots(busy, h(9), h(17), timedelta(hours=1))
    assert slots == [Slot(h(9), h(10)), Slot(h(12), h(14)), Slot(h(14.25), h(17))]
    assert free_slots(busy, h(9), h(17), timedelta(hours=2), limit=1) == [Slot(h(12), h(14))]


# --- common_free_slots against a brute-force oracle -----------------------------------------------

# Every boundary in the generated cases is a multiple of STEP minutes, so a STEP-minute grid is
# exact: the oracle marks each cell free or not and reads off maximal runs.
STEP = 5
CELL = timedelta(minutes=STEP)
HORIZON = 3 * 24 * 60 // STEP  # three days of cells
ZONES: list[tzinfo] = [
    UTC,
    timezone(timedelta(hours=3)),
    timezone(timedelta(hours=-5, minutes=-30)),
    ZoneInfo("Asia/Tokyo"),
]


def cells(lo: int, hi: int) -> st.SearchStrategy[int]:
    return st.integers(min_value=lo, max_value=hi)


@st.composite
def entries(draw: st.DrawFn, ident: int) -> BusyInterval:
    start = T0 + draw(cells(-300, HORIZON + 50)) * CELL
    length = draw(cells(0, 120)) * CELL
    return BusyInterval(
        id=ident,
        start=start,
        end=start + length,
        all_day=draw(cells(0, 9)) == 0,  # rare: an all-day entry blocks a whole extra day
        accessibility=draw(st.sampled_from(list(Accessibility))),
    )


@st.composite
def cases(
    draw: st.DrawFn,
) -> tuple[Availability, list[int], datetime, datetime, timedelta, WorkingHours | None]:
    users = draw(st.lists(cells(1, 6), min_size=1, max_size=3, unique=True))
    by_user = {u: draw(st.lists(entries(ident=u * 100), max_size=5)) for u in users}
    first = draw(cells(0, HORIZON - 1))
    last = draw(cells(first + 1, HORIZON))
    out_zone = draw(st.sampled_from([UTC, ZoneInfo("Europe/Berlin"), ZoneInfo("America/Managua")]))
    start = (T0 + first * CELL).astimezone(out_zone)
    end = (T0 + last * CELL).astimezone(out_zone)
    duration = timedelta(minutes=draw(cells(1, 8 * 60)))
    hours = None
    if draw(st.booleans()):
        a = draw(cells(0, 24 * 60 // STEP - 2))
        b = draw(cells(a + 1, 24 * 60 // STEP - 1))
        to_time = lambda n: time(n * STEP // 60, n * STEP % 60)  # noqa: E731
        weekdays = draw(st.sets(cells(0, 6), min_size=1))
        hours = WorkingHours(to_time(a), to_time(b), draw(st.sampled_from(ZONES)), weekdays)
    return Availability(by_user), users, start, end, duration, hours


def oracle(
    busy: Availability,
    users: list[int],
    start: datetime,
    end: datetime,
    duration: timedelta,
    hours: WorkingHours | None,
) -> list[Span]:
    """Free maximal runs of grid cells, computed the slow and obvious way."""
    first = (start - T0) // CELL
    last = (end - T0) // CELL
    blocked: list[tuple[datetime, datetime]] = []
    for user in users:
        for item in busy[user]:
            if item.accessibility is Accessibility.FREE:
                continue
            stop = item.end + timedelta(days=1) if item.all_day else item.end
            blocked.append((item.start, stop))

    def free(n: int) -> bool:
        cell_start = T0 + n * CELL
        cell_end = cell_start + CELL
        if any(s < cell_end and cell_start < e for s, e in blocked):
            return False
        if hours is None:
            return True
        local = cell_start.astimezone(hours.tz)
        return local.weekday() in hours.weekdays and hours.start <= local.time() < hours.end

    runs: list[Span] = []
    run_start: int | None = None
    for n in range(first, last + 1):
        is_free = n < last and free(n)
        if is_free and run_start is None:
            run_start = n
        elif not is_free and run_start is not None:
            runs.append((T0 + run_start * CELL, T0 + n * CELL))
            run_start = None
    return [(s, e) for s, e in runs if e - s >= duration]


@settings(max_examples=150, deadline=None)
@given(cases())
def test_common_free_slots_matches_the_brute_force_oracle(
    case: tuple[Availability, list[int], datetime, datetime, timedelta, WorkingHours | None],
) -> None:
    busy, users, start, end, duration, hours = case
    slots = busy.common_free_slots(users, start, end, duration, hours)

    # Properties stated on their own, then the exact comparison with the oracle.
    for slot in slots:
        assert start <= slot.start < slot.end <= end
        assert slot.duration >= duration
        assert slot.start.tzinfo is start.tzinfo
        for user in users:
            assert busy.is_free(user, slot.start, slot.end), (user, slot)
        if hours is not None:
            local_start, local_end = slot.start.astimezone(hours.tz), slot.end.astimezone(hours.tz)
            assert local_start.date() == (local_end - timedelta(microseconds=1)).date()
            assert local_start.weekday() in hours.weekdays
            assert hours.start <= local_start.time()
            assert local_end.time() <= hours.end
    assert all(a.end < b.start for a, b in itertools.pairwise(slots))
    assert [(s.start, s.end) for s in slots] == oracle(busy, users, start, end, duration, hours)


@settings(max_examples=50, deadline=None)
@given(cases(), st.integers(min_value=1, max_value=3))
def test_limit_keeps_the_earliest(
    case: tuple[Availability, list[int], datetime, datetime, timedelta, WorkingHours | None],
    limit: int,
) -> None:
    busy, users, start, end, duration, hours = case
    every = busy.common_free_slots(users, start, end, duration, hours)
    assert busy.common_free_slots(users, start, end, duration, hours, limit=limit) == every[:limit]
