"""The fake portal's method handlers, called directly (no HTTP): shapes, errors, rules, speed."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from b24async.testing.jsontext import json_text
from b24async.testing.methods import (
    METHODS,
    CallContext,
    MethodFailure,
    MethodResult,
    lookup,
)
from b24async.testing.methods_common import parse_date, php_empty, php_intval
from b24async.testing.state import MeetingView, PortalState

ANCHOR = dt.date(2026, 1, 5)  # a Monday
WEEK = {"from": "2026-01-05", "to": "2026-01-11"}
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
NOW = 1767600000.0  # 2026-01-05T08:00:00Z
_MSK = dt.timezone(dt.timedelta(hours=3))


@pytest.fixture
def state() -> PortalState:
    return PortalState.seeded(users=60, seed=7, anchor=ANCHOR)


def call(
    state: PortalState,
    method: str,
    params: Mapping[str, Any] | None = None,
    *,
    user: int = 1,
    start: int | None = None,
) -> MethodResult:
    spec = lookup(method)
    assert spec is not None, method
    result = spec.handler(state, params or {}, CallContext(user_id=user, now=NOW, start=start))
    printed = json_text(result.result)  # every result must print as JSON, as the reply does
    if result.printed is not None:  # a handler that prints its own result prints the same
        assert b"".join(result.printed).decode("utf-8") == printed
    return result


def fail(
    state: PortalState, method: str, params: Mapping[str, Any], *, user: int = 1
) -> MethodFailure:
    with pytest.raises(MethodFailure) as caught:
        call(state, method, params, user=user)
    return caught.value


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def missing(param: str, method: str) -> str:
    return f'The required parameter "{param}" for the method "{method}" is not set.'


# -- PHP-style coercion ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "number"),
    [
        ("42", 42),
        (" 7abc", 7),
        ("abc", 0),
        ("-3", -3),
        (True, 1),
        (2.9, 2),
        ([1], 1),
        ([], 0),
        (None, 0),
    ],
)
def test_php_intval(value: Any, number: int) -> None:
    assert php_intval(value) == number


@pytest.mark.parametrize("value", [None, "", "0", 0, 0.0, False, [], {}])
def test_php_empty(value: Any) -> None:
    assert php_empty(value)


@pytest.mark.parametrize("value", ["false", "0.0", " ", 1, True, [0], "N"])
def test_php_not_empty(value: Any) -> None:
    assert not php_empty(value)


def test_parse_date() -> None:
    msk = dt.timezone(dt.timedelta(hours=3))
    parsed = parse_date("2026-01-05T23:30:00Z")
    assert parsed is not None
    assert parsed.local_date(msk) == dt.date(2026, 1, 6)
    assert parse_date("05.01.2026 10:00") == parse_date("2026-01-05 10:00:00")
    for bad in ("2026-13-01", "tomorrow", "", 20260105, None):
        assert parse_date(bad) is None


# -- the registry ---------------------------------------------------------------------------


def test_registry() -> None:
    assert set(METHODS) == {
        "app.info",
        "user.get",
        "user.current",
        "user.update",
        "department.get",
        "calendar.accessibility.get",
        "calendar.meeting.status.get",
        "calendar.meeting.status.set",
        "calendar.event.add",
        "calendar.event.get",
        "calendar.event.update",
        "calendar.event.delete",
        "calendar.event.getbyid",
        "im.user.status.set",
        "im.user.status.get",
        "server.time",
        "events",
        "event.bind",
        "event.unbind",
        "event.get",
        "event.test",
        "event.offline.get",
        "event.offline.clear",
        "event.offline.error",
        "event.offline.list",
    }
    writers = {name for name, spec in METHODS.items() if spec.writes}
    assert writers == {
        "user.update",
        "calendar.meeting.status.set",
        "calendar.event.add",
        "calendar.event.update",
        "calendar.event.delete",
        "im.user.status.set",
    }
    assert lookup("USER.Get") is METHODS["user.get"]
    assert lookup("crm.deal.list") is None
    assert {spec.scope for spec in METHODS.values()} == {
        "user",
        "department",
        "calendar",
        "im",
        "base",
    }


def test_server_time(state: PortalState) -> None:
    assert call(state, "server.time").result == "2026-01-05T11:00:00+03:00"


# -- user.get -------------------------------------------------------------------------------


def test_user_get_rows_have_the_documented_types(state: PortalState) -> None:
    documented = fixture("docs_user_get.json")["result"][0]
    row = call(state, "user.get", {"ID": 1}).result[0]
    for key in ("ID", "ACTIVE", "NAME", "LAST_NAME", "EMAIL", "IS_ONLINE", "UF_DEPARTMENT"):
        assert type(row[key]) is type(documented[key]), key
    assert row["USER_TYPE"] == "employee"
    assert row["DATE_REGISTER"].endswith("T00:00:00+03:00")
    assert dt.datetime.fromisoformat(row["LAST_LOGIN"]).utcoffset() is not None


def test_user_get_pages_by_fifty(state: PortalState) -> None:
    first = call(state, "user.get")
    assert [row["ID"] for row in first.result] == [str(i) for i in range(1, 51)]
    assert (first.total, first.next) == (60, 50)
    last = call(state, "user.get", start=50)
    assert [row["ID"] for row in last.result] == [str(i) for i in range(51, 61)]
    assert (last.total, last.next) == (60, None)


def test_user_get_past_the_end_is_a_bare_empty_list(state: PortalState) -> None:
    assert call(state, "user.get", start=100) == MethodResult(result=[])
    assert call(state, "user.get", {"FILTER": {"NAME": "nobody"}}) == MethodResult(result=[])


def test_user_get_start_minus_one_does_not_count(state: PortalState) -> None:
    page = call(state, "user.get", start=-1)
    assert len(page.result) == 50
    assert (page.total, page.next) == (0, None)


def test_user_get_results_are_copies(state: PortalState) -> None:
    row = call(state, "user.get", {"ID": 2}).result[0]
    row["UF_DEPARTMENT"].append(99)
    row["NAME"] = "changed"
    again = call(state, "user.get", {"ID": 2}).result[0]
    assert 99 not in again["UF_DEPARTMENT"]
    assert again["NAME"] != "changed"


@pytest.mark.parametrize("value", [True, "Y", "true", 1, "1", "false"])
def test_user_get_active_filter_keeps_working_users(state: PortalState, value: Any) -> None:
    rows = call(state, "user.get", {"FILTER": {"ACTIVE": value}}).result
    assert rows
    assert all(row["ACTIVE"] for row in rows)
    assert call(state, "user.get", {"FILTER": {"ACTIVE": value}}).total == 57


@pytest.mark.parametrize("value", [False, "N", 0, "0", ""])
def test_user_get_falsy_active_filter_keeps_fired_users(state: PortalState, value: Any) -> None:
    rows = call(state, "user.get", {"filter": {"ACTIVE": value}}).result
    assert [row["ID"] for row in rows] == ["17", "34", "51"]


def test_user_get_filter_replaces_top_level_fields(state: PortalState) -> None:
    assert call(state, "user.get", {"ID": 3}).result[0]["ID"] == "3"
    both = call(state, "user.get", {"ID": 3, "FILTER": {"ID": 4}}).result
    assert [row["ID"] for row in both] == ["4"]
    ignored = call(state, "user.get", {"ID": 3, "FILTER": []})
    assert ignored.total == 60


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({">ID": 55}, [56, 57, 58, 59, 60]),
        ({">=ID": "58"}, [58, 59, 60]),
        ({"<ID": 3}, [1, 2]),
        ({"<=ID": 2, ">id": 1}, [2]),
        ({"@ID": [5, 9, 70]}, [5, 9]),
        ({"ID": ["7", "8"]}, [7, 8]),
        ({"=ID": 12}, [12]),
        ({"!ID": 1, "<ID": 4}, [2, 3]),
        ({"!@ID": [1, 2], "<ID": 5}, [3, 4]),
        ({"USER_TYPE": "extranet"}, []),
        ({"FOO": 1, "<ID": 3}, [1, 2]),
    ],
)
def test_user_get_filter_prefixes(state: PortalState, flt: Any, expected: list[int]) -> None:
    rows = call(state, "user.get", {"FILTER": flt}).result
    assert [int(row["ID"]) for row in rows] == expected


def test_user_get_string_filters(state: PortalState) -> None:
    user = state.users[9]
    by_email = call(state, "user.get", {"FILTER": {"EMAIL": user["EMAIL"].upper()}}).result
    assert [row["ID"] for row in by_email] == ["10"]
    fragment = user["LAST_NAME"][1:4].lower()
    found = call(state, "user.get", {"FILTER": {"%LAST_NAME": fragment}}).result
    assert "10" in [row["ID"] for row in found]
    assert all(fragment in row["LAST_NAME"].lower() for row in found)
    others = call(state, "user.get", {"FILTER": {"!%LAST_NAME": fragment}}).total
    assert (others or 0) + len(found) == 60
    search = call(state, "user.get", {"FILTER": {"NAME_SEARCH": user["NAME"][:3]}}).result
    assert "10" in [row["ID"] for row in search]


def test_user_get_department_membership(state: PortalState) -> None:
    rows = call(state, "user.get", {"FILTER": {"UF_DEPARTMENT": 7}}).result
    assert rows
    assert all(7 in row["UF_DEPARTMENT"] for row in rows)
    expected = sum(1 for user in state.users if 7 in user["UF_DEPARTMENT"])
    assert len(rows) == expected
    outside = call(state, "user.get", {"FILTER": {"!UF_DEPARTMENT": 7}}).total
    assert (outside or 0) + expected == 60


def test_user_get_sorts_only_with_sort_and_order(state: PortalState) -> None:
    rows = call(state, "user.get", {"SORT": "NAME", "ORDER": "desc"}).result
    names = [row["NAME"].casefold() for row in rows]
    assert names == sorted(names, reverse=True)
    by_id_desc = call(state, "user.get", {"sort": "ID", "order": "DESC"}).result
    assert by_id_desc[0]["ID"] == "60"
    only_sort = call(state, "user.get", {"SORT": "NAME"}).result
    assert only_sort[0]["ID"] == "1"


def test_user_get_descending_keyset(state: PortalState) -> None:
    page = call(state, "user.get", {"SORT": "ID", "ORDER": "DESC", "FILTER": {"<ID": 4}}, start=-1)
    assert [row["ID"] for row in page.result] == ["3", "2", "1"]


def test_user_get_keyset_walk_of_20000_users() -> None:
    state = PortalState.seeded(users=20_000, seed=1, anchor=ANCHOR)
    seen: list[int] = []
    last = 0
    while True:
        params = {"ORDER": "ASC", "SORT": "ID", "FILTER": {">ID": last, "ACTIVE": True}}
        page = call(state, "user.get", params, start=-1)
        assert (page.total, page.next) == ((0, None) if page.result else (None, None))
        seen.extend(int(row["ID"]) for row in page.result)
        if len(page.result) < 50:
            break
        last = int(page.result[-1]["ID"])
    assert seen == [i for i in range(1, 20_001) if i % 17]


def test_user_get_offset_paging_of_a_big_filter() -> None:
    state = PortalState.seeded(users=20_000, seed=1, anchor=ANCHOR)
    params = {"FILTER": {"ACTIVE": "Y"}}
    pages = [call(state, "user.get", params, start=start) for start in range(0, 19_000, 50)]
    assert pages[0].total == 20_000 - 20_000 // 17
    assert pages[0].next == 50


_SHARED = PortalState.seeded(users=300, seed=5, anchor=ANCHOR)


@settings(max_examples=150, deadline=None)
@given(
    low=st.integers(-5, 310),
    high=st.integers(-5, 310),
    active=st.sampled_from([None, True, "N"]),
    desc=st.booleans(),
    start=st.sampled_from([None, -1, 0, 50, 100, 250, 400]),
    inclusive=st.booleans(),
)
def test_user_get_matches_a_brute_force_model(
    low: int, high: int, active: Any, desc: bool, start: int | None, inclusive: bool
) -> None:
    flt: dict[str, Any] = {(">=ID" if inclusive else ">ID"): low, "<ID": str(high)}
    if active is not None:
        flt["ACTIVE"] = active
    params = {"FILTER": flt, "SORT": "ID", "ORDER": "DESC" if desc else "ASC"}
    page = call(_SHARED, "user.get", params, start=start)
    ids = [
        i
        for i in range(1, 301)
        if (i >= low if inclusive else i > low)
        and i < high
        and (active is None or (i % 17 != 0) == (active is True))
    ]
    ids.sort(reverse=desc)
    offset = max(start or 0, 0)
    expected = ids[offset : offset + 50]
    assert [int(row["ID"]) for row in page.result] == expected
    if not expected:
        assert (page.total, page.next) == (None, None)
    elif start == -1:
        assert (page.total, page.next) == (0, None)
    else:
        assert page.total == len(ids)
        assert page.next == (offset + 50 if offset + 50 < len(ids) else None)


def test_user_current(state: PortalState) -> None:
    assert call(state, "user.current", user=7).result["ID"] == "7"
    assert fail(state, "user.current", {}, user=999).code == "INVALID_CREDENTIALS"


# -- user.update ----------------------------------------------------------------------------


def _active(state: PortalState, user_id: int) -> bool:
    return bool(call(state, "user.get", {"ID": user_id}).result[0]["ACTIVE"])


def test_user_update_fires_and_rehires(state: PortalState) -> None:
    assert call(state, "user.update", {"ID": 42, "ACTIVE": "N"}).result is True
    assert not _active(state, 42)
    entry = state.ledger[-1]
    assert (entry.method, entry.actor, entry.target) == ("user.update", 1, "user:42")
    assert entry.change == {"ACTIVE": "N"}
    assert call(state, "user.update", {"id": "42", "active": "Y"}).result is True
    assert _active(state, 42)
    assert len(state.ledger) == 2


@pytest.mark.parametrize("value", [False, 0, "0", "", None, "N", True])
def test_user_update_values_that_fire(state: PortalState, value: Any) -> None:
    # JSON true fires too: CORE tests `$v != 'N'` loosely and PHP compares bool to string as bools
    call(state, "user.update", {"ID": 9, "ACTIVE": value})
    assert not _active(state, 9)
    assert state.ledger[-1].change == {"ACTIVE": "N"}


@pytest.mark.parametrize("value", ["false", "Y", "yes", 1, "n", [1]])
def test_user_update_values_that_hire(state: PortalState, value: Any) -> None:
    call(state, "user.update", {"ID": 17, "ACTIVE": value})
    assert _active(state, 17)
    assert state.ledger[-1].change == {"ACTIVE": "Y"}


def test_user_update_other_fields(state: PortalState) -> None:
    call(state, "user.update", {"ID": 5, "NAME": "Zoe", "UF_DEPARTMENT": "7", "FOO": "x"})
    row = call(state, "user.get", {"ID": 5}).result[0]
    assert (row["NAME"], row["UF_DEPARTMENT"]) == ("Zoe", [7])
    assert "FOO" not in row
    assert state.ledger[-1].change == {"NAME": "Zoe", "UF_DEPARTMENT": [7]}


def test_user_update_of_someone_else_needs_the_admin(state: PortalState) -> None:
    error = fail(state, "user.update", {"ID": 5, "NAME": "x"}, user=6)
    assert (error.status, error.code, error.description) == (400, "ERROR_CORE", "access_denied")
    assert state.ledger == []


@pytest.mark.parametrize("params", [{}, {"ID": 0}, {"ID": "abc"}, {"ID": 999, "NAME": "x"}])
def test_user_update_needs_a_real_id(state: PortalState, params: dict[str, Any]) -> None:
    error = fail(state, "user.update", params)
    assert (error.status, error.code, error.description) == (400, "ERROR_CORE", "access_denied")


def test_user_update_of_self_drops_active_and_departments(state: PortalState) -> None:
    before = call(state, "user.get", {"ID": 6}).result[0]
    params = {"ID": 6, "ACTIVE": "N", "UF_DEPARTMENT": [9], "WORK_POSITION": "Boss"}
    assert call(state, "user.update", params, user=6).result is True
    after = call(state, "user.get", {"ID": 6}).result[0]
    assert after["ACTIVE"] is True
    assert after["UF_DEPARTMENT"] == before["UF_DEPARTMENT"]
    assert after["WORK_POSITION"] == "Boss"
    assert state.ledger[-1].change == {"WORK_POSITION": "Boss"}


def test_user_update_is_seen_by_cached_queries(state: PortalState) -> None:
    assert call(state, "user.get", {"FILTER": {"ACTIVE": True}}).total == 57
    call(state, "user.update", {"ID": 2, "ACTIVE": "N"})
    assert call(state, "user.get", {"FILTER": {"ACTIVE": True}}).total == 56


# -- department.get -------------------------------------------------------------------------


def test_department_get(state: PortalState) -> None:
    root = call(state, "department.get", {"ID": "1"})
    assert root.result == [{"ID": "1", "NAME": "Company", "SORT": 500, "UF_HEAD": "1"}]
    assert root.total == 1
    children = call(state, "department.get", {"parent": 3}).result
    assert [row["NAME"] for row in children] == ["Backend", "Frontend", "QA"]
    assert all(row["PARENT"] == "3" for row in children)
    assert call(state, "department.get").total == 12


# -- calendar.accessibility.get -------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"to": "2026-01-11", "users": [1]}, "from"),
        ({"from": "2026-01-05", "users": [1]}, "to"),
        ({**WEEK}, "users"),
        ({**WEEK, "users": []}, "users"),
        ({"from": "0", "to": "2026-01-11", "users": [1]}, "from"),
        ({"FROM": "2026-01-05", "to": "2026-01-11", "users": [1]}, "from"),
        ({}, "from"),
    ],
)
def test_accessibility_missing_params(
    state: PortalState, params: dict[str, Any], param: str
) -> None:
    error = fail(state, "calendar.accessibility.get", params)
    assert (error.status, error.code) == (400, "")
    assert error.description == missing(param, "calendar.accessibility.get")


def test_accessibility_shape_matches_the_docs(state: PortalState) -> None:
    documented = fixture("seed002_accessibility_docs.json")["result"]["1"][0]
    result = call(state, "calendar.accessibility.get", {**WEEK, "users": [1, 2, 999]}).result
    assert list(result) == ["1", "2", "999"]
    assert result["999"] == []
    entries = [entry for entry in result["1"] if "FROM_HR" not in entry]
    assert entries
    for entry in entries:
        assert list(entry) == list(documented)
        for key, value in documented.items():
            if key != "EVENT_TYPE":
                assert type(entry[key]) is type(value), key
        assert entry["ACCESSIBILITY"] in ("busy", "absent", "quest")
        assert entry["IMPORTANCE"] in ("high", "normal", "low")
        assert entry["EVENT_TYPE"] in (None, "#shared#", "#collab#", "#shared_collab#")
        assert entry["DT_SKIP_TIME"] in ("Y", "N")


def test_accessibility_skips_free_entries(state: PortalState) -> None:
    result = call(state, "calendar.accessibility.get", {**WEEK, "users": list(range(1, 61))})
    free = {
        str(event.id)
        for user in range(1, 61)
        for event in state.events_of(user, ANCHOR, ANCHOR + dt.timedelta(days=6))
        if event.accessibility == "free"
    }
    assert free
    shown = {entry["ID"] for entries in result.result.values() for entry in entries}
    assert not free & shown


def _meeting_in_week(state: PortalState, status: str) -> tuple[int, MeetingView]:
    low = int(dt.datetime(2026, 1, 5, tzinfo=dt.timezone.utc).timestamp())
    for user in range(1, 61):
        for view in state.meetings_of(user):
            if view.status == status and low <= view.start_ts < low + 5 * 86400:
                return user, view
    raise AssertionError(status)


@pytest.mark.parametrize(
    ("status", "shown"), [("H", True), ("Y", True), ("N", False), ("Q", False)]
)
def test_accessibility_meetings_by_status(state: PortalState, status: str, shown: bool) -> None:
    user, view = _meeting_in_week(state, status)
    entries = call(state, "calendar.accessibility.get", {**WEEK, "users": [user]}).result
    assert (str(view.event_id) in {entry["ID"] for entry in entries[str(user)]}) is shown


def test_accessibility_follows_answers(state: PortalState) -> None:
    user, view = _meeting_in_week(state, "Q")
    call(state, "calendar.meeting.status.set", {"eventId": view.event_id, "status": "Y"}, user=user)
    entries = call(state, "calendar.accessibility.get", {**WEEK, "users": [user]}).result
    assert str(view.event_id) in {entry["ID"] for entry in entries[str(user)]}


def test_accessibility_hr_absences(state: PortalState) -> None:
    documented = fixture("constructed_accessibility_quirks.json")["result"]["7"][1]
    (absence,) = state.hr_absences_of(5)
    day = absence.first_day.isoformat()
    entries = call(state, "calendar.accessibility.get", {"from": day, "to": day, "users": [5]})
    hr = [entry for entry in entries.result["5"] if entry.get("FROM_HR")]
    assert hr == [
        {
            "FROM_HR": True,
            "ID": "500005",
            "DT_FROM": absence.first_day.strftime("%d.%m.%Y"),
            "DT_TO": absence.last_day.strftime("%d.%m.%Y"),
            "ACCESSIBILITY": "absent",
            "IMPORTANCE": "normal",
            "FROM": int(dt.datetime.combine(absence.first_day, dt.time(), _MSK).timestamp()),
            "TO": int(dt.datetime.combine(absence.last_day, dt.time(), _MSK).timestamp()),
        }
    ]
    assert list(hr[0]) == list(documented)
    assert entries.result["5"][-1:] == hr  # after the calendar entries, as CORE appends them
    far = {"from": "2025-01-01", "to": "2025-01-02", "users": [5]}
    assert call(state, "calendar.accessibility.get", far).result == {"5": []}


def test_accessibility_user_list_quirks(state: PortalState) -> None:
    result = call(state, "calendar.accessibility.get", {**WEEK, "users": ["2", 0, "x", 2, "3"]})
    assert list(result.result) == ["2", "3"]
    assert call(state, "calendar.accessibility.get", {**WEEK, "users": [0, "x"]}).result == []
    assert call(state, "calendar.accessibility.get", {**WEEK, "users": "2"}).result == []
    as_dict = call(state, "calendar.accessibility.get", {**WEEK, "users": {"5": "4"}}).result
    assert list(as_dict) == ["4"]


def test_accessibility_date_formats(state: PortalState) -> None:
    plain = call(state, "calendar.accessibility.get", {**WEEK, "users": [3]}).result
    for dates in (
        {"from": "2026-01-05T18:33:57.885176", "to": "2026-01-11T01:00:00"},
        {"from": "05.01.2026", "to": "11.01.2026"},
        {"from": "2026-01-05T00:30:00+03:00", "to": "2026-01-10T22:00:00Z"},
    ):
        assert call(state, "calendar.accessibility.get", {**dates, "users": [3]}).result == plain
    backwards = {"from": "2026-01-11", "to": "2026-01-05", "users": [3]}
    assert call(state, "calendar.accessibility.get", backwards).result == {"3": []}


def test_accessibility_offsets_are_relative_to_the_viewer(state: PortalState) -> None:
    result = call(state, "calendar.accessibility.get", {**WEEK, "users": list(range(1, 61))})
    seen = 0
    for entries in result.result.values():
        for entry in entries:
            if entry.get("DT_SKIP_TIME") != "N":
                continue
            if entry["TZ_FROM"] == "Europe/Moscow":  # user 1 is in Moscow too
                assert entry["~USER_OFFSET_FROM"] == 0
            if entry["TZ_FROM"] == "America/Managua":
                assert entry["~USER_OFFSET_FROM"] == -9 * 3600
                seen += 1
    assert seen


def test_accessibility_for_5000_users() -> None:
    state = PortalState.seeded(users=5000, seed=2, anchor=ANCHOR)
    result = call(state, "calendar.accessibility.get", {**WEEK, "users": list(range(1, 5001))})
    assert len(result.result) == 5000


# -- calendar.meeting.status.get / set ------------------------------------------------------


def test_meeting_status_get_for_every_role(state: PortalState) -> None:
    for status in ("H", "Y", "N", "Q"):
        user, view = _meeting_in_week(state, status)
        for event_id in (view.event_id, view.parent_id, str(view.event_id)):
            result = call(state, "calendar.meeting.status.get", {"eventId": event_id}, user=user)
            assert result.result == status
    assert fixture("seed000_meeting_status_get.json")["result"] == "H"


@pytest.mark.parametrize("params", [{}, {"eventId": 0}, {"eventId": ""}, {"eventid": 1000}])
def test_meeting_status_get_missing_event(state: PortalState, params: dict[str, Any]) -> None:
    error = fail(state, "calendar.meeting.status.get", params)
    assert (error.status, error.code) == (400, "")
    assert error.description == missing("eventId", "calendar.meeting.status.get")


def test_meeting_status_get_of_strangers_and_non_meetings(state: PortalState) -> None:
    _user, view = _meeting_in_week(state, "Y")
    entry = state.find_event(view.event_id)
    assert entry is not None
    assert entry.meeting is not None
    outsider = next(u for u in range(1, 61) if u not in entry.meeting.attendee_ids)
    plain = next(e for e in state.events_of(3, None, None) if e.meeting is None)
    for event_id, user in ((view.event_id, outsider), (plain.id, 3), (123456789, 1), ("x", 1)):
        error = fail(state, "calendar.meeting.status.get", {"eventId": event_id}, user=user)
        assert (error.status, error.code) == (400, "")
        assert error.description == "An error occurred while retrieving the status"


def test_meeting_status_set(state: PortalState) -> None:
    user, view = _meeting_in_week(state, "Q")
    params = {"eventId": view.parent_id, "status": "y"}
    assert call(state, "calendar.meeting.status.set", params, user=user).result is True
    get = {"eventId": view.event_id}
    assert call(state, "calendar.meeting.status.get", get, user=user).result == "Y"
    entry = state.ledger[-1]
    assert (entry.method, entry.actor) == ("calendar.meeting.status.set", user)
    assert entry.target == f"event:{view.parent_id}"
    assert entry.change == {"MEETING_STATUS": "Y", "PARENT_ID": view.parent_id}


@pytest.mark.parametrize(
    ("params", "text"),
    [
        ({"status": "Y"}, missing("eventId", "calendar.meeting.status.set")),
        ({"eventId": 1000}, missing("status", "calendar.meeting.status.set")),
        ({"eventId": 1000, "status": "H"}, 'Invalid value for the parameter "status"'),
        ({"eventId": 1000, "status": "yes"}, 'Invalid value for the parameter "status"'),
        ({"eventId": 1000, "status": ["Y"]}, 'Invalid value for the parameter "status"'),
    ],
)
def test_meeting_status_set_errors(state: PortalState, params: dict[str, Any], text: str) -> None:
    error = fail(state, "calendar.meeting.status.set", params)
    assert (error.status, error.code, error.description) == (400, "", text)


def test_meeting_status_set_no_ops_still_answer_true(state: PortalState) -> None:
    host, hosted = _meeting_in_week(state, "H")
    params = {"eventId": hosted.event_id, "status": "N"}
    assert call(state, "calendar.meeting.status.set", params, user=host).result is True
    get = {"eventId": hosted.event_id}
    assert call(state, "calendar.meeting.status.get", get, user=host).result == "H"
    entry = state.find_event(hosted.event_id)
    assert entry is not None
    assert entry.meeting is not None
    outsider = next(u for u in range(1, 61) if u not in entry.meeting.attendee_ids)
    assert call(state, "calendar.meeting.status.set", params, user=outsider).result is True
    assert call(state, "calendar.meeting.status.set", {"eventId": 5, "status": "Y"}).result is True
    assert state.ledger == []


# -- calendar.event.add / get ---------------------------------------------------------------

_NEW = {
    "type": "user",
    "ownerId": 2,
    "name": " Review ",
    "from": "2026-01-07T10:00:00",
    "to": "2026-01-07T11:00:00",
}


def test_event_add_is_not_idempotent(state: PortalState) -> None:
    first = call(state, "calendar.event.add", _NEW, user=2).result
    second = call(state, "calendar.event.add", _NEW, user=2).result
    assert type(first) is int
    assert second == first + 1
    assert [entry.target for entry in state.ledger] == [f"event:{first}", f"event:{second}"]
    assert state.ledger[0].change["NAME"] == "Review"
    entry = state.find_event(first)
    assert entry is not None
    assert entry.owner_id == 2
    assert entry.date_from == "07.01.2026 10:00:00"


def test_event_add_shows_in_accessibility_and_event_get(state: PortalState) -> None:
    new_id = str(call(state, "calendar.event.add", {**_NEW, "importance": "high"}, user=2).result)
    busy = call(state, "calendar.accessibility.get", {**WEEK, "users": [2]}).result["2"]
    assert new_id in {entry["ID"] for entry in busy}
    listed = call(state, "calendar.event.get", {"type": "user", "ownerId": 2, **WEEK}).result
    (row,) = [row for row in listed if row["ID"] == new_id]
    assert (row["NAME"], row["IMPORTANCE"], row["IS_MEETING"]) == ("Review", "high", False)


@pytest.mark.parametrize("drop", ["from", "to", "name", "ownerId", "type"])
def test_event_add_missing_params(state: PortalState, drop: str) -> None:
    params = {key: value for key, value in _NEW.items() if key != drop}
    error = fail(state, "calendar.event.add", params, user=2)
    assert (error.status, error.code) == (400, "")
    assert error.description == missing(drop, "calendar.event.add")
    assert state.ledger == []


def test_event_add_takes_timestamps_and_all_day(state: PortalState) -> None:
    params = {**_NEW, "from_ts": 1767772800, "to_ts": 1767776400}
    del params["from"], params["to"]
    new_id = call(state, "calendar.event.add", params, user=2).result
    entry = state.find_event(new_id)
    assert entry is not None
    assert (entry.start_ts, entry.end_ts) == (1767772800, 1767776400)
    day = {**_NEW, "from": "2026-01-08", "to": "2026-01-08", "skip_time": "Y"}
    all_day = state.find_event(call(state, "calendar.event.add", day, user=2).result)
    assert all_day is not None
    assert (all_day.all_day, all_day.date_from, all_day.tz_from) == (True, "08.01.2026", "")


def test_event_add_into_someone_elses_calendar(state: PortalState) -> None:
    error = fail(state, "calendar.event.add", _NEW, user=3)
    assert (error.status, error.code, error.description) == (400, "", "Access denied")
    assert type(call(state, "calendar.event.add", _NEW, user=1).result) is int
    wrong = fail(state, "calendar.event.add", {**_NEW, "type": "group"}, user=2)
    assert wrong.description == "CAL_REST_SECTION_ERROR"


def test_event_add_meeting_invites_attendees(state: PortalState) -> None:
    params = {**_NEW, "is_meeting": "Y", "attendees": [2, 3, "4"], "host": 2}
    parent = call(state, "calendar.event.add", params, user=2).result
    get = {"eventId": parent}
    assert call(state, "calendar.meeting.status.get", get, user=2).result == "H"
    assert call(state, "calendar.meeting.status.get", get, user=3).result == "Q"
    busy = call(state, "calendar.accessibility.get", {**WEEK, "users": [3]}).result["3"]
    assert str(parent + 1) not in {entry["ID"] for entry in busy}
    call(state, "calendar.meeting.status.set", {"eventId": parent, "status": "Y"}, user=3)
    busy = call(state, "calendar.accessibility.get", {**WEEK, "users": [3]}).result["3"]
    assert str(parent + 1) in {entry["ID"] for entry in busy}
    rows = call(state, "calendar.event.get", {"type": "user", "ownerId": 4, **WEEK}).result
    (row,) = [row for row in rows if row["PARENT_ID"] == str(parent)]
    assert row["MEETING_STATUS"] == "Q"
    assert row["ATTENDEE_LIST"] == [
        {"id": 2, "entryId": str(parent), "status": "H"},
        {"id": 3, "entryId": str(parent + 1), "status": "Y"},
        {"id": 4, "entryId": str(parent + 2), "status": "Q"},
    ]


def test_event_get(state: PortalState) -> None:
    rows = call(state, "calendar.event.get", {"type": "user", "ownerId": 3, **WEEK}).result
    assert rows
    assert [int(row["DATE_FROM_TS_UTC"]) for row in rows] == sorted(
        int(row["DATE_FROM_TS_UTC"]) for row in rows
    )
    assert any(row["ACCESSIBILITY"] == "free" for row in rows)
    for row in rows:
        assert row["OWNER_ID"] == "3"
        assert row["DT_LENGTH"] > 0
        assert isinstance(row["IS_MEETING"], bool)
    default_window = call(state, "calendar.event.get", {"type": "user", "ownerId": 3}).result
    assert len(default_window) > len(rows)
    other = {"type": "user", "ownerId": 3, "section": [1], **WEEK}
    assert call(state, "calendar.event.get", other).result == []
    assert call(state, "calendar.event.get", {"type": "group", "ownerId": 3}).result == []
    error = fail(state, "calendar.event.get", {"ownerId": 3})
    assert error.description == missing("type", "calendar.event.get")


# -- im.user.status.set / get ---------------------------------------------------------------


@pytest.mark.parametrize("status", ["online", "dnd", "away", "break"])
def test_im_status_set(state: PortalState, status: str) -> None:
    assert call(state, "im.user.status.set", {"status": status}, user=6).result is True
    assert call(state, "im.user.status.get", user=6).result == status
    entry = state.ledger[-1]
    assert (entry.target, entry.change) == ("im_status:6", {"STATUS": status})
    assert fixture("seed001_im_user_status_set.json")["result"] is True


@pytest.mark.parametrize("params", [{}, {"STATUS": "Online"}, {"STATUS": "busy"}, {"STATUS": 1}])
def test_im_status_set_rejects(state: PortalState, params: dict[str, Any]) -> None:
    error = fail(state, "im.user.status.set", params)
    assert (error.status, error.code, error.description) == (
        400,
        "STATUS_ERROR",
        "Status is not available",
    )
    assert state.ledger == []


def test_im_status_get_seeded(state: PortalState) -> None:
    assert call(state, "im.user.status.get").result == "online"
    assert call(state, "im.user.status.get", user=6).result is False
