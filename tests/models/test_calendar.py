"""Calendar models: the recorded accessibility payloads parse into exact objects."""

from __future__ import annotations

import json
import pickle
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from b24async.methods import GetAccessibility, GetParticipationStatus
from b24async.models import (
    Accessibility,
    Availability,
    BusyInterval,
    Importance,
    ParticipationStatus,
    Slot,
    WorkingHours,
)

FIXTURES = Path(__file__).parent.parent / "fixtures"
UTC = timezone.utc


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))["result"]


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


# --- seed 003: the real OPI response --------------------------------------------------------------


def test_seed003_real_response() -> None:
    request = GetAccessibility(
        users=[1],
        start=datetime(2025, 9, 10, 18, 33, 57, tzinfo=UTC),
        end=datetime(2025, 9, 17, 18, 33, 57, tzinfo=UTC),
    )
    busy = request.parse(load("seed003_accessibility_opi.json"))
    assert list(busy) == [1]
    first, second = busy[1]
    assert [first.id, second.id] == [2324, 2328]
    for item in busy[1]:
        assert item.name == "[Под вопросом]"
        # The TS_UTC values as sent, although DATE_TO_TS_UTC is a month after the start while
        # DATE_TO is the same day (seed quirk, kept visible in extra).
        assert item.start == datetime(2025, 9, 11, 12, 34, tzinfo=UTC) == at(1757594040)
        assert item.end == datetime(2025, 10, 11, 16, 34, tzinfo=UTC) == at(1760200440)
        assert item.extra["DATE_TO"] == "11.09.2025 19:34:00"
        assert item.tz_from == item.tz_to == "Europe/Moscow"
        assert item.zone_from == ZoneInfo("Europe/Moscow")
        assert item.accessibility is Accessibility.QUEST
        assert item.importance is Importance.LOW
        assert item.event_type is None
        assert item.all_day is False
        assert item.from_hr is False
        assert item.blocks
        assert dict(item.extra) == {
            "DATE_FROM": "11.09.2025 18:34:00",
            "DATE_TO": "11.09.2025 19:34:00",
            "~USER_OFFSET_FROM": 0,
            "~USER_OFFSET_TO": 0,
        }


# --- seed 002: the docs example, elisions filled --------------------------------------------------


def test_seed002_docs_example() -> None:
    busy = GetAccessibility(
        users=[1, 2, 34],
        start=date(2024, 6, 20),
        end=date(2024, 12, 20),
    ).parse(load("seed002_accessibility_docs.json"))
    assert sorted(busy) == [1, 2, 34]
    assert busy[34] == ()
    event, planning = busy[1]
    assert event == BusyInterval(
        id=1213,
        name="Event name",
        start=at(1733158800),
        end=at(1733162400),
        tz_from="America/Managua",
        tz_to="America/Managua",
        accessibility=Accessibility.BUSY,
        importance=Importance.NORMAL,
        event_type="#collab#",
        extra={
            "DATE_FROM": "02.12.2024 11:00:00",
            "DATE_TO": "02.12.2024 12:00:00",
            "~USER_OFFSET_FROM": -21600,
            "~USER_OFFSET_TO": -21600,
        },
    )
    assert event.start.astimezone(ZoneInfo("America/Managua")).hour == 11
    assert planning.id == 1216
    assert planning.importance is Importance.HIGH
    # User 2's entries sorted by start: the free lunch (2 Dec) before the all-day event (5 Dec).
    lunch, conference = busy[2]
    assert (lunch.id, conference.id) == (2, 1)  # integer IDs as the page shows them
    assert lunch.accessibility is Accessibility.FREE
    assert not lunch.blocks
    assert lunch.event_type == "#shared#"
    assert conference.all_day
    assert conference.start == conference.end == at(1733356800)
    assert conference.tz_from is None
    assert conference.zone_from is None
    assert conference.span == (at(1733356800), at(1733356800) + timedelta(days=1))


# --- facts §7.1 -----------------------------------------------------------------------------------


def test_facts_example_with_empty_user() -> None:
    busy = Availability.from_wire(load("facts_7_1_accessibility.json"), users=[7, 9])
    assert busy[9] == ()
    (standup,) = busy[7]
    assert (standup.id, standup.name) == (31, "Standup")
    assert standup.start == datetime(2026, 1, 7, 10, tzinfo=ZoneInfo("Europe/Moscow"))
    assert standup.end == datetime(2026, 1, 7, 7, 30, tzinfo=UTC)
    assert standup.start.tzinfo is UTC


# --- constructed quirks: HR absences, unknown values, gapped lists, missing users -----------------


def test_quirks_hr_unknown_values_gapped_list_missing_user() -> None:
    busy = Availability.from_wire(load("constructed_accessibility_quirks.json"), users=[7, 8, 9])
    assert sorted(busy) == [7, 8, 9]
    assert busy[9] == ()  # left out by the server, present anyway

    standup, maybe, hr = busy[7]  # sorted by start: 7 Jan 07:00, 7 Jan 09:00, 8 Jan 00:00
    assert (standup.id, maybe.id, hr.id) == (31, 40, 57)

    assert hr.from_hr
    assert hr.all_day
    assert hr.start == datetime(2026, 1, 8, tzinfo=UTC)
    assert hr.end == datetime(2026, 1, 9, tzinfo=UTC)
    assert hr.span == (datetime(2026, 1, 8, tzinfo=UTC), datetime(2026, 1, 10, tzinfo=UTC))
    assert hr.accessibility is Accessibility.ABSENT
    assert hr.importance is Importance.NORMAL
    assert hr.name is None
    assert hr.tz_from is None
    assert dict(hr.extra) == {"DT_FROM": "08.01.2026", "DT_TO": "09.01.2026"}

    assert maybe.accessibility is Accessibility.UNKNOWN
    assert maybe.blocks
    assert maybe.importance is Importance.UNKNOWN
    assert dict(maybe.extra) == {
        "DATE_FROM": "07.01.2026 12:00:00",
        "DATE_TO": "07.01.2026 13:00:00",
        "ACCESSIBILITY": "tentative",
        "IMPORTANCE": "urgent",
        "COLOR": "#9dcf00",
    }
    assert maybe.event_type == "#shared_crm#"

    assert [i.id for i in busy[8]] == [75, 77]  # object with keys "0", "2", sorted by start


def test_hr_entry_with_times_is_not_all_day() -> None:
    raw = {
        "FROM_HR": True,
        "ID": "5",
        "DT_FROM": "08.01.2026 09:00:00",
        "DT_TO": "08.01.2026 13:00:00",
        "ACCESSIBILITY": "absent",
        "IMPORTANCE": "normal",
        "FROM": 1767862800,
        "TO": 1767877200,
    }
    item = BusyInterval.from_wire(raw)
    assert not item.all_day
    assert item.span == (at(1767862800), at(1767877200))


def test_empty_result_is_php_empty_list() -> None:
    assert dict(Availability.from_wire([], users=[3, 4])) == {3: (), 4: ()}
    assert dict(Availability.from_wire({"3": {}}, users=[3])) == {3: ()}


@pytest.mark.parametrize(
    "raw",
    [
        {"ID": "1", "DATE_TO_TS_UTC": "5"},
        {"ID": "1", "DATE_FROM_TS_UTC": "", "DATE_TO_TS_UTC": "5"},
        {"DATE_FROM_TS_UTC": "1", "DATE_TO_TS_UTC": "5"},
        {"ID": "x", "DATE_FROM_TS_UTC": "1", "DATE_TO_TS_UTC": "5"},
        {"ID": "1", "DATE_FROM_TS_UTC": "soon", "DATE_TO_TS_UTC": "5"},
        ["not", "an", "object"],
    ],
)
def test_broken_known_fields_raise_value_error(raw: Any) -> None:
    with pytest.raises(ValueError):
        BusyInterval.from_wire(raw)


def test_busy_interval_requires_aware_datetimes() -> None:
    with pytest.raises(ValueError, match="aware"):
        BusyInterval(id=1, start=datetime(2025, 1, 1), end=datetime(2025, 1, 2, tzinfo=UTC))


# --- participation status -------------------------------------------------------------------------


def test_seed000_participation_status_host() -> None:
    wire = json.loads((FIXTURES / "seed000_meeting_status_get.json").read_text())["result"]
    assert GetParticipationStatus(event_id=1014).parse(wire) is ParticipationStatus.HOST


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("Y", ParticipationStatus.ACCEPTED),
        ("N", ParticipationStatus.DECLINED),
        ("Q", ParticipationStatus.INVITED),
        ("H", ParticipationStatus.HOST),
        ("X", ParticipationStatus.UNKNOWN),
        (None, ParticipationStatus.UNKNOWN),
    ],
)
def test_participation_letters(wire: Any, expected: ParticipationStatus) -> None:
    assert ParticipationStatus.from_wire(wire) is expected


def test_enums_are_their_wire_strings() -> None:
    assert ParticipationStatus.HOST == "H"
    assert str(ParticipationStatus.HOST) == "H"
    assert str(Accessibility.FREE) == "free"
    assert Importance.HIGH == "high"


# --- Availability: mapping behaviour, is_free, merge, subset --------------------------------------


def _event(
    ident: int, start: datetime, minutes: int, acc: Accessibility = Accessibility.BUSY
) -> BusyInterval:
    return BusyInterval(
        id=ident, start=start, end=start + timedelta(minutes=minutes), accessibility=acc
    )


T0 = datetime(2025, 9, 15, 9, tzinfo=UTC)  # a Monday
SAMPLE = Availability(
    {
        1: (_event(1, T0, 60), _event(2, T0 + timedelta(hours=3), 30, Accessibility.FREE)),
        2: (_event(3, T0 + timedelta(hours=2), 60, Accessibility.QUEST),),
        3: (),
    }
)


def test_availability_is_a_read_only_mapping() -> None:
    assert len(SAMPLE) == 3
    assert 3 in SAMPLE
    assert 4 not in SAMPLE
    assert {1: SAMPLE[1], 2: SAMPLE[2], 3: ()} == SAMPLE
    assert pickle.loads(pickle.dumps(SAMPLE)) == SAMPLE
    with pytest.raises(TypeError):
        SAMPLE[4] = ()  # type: ignore[index]
    with pytest.raises(AttributeError):
        SAMPLE._by_user = {}  # type: ignore[misc]
    assert "Availability({1:" in repr(SAMPLE)


def test_entries_are_sorted_by_start_whatever_the_input_order() -> None:
    late, early = _event(1, T0 + timedelta(hours=1), 10), _event(2, T0, 10)
    assert Availability({1: [late, early]})[1] == (early, late)


def test_is_free_and_conflicts() -> None:
    assert not SAMPLE.is_free(1, T0 + timedelta(minutes=30), T0 + timedelta(minutes=90))
    assert SAMPLE.is_free(1, T0 + timedelta(hours=1), T0 + timedelta(hours=2))  # touching is fine
    assert SAMPLE.is_free(1, T0 + timedelta(hours=3), T0 + timedelta(hours=4))  # free event
    assert not SAMPLE.is_free(2, T0 + timedelta(hours=2), T0 + timedelta(hours=2, minutes=1))
    assert [
        i.id for i in SAMPLE.conflicts(1, T0 - timedelta(hours=1), T0 + timedelta(hours=9))
    ] == [1]
    with pytest.raises(KeyError, match="not queried"):
        SAMPLE.is_free(4, T0, T0 + timedelta(hours=1))
    with pytest.raises(ValueError, match="after start"):
        SAMPLE.is_free(1, T0, T0)
    with pytest.raises(ValueError, match="timezone-aware"):
        SAMPLE.is_free(1, datetime(2025, 1, 1), datetime(2025, 1, 2))


def test_zero_length_event_blocks_nothing() -> None:
    point = Availability({1: (_event(1, T0, 0),)})
    assert point.is_free(1, T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    window = point.common_free_slots([1], T0, T0 + timedelta(hours=1), timedelta(hours=1))
    assert window == [Slot(T0, T0 + timedelta(hours=1))]


def test_common_free_slots_skips_free_events_and_honours_working_hours() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    start = datetime(2025, 9, 15, 0, 0, tzinfo=berlin)
    hours = WorkingHours(time(9), time(18), "Europe/Berlin")
    slots = SAMPLE.common_free_slots(
        [1, 2], start, start + timedelta(days=1), timedelta(minutes=30), hours
    )
    # Berlin 09:00-18:00 is 07:00-16:00 UTC; busy 09:00-10:00 and 11:00-12:00 UTC.
    assert slots == [
        Slot(datetime(2025, 9, 15, 9, tzinfo=berlin), datetime(2025, 9, 15, 11, tzinfo=berlin)),
        Slot(datetime(2025, 9, 15, 12, tzinfo=berlin), datetime(2025, 9, 15, 13, tzinfo=berlin)),
        Slot(datetime(2025, 9, 15, 14, tzinfo=berlin), datetime(2025, 9, 15, 18, tzinfo=berlin)),
    ]
    assert all(s.start.tzinfo is berlin for s in slots)
    first = SAMPLE.common_free_slots(
        None, start, start + timedelta(days=1), timedelta(hours=3), hours, limit=1
    )
    assert first == [slots[2]]
    with pytest.raises(KeyError):
        SAMPLE.common_free_slots([1, 99], start, start + timedelta(days=1), timedelta(hours=1))
    with pytest.raises(ValueError, match="at least one user"):
        SAMPLE.common_free_slots([], start, start + timedelta(days=1), timedelta(hours=1))


def test_subset_and_merge() -> None:
    left, right = SAMPLE.subset([1]), SAMPLE.subset([2, 3])
    assert list(left) == [1]
    assert list(right) == [2, 3]
    assert Availability.merge(left, right) == SAMPLE
    with pytest.raises(KeyError, match=r"\[4\]"):
        SAMPLE.subset([1, 4])
    # The same event seen by two parts (split by dates) is kept once; new ones are added.
    extra = Availability({1: (SAMPLE[1][0], _event(9, T0 + timedelta(days=1), 15))})
    merged = Availability.merge(SAMPLE, extra)
    assert [i.id for i in merged[1]] == [1, 2, 9]


EVENTS = st.builds(
    _event,
    ident=st.integers(min_value=1, max_value=50),
    start=st.integers(min_value=0, max_value=500).map(lambda m: T0 + timedelta(minutes=m)),
    minutes=st.integers(min_value=0, max_value=120),
    acc=st.sampled_from(list(Accessibility)),
)
AVAILABILITY = st.dictionaries(
    st.integers(min_value=1, max_value=30), st.lists(EVENTS, max_size=4), min_size=1, max_size=8
).map(Availability)


@settings(max_examples=100, deadline=None)
@given(AVAILABILITY, st.data())
def test_split_by_users_then_merge_gives_the_whole(busy: Availability, data: st.DataObject) -> None:
    users = list(busy)
    cut = data.draw(st.integers(min_value=0, max_value=len(users)))
    shuffled = data.draw(st.permutations(users))
    parts = [busy.subset(shuffled[:cut]), busy.subset(shuffled[cut:])]
    assert Availability.merge(*parts) == busy
    assert Availability.merge(busy, busy) == busy  # merging a part twice changes nothing
