"""Typed requests: validation before sending, exact wire params, and parsing of recorded results."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from b24async.errors import DecodeError
from b24async.methods import (
    GetAccessibility,
    GetParticipationStatus,
    GetUsers,
    GetUserStatus,
    ListMethod,
    Method,
    SetParticipationStatus,
    SetUserActive,
    SetUserStatus,
)
from b24async.models import Availability, ParticipationStatus, User, UserStatus

FIXTURES = Path(__file__).parent.parent / "fixtures"
MOSCOW = ZoneInfo("Europe/Moscow")


def recorded(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))["result"]


def wire(request: Method[Any]) -> Any:
    """The params as the portal would receive them in a JSON body."""
    return json.loads(json.dumps(request.to_params()))


# --- exact wire params ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "api_method", "params"),
    [
        (
            GetAccessibility(users=[1, 2, 34], start=date(2025, 9, 10), end=date(2025, 9, 17)),
            "calendar.accessibility.get",
            {"users": [1, 2, 34], "from": "2025-09-10", "to": "2025-09-17"},
        ),
        (GetParticipationStatus(event_id=1014), "calendar.meeting.status.get", {"eventId": 1014}),
        (
            SetParticipationStatus(event_id=1014, status=ParticipationStatus.DECLINED),
            "calendar.meeting.status.set",
            {"eventId": 1014, "status": "N"},
        ),
        (
            SetParticipationStatus(7, "q"),
            "calendar.meeting.status.set",
            {"eventId": 7, "status": "Q"},
        ),
        (SetUserStatus(UserStatus.DND), "im.user.status.set", {"STATUS": "dnd"}),
        (SetUserStatus("break"), "im.user.status.set", {"STATUS": "break"}),
        (GetUserStatus(), "im.user.status.get", {}),
        (SetUserActive(user_id=2164, active=False), "user.update", {"ID": 2164, "ACTIVE": "N"}),
        (SetUserActive.reactivate(2164), "user.update", {"ID": 2164, "ACTIVE": "Y"}),
        (GetUsers(), "user.get", {"SORT": "ID", "ORDER": "ASC"}),
        (
            GetUsers(filter={"UF_DEPARTMENT": 1}, active=True, order="desc"),
            "user.get",
            {"FILTER": {"UF_DEPARTMENT": 1, "ACTIVE": "Y"}, "SORT": "ID", "ORDER": "DESC"},
        ),
        (
            GetUsers(active=False, sort="LAST_NAME"),
            "user.get",
            {"FILTER": {"ACTIVE": "N"}, "SORT": "LAST_NAME", "ORDER": "ASC"},
        ),
        (
            GetUsers(
                filter={">=DATE_REGISTER": datetime(2024, 1, 1, tzinfo=MOSCOW), "@ID": {2, 1}}
            ),
            "user.get",
            {
                "FILTER": {">=DATE_REGISTER": "2024-01-01T00:00:00+03:00", "@ID": [1, 2]},
                "SORT": "ID",
                "ORDER": "ASC",
            },
        ),
    ],
)
def test_wire_params(request_: Method[Any], api_method: str, params: dict[str, Any]) -> None:
    assert request_.api_method == api_method
    assert request_.to_params() == params
    assert wire(request_) == params  # JSON-ready: survives a JSON round trip unchanged


def test_fire_is_active_false() -> None:
    assert SetUserActive.fire(2164) == SetUserActive(user_id=2164, active=False)


def test_firing_the_caller_is_refused_when_the_caller_is_given() -> None:
    with pytest.raises(ValueError, match=r"credentials act as that user.*locked out"):
        SetUserActive.fire(1, caller_id=1)
    with pytest.raises(ValueError, match="refusing to deactivate user 7"):
        SetUserActive(user_id=7, active=False, caller_id=7)
    # Someone else, re-activating oneself, or no caller given: allowed, and the wire is the same.
    assert SetUserActive.fire(2, caller_id=1).to_params() == {"ID": 2, "ACTIVE": "N"}
    assert SetUserActive(user_id=1, active=True, caller_id=1).to_params()["ACTIVE"] == "Y"
    assert SetUserActive.fire(1).to_params() == {"ID": 1, "ACTIVE": "N"}
    with pytest.raises(TypeError, match="caller_id"):
        SetUserActive.fire(1, caller_id="1")  # type: ignore[arg-type]


def test_aware_datetimes_become_their_own_local_date() -> None:
    late_evening = datetime(2025, 9, 10, 23, 30, tzinfo=MOSCOW)  # 20:30 UTC, still the 10th
    past_midnight = datetime(2025, 9, 17, 0, 30, tzinfo=MOSCOW)  # 16 Sep 21:30 UTC
    request = GetAccessibility(users=[1], start=late_evening, end=past_midnight)
    assert request.to_params() == {"users": [1], "from": "2025-09-10", "to": "2025-09-17"}
    assert (request.start, request.end) == (date(2025, 9, 10), date(2025, 9, 17))


def test_users_are_deduplicated_in_order_and_accept_any_iterable() -> None:
    request = GetAccessibility(users=iter([5, 3, 5]), start=date(2025, 1, 1), end=date(2025, 1, 1))
    assert request.users == (5, 3)


def test_requests_are_frozen_and_hashable() -> None:
    request = GetUsers(filter={"UF_DEPARTMENT": 1})
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        request.sort = "NAME"  # type: ignore[misc]
    assert hash(request) == hash(GetUsers(filter={"UF_DEPARTMENT": 1}))
    assert request == GetUsers(filter={"UF_DEPARTMENT": 1})
    assert request != GetUsers(filter={"UF_DEPARTMENT": 2})


# --- round trip: wire params -> the same request --------------------------------------------------

IDS = st.integers(min_value=1, max_value=2**31)
DAYS = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1))


@settings(max_examples=100, deadline=None)
@given(st.lists(IDS, min_size=1, max_size=20), DAYS, st.integers(min_value=0, max_value=400))
def test_accessibility_params_round_trip(users: list[int], start: date, days: int) -> None:
    request = GetAccessibility(users=users, start=start, end=start + timedelta(days=days))
    params = wire(request)
    rebuilt = GetAccessibility(
        users=params["users"],
        start=date.fromisoformat(params["from"]),
        end=date.fromisoformat(params["to"]),
    )
    assert rebuilt == request
    assert params["users"] == list(dict.fromkeys(users))


@settings(max_examples=100, deadline=None)
@given(
    IDS,
    st.sampled_from(["Y", "N", "Q"]),
    IDS,
    st.booleans(),
    st.sampled_from(UserStatus.settable()),
)
def test_other_params_round_trip(
    event_id: int, letter: str, user_id: int, active: bool, status: UserStatus
) -> None:
    answer = SetParticipationStatus(event_id, letter)
    assert SetParticipationStatus(**_renamed(wire(answer), eventId="event_id")) == answer
    fire = SetUserActive(user_id=user_id, active=active)
    params = wire(fire)
    assert SetUserActive(user_id=params["ID"], active=params["ACTIVE"] == "Y") == fire
    assert SetUserStatus(wire(SetUserStatus(status))["STATUS"]) == SetUserStatus(status)


def _renamed(params: dict[str, Any], **names: str) -> dict[str, Any]:
    return {names.get(key, key): value for key, value in params.items()}


# --- validation: nothing invalid is ever built ----------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"users": []}, ValueError, "must not be empty"),
        ({"users": [1, True]}, TypeError, "bool"),
        ({"users": [1, "2"]}, TypeError, "must be an int"),
        ({"users": [1.0]}, TypeError, "must be an int"),
        ({"users": [0]}, ValueError, "positive"),
        ({"users": [-3]}, ValueError, "positive"),
        ({"users": 5}, TypeError, r"users=\[5\]"),
        ({"users": "12"}, TypeError, "list of user IDs"),
        ({"end": date(2025, 9, 9)}, ValueError, "before start"),
        ({"start": datetime(2025, 9, 10, 9)}, ValueError, "naive datetime"),
        ({"end": datetime(2025, 9, 17)}, ValueError, "naive datetime"),
        ({"start": "2025-09-10"}, TypeError, "date or an aware datetime"),
    ],
)
def test_get_accessibility_validation(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    args: dict[str, Any] = {"users": [1, 2], "start": date(2025, 9, 10), "end": date(2025, 9, 17)}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        GetAccessibility(**args)


def test_end_on_the_same_day_is_fine() -> None:
    GetAccessibility(users=[1], start=date(2025, 9, 10), end=date(2025, 9, 10))


@pytest.mark.parametrize(
    ("event_id", "error"),
    [(0, ValueError), (-1, ValueError), (True, TypeError), ("1014", TypeError)],
)
def test_event_id_validation(event_id: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="event_id"):
        GetParticipationStatus(event_id=event_id)
    with pytest.raises(error, match="event_id"):
        SetParticipationStatus(event_id=event_id, status="Y")


@pytest.mark.parametrize(
    ("status", "error", "match"),
    [
        ("H", ValueError, "can be read but not set"),
        (ParticipationStatus.HOST, ValueError, "can be read but not set"),
        (ParticipationStatus.UNKNOWN, ValueError, "'Y' \\(ACCEPTED\\), 'N' \\(DECLINED\\)"),
        ("yes", ValueError, "invalid participation status"),
        ("", ValueError, "invalid participation status"),
        (True, TypeError, "ParticipationStatus"),
    ],
)
def test_set_participation_status_validation(
    status: Any, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        SetParticipationStatus(event_id=1, status=status)


@pytest.mark.parametrize(
    ("status", "error", "match"),
    [
        ("DND", ValueError, "case-sensitive; use one of 'online', 'dnd', 'away', 'break'"),
        ("Online", ValueError, "case-sensitive"),
        ("busy", ValueError, "case-sensitive"),
        (UserStatus.UNKNOWN, ValueError, "cannot be set"),
        (1, TypeError, "UserStatus or str"),
    ],
)
def test_set_user_status_validation(status: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        SetUserStatus(status)


@pytest.mark.parametrize("active", ["false", "N", "Y", 0, 1, None])
def test_set_user_active_requires_a_real_bool(active: Any) -> None:
    with pytest.raises(TypeError, match="must be True or False"):
        SetUserActive(user_id=2164, active=active)


@pytest.mark.parametrize(
    ("user_id", "error"),
    [(0, ValueError), (True, TypeError), ("2164", TypeError), (2.0, TypeError)],
)
def test_set_user_active_user_id(user_id: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="user_id"):
        SetUserActive(user_id=user_id, active=False)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"active": "true"}, TypeError, "must be True or False"),
        ({"order": "up"}, ValueError, "'ASC' or 'DESC'"),
        ({"sort": ""}, TypeError, "field name"),
        ({"filter": [("ID", 1)]}, TypeError, "mapping"),
        ({"filter": {"ID": b"1"}}, TypeError, r"filter\[ID\]: cannot send a bytes"),
        ({"filter": {">LAST_LOGIN": datetime(2025, 1, 1)}}, ValueError, "naive datetime"),
        ({"filter": {"active": True}, "active": True}, ValueError, "not both"),
    ],
)
def test_get_users_validation(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        GetUsers(**kwargs)


def test_get_users_filter_is_a_copy() -> None:
    where = {"UF_DEPARTMENT": 1}
    request = GetUsers(filter=where)
    where["UF_DEPARTMENT"] = 2
    assert request.to_params()["FILTER"] == {"UF_DEPARTMENT": 1}


# --- parsing the recorded results -----------------------------------------------------------------


def test_seed001_set_status_result() -> None:
    assert SetUserStatus("dnd").parse(recorded("seed001_im_user_status_set.json")) is True


def test_seed004_fire_result() -> None:
    assert SetUserActive.fire(2164).parse(recorded("seed004_user_update_fire.json")) is True


def test_seed000_participation_result() -> None:
    result = recorded("seed000_meeting_status_get.json")
    assert GetParticipationStatus(event_id=1014).parse(result) is ParticipationStatus.HOST


def test_set_participation_status_result() -> None:
    assert SetParticipationStatus(1014, "Y").parse(True) is True


def test_bool_results_refuse_garbage() -> None:
    with pytest.raises(DecodeError, match=r"user\.update") as info:
        SetUserActive.fire(1).parse({"unexpected": "object"})
    assert json.loads(info.value.raw) == {"unexpected": "object"}  # the raw result is kept
    assert info.value.method == "user.update" and info.value.status == 200
    assert isinstance(info.value.__cause__, ValueError)  # the model's own reason


def test_a_bad_row_in_a_page_names_that_row() -> None:
    with pytest.raises(DecodeError, match="GetUsers") as info:
        GetUsers().parse([{"ID": "1"}])  # a row without the fields a User needs
    assert json.loads(info.value.raw) == {"ID": "1"} and info.value.method == "user.get"


def test_accessibility_result_has_every_requested_user() -> None:
    request = GetAccessibility(users=[1, 2, 34], start=date(2025, 9, 10), end=date(2025, 9, 17))
    result = request.parse(recorded("seed003_accessibility_opi.json"))
    assert isinstance(result, Availability)
    assert sorted(result) == [1, 2, 34]
    assert len(result[1]) == 2


def test_get_users_is_a_list_method() -> None:
    request = GetUsers(active=True)
    assert isinstance(request, ListMethod)
    assert "start" not in request.to_params()  # the paginator adds it
    rows = recorded("docs_user_get.json")
    assert request.parse_item(rows[0]) == User.from_wire(rows[0])
    assert [u.id for u in request.parse(rows)] == [1, 3]
    assert request.parse([]) == []


def test_docstrings_name_the_rest_method_and_doc_page() -> None:
    for cls in (
        GetAccessibility,
        GetParticipationStatus,
        SetParticipationStatus,
        SetUserStatus,
        GetUserStatus,
        SetUserActive,
        GetUsers,
    ):
        doc = cls.__doc__ or ""
        assert f"``{cls.api_method}``" in doc
        assert "https://apidocs.bitrix24.com/api-reference/" in doc
