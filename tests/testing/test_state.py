"""The fake portal's seeded data and state: shapes, determinism, calendar invariants, speed."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest

from b24async.testing.data import (
    USER_FIELDS,
    WEEKS_AFTER,
    WEEKS_BEFORE,
    CalendarEvent,
    decode_seeded_event_id,
    portal_day_shift,
    seeded_id_limit,
    user_timezone,
)
from b24async.testing.state import PORTAL_TIMEZONE, PortalState

ANCHOR = dt.date(2026, 1, 5)  # a Monday
MOSCOW = ZoneInfo(PORTAL_TIMEZONE)


@pytest.fixture
def state() -> PortalState:
    return PortalState.seeded(users=60, seed=7, anchor=ANCHOR)


def _midnight(day: dt.date) -> int:
    return int(dt.datetime.combine(day, dt.time(), MOSCOW).timestamp())


def _all_entries(state: PortalState, user_id: int) -> list[CalendarEvent]:
    return state.events_of(user_id, None, None)


# -- users ----------------------------------------------------------------------------------


def test_user_records_have_the_user_get_shape(state: PortalState) -> None:
    for user in state.users:
        assert tuple(user) == USER_FIELDS
        assert isinstance(user["ID"], str)
        assert user["ID"].isdigit()
        assert isinstance(user["ACTIVE"], bool)
        assert isinstance(user["UF_DEPARTMENT"], list)
        assert user["UF_DEPARTMENT"]
        assert all(type(dep) is int for dep in user["UF_DEPARTMENT"])
        assert user["IS_ONLINE"] in ("Y", "N")
        assert user["USER_TYPE"] == "employee"
        assert user["SECOND_NAME"] == ""
        assert user["TIME_ZONE"] == ""
        assert user["PERSONAL_GENDER"] in ("M", "F")
        for key in ("LAST_LOGIN", "DATE_REGISTER"):
            assert dt.datetime.fromisoformat(user[key]).utcoffset() is not None
        assert re.fullmatch(rf"[a-z]+\.[a-z]+{user['ID']}@example\.com", user["EMAIL"])


def test_ids_are_dense_and_in_order(state: PortalState) -> None:
    assert [int(user["ID"]) for user in state.users] == list(range(1, 61))
    assert state.user_ids == list(range(1, 61))
    assert state.user_exists(1)
    assert state.user_exists(60)
    assert not state.user_exists(0)
    assert not state.user_exists(61)


def test_every_17th_user_is_fired_and_user_1_is_the_admin(state: PortalState) -> None:
    fired = [int(user["ID"]) for user in state.users if not user["ACTIVE"]]
    assert fired == [17, 34, 51]
    assert state.is_admin(1)
    assert not state.is_admin(2)
    assert state.is_active(1)
    assert not state.is_active(17)
    assert not state.is_active(999)
    assert state.users[0]["UF_DEPARTMENT"] == [1]


def test_some_names_are_cyrillic() -> None:
    state = PortalState.seeded(users=300, seed=0, anchor=ANCHOR)
    assert any(re.search("[а-яА-Я]", user["LAST_NAME"]) for user in state.users)


def test_departments_form_a_tree_headed_by_members(state: PortalState) -> None:
    by_id = {dep.id: dep for dep in state.departments}
    assert by_id[1].parent is None
    assert by_id[1].head == 1
    for dep in state.departments:
        assert dep.parent is None or dep.parent in by_id
        if dep.head:
            head = state.get_user(dep.head)
            assert head is not None
            assert head["ACTIVE"]
            assert dep.id in head["UF_DEPARTMENT"]


def test_update_user_changes_the_record_and_drops_cached_queries(state: PortalState) -> None:
    state.user_query_cache["anything"] = 1
    state.update_user(5, {"ACTIVE": False, "NAME": "Zed"})
    user = state.get_user(5)
    assert user is not None
    assert user["ACTIVE"] is False
    assert user["NAME"] == "Zed"
    assert state.user_query_cache == {}
    assert state.users_version == 1


# -- determinism and defaults ---------------------------------------------------------------


def test_same_seed_same_portal() -> None:
    one = PortalState.seeded(users=40, seed=3, anchor=ANCHOR)
    two = PortalState.seeded(users=40, seed=3, anchor=ANCHOR)
    assert list(one.users) == list(two.users)
    assert one.departments == two.departments
    for user_id in (1, 13, 18, 40):
        assert _all_entries(one, user_id) == _all_entries(two, user_id)
        assert one.meetings_of(user_id) == two.meetings_of(user_id)
        assert one.hr_absences_of(user_id) == two.hr_absences_of(user_id)


def test_another_seed_another_portal() -> None:
    one = PortalState.seeded(users=40, seed=3, anchor=ANCHOR)
    two = PortalState.seeded(users=40, seed=4, anchor=ANCHOR)
    assert list(one.users) != list(two.users)
    assert _all_entries(one, 2) != _all_entries(two, 2)


def test_a_user_does_not_depend_on_the_portal_size() -> None:
    small = PortalState.seeded(users=30, seed=1, anchor=ANCHOR)
    big = PortalState.seeded(users=3000, seed=1, anchor=ANCHOR)
    assert list(small.users) == list(big.users[:30])


def test_anchor_defaults_to_this_monday() -> None:
    state = PortalState.seeded(users=2)
    today = dt.date.today()
    assert state.anchor == today - dt.timedelta(days=today.weekday())
    assert state.anchor.weekday() == 0


def test_fifty_thousand_users_seed() -> None:
    state = PortalState.seeded(users=50_000, seed=0, anchor=ANCHOR)
    assert len(state.users) == 50_000


# -- calendars ------------------------------------------------------------------------------


def test_every_user_has_entries_every_seeded_week(state: PortalState) -> None:
    for user_id in (1, 2, 17, 60):
        for week in range(-WEEKS_BEFORE, WEEKS_AFTER + 1):
            monday = ANCHOR + dt.timedelta(weeks=week)
            entries = state.events_of(user_id, monday, monday + dt.timedelta(days=6))
            busy = [e for e in entries if e.accessibility != "free" and e.owner_id == user_id]
            assert len(busy) >= 3
            assert any(e.accessibility == "free" for e in entries)
            assert any(e.meeting is not None and e.meeting.host_id == user_id for e in entries)


def test_entries_stay_in_office_hours_of_their_week(state: PortalState) -> None:
    early, late = portal_day_shift(MOSCOW, ANCHOR.year)
    assert (early, late) == (0, 1)
    for user_id in range(1, 61):
        for entry in _all_entries(state, user_id):
            assert entry.owner_id == user_id
            decoded = decode_seeded_event_id(entry.id, 60)
            assert decoded is not None
            monday = ANCHOR + dt.timedelta(weeks=decoded[1])
            if entry.all_day:
                first = dt.datetime.fromtimestamp(entry.start_ts, dt.timezone.utc).date()
                assert monday <= first <= monday + dt.timedelta(days=4)
                assert entry.tz_from == entry.tz_to == ""
                assert re.fullmatch(r"\d\d\.\d\d\.\d{4}", entry.date_from)
                continue
            zone = ZoneInfo(entry.tz_from)
            start = dt.datetime.fromtimestamp(entry.start_ts, zone)
            end = dt.datetime.fromtimestamp(entry.end_ts, zone)
            assert monday <= start.date() <= monday + dt.timedelta(days=4)
            assert dt.time(9) <= start.time()
            assert end.time() <= dt.time(18)
            assert entry.date_from == start.strftime("%d.%m.%Y %H:%M:%S")
            assert entry.date_to == end.strftime("%d.%m.%Y %H:%M:%S")
            assert entry.offset_from == int(start.utcoffset().total_seconds())  # type: ignore[union-attr]
            portal_day = dt.datetime.fromtimestamp(entry.start_ts, MOSCOW).date()
            assert monday + dt.timedelta(days=early) <= portal_day
            assert portal_day <= monday + dt.timedelta(days=4 + late)


def test_events_of_a_range_loses_nothing(state: PortalState) -> None:
    everything = _all_entries(state, 9)
    for offset in range(-35, 36, 3):
        for length in (0, 1, 6, 9):
            first = ANCHOR + dt.timedelta(days=offset)
            last = first + dt.timedelta(days=length)
            low = _midnight(first)
            high = _midnight(last + dt.timedelta(days=1))
            expected = [e for e in everything if not e.all_day and low <= e.start_ts < high]
            got = [e for e in state.events_of(9, first, last) if low <= e.start_ts < high]
            assert [e.id for e in got if not e.all_day] == [e.id for e in expected]


def test_meetings_have_one_entry_per_participant(state: PortalState) -> None:
    hosted = [e for e in _all_entries(state, 4) if e.meeting and e.meeting.host_id == 4]
    assert hosted
    for host_entry in hosted:
        meeting = host_entry.meeting
        assert meeting is not None
        assert host_entry.id == host_entry.parent_id == meeting.parent_id
        assert meeting.attendee_ids[0] == 4
        assert meeting.statuses[0] == "H"
        assert set(meeting.statuses[1:]) <= {"Y", "N", "Q"}
        assert 2 <= len(meeting.attendee_ids) <= 5
        for index, attendee in enumerate(meeting.attendee_ids[1:], start=1):
            assert 1 <= (attendee - 4) % 60 <= 8  # the next eight users host-wise
            copy = state.find_event(meeting.entry_ids[index])
            assert copy is not None
            assert copy.owner_id == attendee
            assert copy.parent_id == meeting.parent_id
            assert copy.start_ts == host_entry.start_ts
            assert copy in _all_entries(state, attendee)


def test_meetings_of_lists_every_status(state: PortalState) -> None:
    statuses = {view.status for user in range(1, 61) for view in state.meetings_of(user)}
    assert statuses == {"H", "Y", "N", "Q"}
    for view in state.meetings_of(10):
        entry = state.find_event(view.event_id)
        assert entry is not None
        assert entry.owner_id == 10
        assert (view.status == "H") == (view.host_id == 10)


def test_find_event_finds_every_seeded_entry(state: PortalState) -> None:
    for user_id in (1, 30, 60):
        for entry in _all_entries(state, user_id):
            assert state.find_event(entry.id) == entry
    assert state.find_event(999) is None
    assert state.find_event(seeded_id_limit(60)) is None


def test_meeting_status_overrides(state: PortalState) -> None:
    view = next(v for v in state.meetings_of(12) if v.status != "H")
    entry = state.find_event(view.event_id)
    assert entry is not None
    assert entry.meeting is not None
    state.set_meeting_status(entry.meeting, 12, "N")
    assert state.meeting_status(entry.meeting, 12) == "N"
    outsider = next(u for u in range(1, 61) if u not in entry.meeting.attendee_ids)
    assert state.meeting_status(entry.meeting, outsider) is None


def test_hr_absences(state: PortalState) -> None:
    absent = [u for u in range(1, 61) if state.hr_absences_of(u)]
    assert absent == [5, 18, 31, 44, 57]
    (absence,) = state.hr_absences_of(5)
    assert absence.id == "500005"
    assert 1 <= (absence.last_day - absence.first_day).days <= 4
    assert ANCHOR - dt.timedelta(weeks=1) <= absence.first_day < ANCHOR + dt.timedelta(weeks=2)


def test_added_events_get_fresh_ids(state: PortalState) -> None:
    first = state.allocate_event_ids(3)
    assert first == seeded_id_limit(60)
    assert state.allocate_event_ids(1) == first + 3


def test_user_timezones_are_real_zones() -> None:
    zones = {user_timezone(0, user) for user in range(1, 200)}
    assert "Europe/Moscow" in zones
    assert len(zones) >= 4
    for zone in zones:
        ZoneInfo(zone)


# -- ledger and messenger -------------------------------------------------------------------


def test_ledger_numbers_entries(state: PortalState) -> None:
    first = state.record("user.update", 1, "user:5", {"ACTIVE": "N"}, 10.0)
    second = state.record("im.user.status.set", 2, "im_status:2", {"STATUS": "dnd"}, 11.0)
    assert (first.seq, second.seq) == (1, 2)
    assert state.ledger == [first, second]
    assert first.change == {"ACTIVE": "N"}


def test_seeded_im_statuses(state: PortalState) -> None:
    assert state.im_status(1) == "online"
    assert state.im_status(3) == "dnd"
    assert state.im_status(4) == "away"
    assert state.im_status(5) == "break"
    assert state.im_status(6) is None
    state.set_im_status(6, "away")
    assert state.im_status(6) == "away"
