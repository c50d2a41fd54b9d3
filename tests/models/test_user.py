"""User and messenger-status models: the docs' user.get example and the status values."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from b24async.methods import GetUsers, GetUserStatus
from b24async.models import User, UserStatus

FIXTURES = Path(__file__).parent.parent / "fixtures"
UTC = timezone.utc


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))["result"]


def test_docs_user_get_page_parses() -> None:
    first, second = GetUsers().parse(load("docs_user_get.json"))
    assert first == User(
        id=1,
        active=True,
        name="Вадим",
        last_name="Валеев",
        email="v.r.valeev@bitrix.com",
        departments=(1,),
        is_online=True,
        last_login=datetime(2024, 7, 25, 13, 6, 54, tzinfo=UTC),
        date_register=datetime(2024, 7, 15, tzinfo=UTC),
        user_type="employee",
        extra={
            "SECOND_NAME": "",
            "TIME_ZONE": "",
            "TIMESTAMP_X": {},
            "LAST_ACTIVITY_DATE": {},
            "PERSONAL_GENDER": "",
            "PERSONAL_WWW": "",
            "PERSONAL_BIRTHDAY": "2018-07-14T00:00:00+00:00",
            "PERSONAL_MOBILE": "",
            "PERSONAL_CITY": "",
            "WORK_PHONE": "",
            "WORK_POSITION": "",
            "UF_EMPLOYMENT_DATE": "",
        },
    )
    assert second.id == 3
    assert second.is_online is False
    assert second.last_login == datetime(2024, 7, 24, 9, 1, 55, tzinfo=UTC)
    assert "SECOND_NAME" not in second.extra
    assert hash(first) != hash(second)  # hashable although extra is a mapping


def test_fired_user_without_optional_fields() -> None:
    user = User.from_wire({"ID": "42", "ACTIVE": False, "LAST_LOGIN": "", "UF_DEPARTMENT": False})
    assert user == User(id=42, active=False)
    assert user.name is None
    assert user.is_online is None
    assert user.last_login is None
    assert user.departments == ()


@pytest.mark.parametrize(
    ("wire", "expected"), [([3, "5"], (3, 5)), ("7", (7,)), (None, ()), ("", ()), ([], ())]
)
def test_departments_shapes(wire: Any, expected: tuple[int, ...]) -> None:
    assert User.from_wire({"ID": 1, "ACTIVE": "Y", "UF_DEPARTMENT": wire}).departments == expected


@pytest.mark.parametrize(
    "raw",
    [
        {"ACTIVE": True},
        {"ID": "1"},
        {"ID": "1", "ACTIVE": "maybe"},
        {"ID": "1", "ACTIVE": True, "LAST_LOGIN": "yesterday"},
        {"ID": "1", "ACTIVE": True, "UF_DEPARTMENT": ["x"]},
        "user",
    ],
)
def test_broken_user_rows_raise(raw: Any) -> None:
    with pytest.raises(ValueError):
        User.from_wire(raw)


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("online", UserStatus.ONLINE),
        ("dnd", UserStatus.DND),
        ("away", UserStatus.AWAY),
        ("break", UserStatus.BREAK),
        ("vacation", UserStatus.UNKNOWN),
        ("DND", UserStatus.UNKNOWN),
        (False, None),
        (None, None),
        ("", None),
    ],
)
def test_user_status_get_results(wire: Any, expected: UserStatus | None) -> None:
    assert GetUserStatus().parse(wire) is expected


def test_user_status_values_are_lower_case_strings() -> None:
    assert [s.value for s in UserStatus.settable()] == ["online", "dnd", "away", "break"]
    assert UserStatus.DND == "dnd"
    assert str(UserStatus.BREAK) == "break"
