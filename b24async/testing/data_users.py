"""Seeded people of the fake portal: user records and the department tree.

Pure functions of their arguments (``random.Random`` seeded from them); no clock, no I/O.
Users are generated eagerly in ID order from one stream, so a user's record depends only on
``(seed, anchor, user id)``, not on the portal's size. Re-exported by
:mod:`b24async.testing.data`, the seeded data's one import path.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

import attrs

__all__ = ["USER_FIELDS", "Department", "make_departments", "make_users"]

# fmt: off
_FIRST_M = (
    "James", "John", "Robert", "Michael", "William", "David", "Richard", "Joseph", "Thomas",
    "Charles", "Daniel", "Matthew", "Anthony", "Mark", "Paul", "Steven", "Andrew", "Kevin",
)
_FIRST_F = (
    "Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara", "Susan", "Jessica", "Sarah",
    "Karen", "Nancy", "Lisa", "Sandra", "Ashley", "Emily", "Anna", "Laura", "Olivia",
)
_LAST = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Wilson",
    "Anderson", "Taylor", "Moore", "Jackson", "Martin", "Lee", "Thompson", "White", "Harris",
    "Clark", "Lewis", "Walker", "Hall", "Young", "King", "Wright", "Scott", "Green", "Baker",
)
# Some users have Cyrillic names (with a transliterated e-mail) so clients meet non-ASCII data.
_RU_FIRST_M = (
    ("Иван", "ivan"), ("Алексей", "aleksey"), ("Дмитрий", "dmitriy"), ("Сергей", "sergey"),
)
_RU_FIRST_F = (("Анна", "anna"), ("Мария", "mariya"), ("Елена", "elena"), ("Ольга", "olga"))
_RU_LAST = (
    ("Иванов", "ivanov"), ("Петров", "petrov"), ("Смирнов", "smirnov"), ("Попов", "popov"),
)
_POSITIONS = (
    "Manager", "Developer", "Senior developer", "QA engineer", "Designer", "Accountant",
    "Sales manager", "Support engineer", "Analyst", "Team lead", "HR specialist",
)
# fmt: on
# (id, name, parent): a root, five divisions, six teams. Users join teams or divisions.
_DEPARTMENTS = (
    (1, "Company", None),
    (2, "Sales", 1),
    (3, "Engineering", 1),
    (4, "Marketing", 1),
    (5, "Finance", 1),
    (6, "Support", 1),
    (7, "Backend", 3),
    (8, "Frontend", 3),
    (9, "QA", 3),
    (10, "Sales East", 2),
    (11, "Sales West", 2),
    (12, "Support L1", 6),
)
_MEMBER_DEPARTMENTS = tuple(d[0] for d in _DEPARTMENTS if d[0] != 1)

USER_FIELDS = (
    "ID", "XML_ID", "ACTIVE", "NAME", "LAST_NAME", "SECOND_NAME", "EMAIL", "LAST_LOGIN",
    "DATE_REGISTER", "TIME_ZONE", "IS_ONLINE", "TIME_ZONE_OFFSET", "PERSONAL_GENDER",
    "PERSONAL_BIRTHDAY", "WORK_POSITION", "WORK_PHONE", "UF_DEPARTMENT", "UF_PHONE_INNER",
    "USER_TYPE",
)  # fmt: skip
"""The fields of a user record, in output order."""


@attrs.frozen
class Department:
    """One ``department.get`` row: ``ID``, ``NAME``, ``SORT``, ``PARENT``, ``UF_HEAD``."""

    id: int
    name: str
    sort: int
    parent: int | None
    head: int


def make_departments(users: Sequence[dict[str, Any]]) -> list[Department]:
    """The fixed department tree; each head is the lowest-ID active member (``0`` if none)."""
    heads: dict[int, int] = {}
    for user in users:
        if not user["ACTIVE"]:
            continue
        for dep in user["UF_DEPARTMENT"]:
            heads.setdefault(dep, int(user["ID"]))
    return [
        Department(id=dep_id, name=name, sort=500, parent=parent, head=heads.get(dep_id, 0))
        for dep_id, name, parent in _DEPARTMENTS
    ]


def make_users(count: int, seed: int, anchor: dt.date, portal_tz: ZoneInfo) -> list[dict[str, Any]]:
    """``count`` user records (IDs 1..count) in ``user.get`` output form.

    Every 17th user is fired (``ACTIVE`` false); user 1 is the admin of department 1.
    """
    rng = random.Random(seed)
    anchor_ts = int(dt.datetime.combine(anchor, dt.time(), portal_tz).timestamp())
    day_cache: dict[int, str] = {}
    users: list[dict[str, Any]] = []
    for uid in range(1, count + 1):
        female = rng.random() < 0.5
        if rng.random() < 0.12:
            first, first_lat = rng.choice(_RU_FIRST_F if female else _RU_FIRST_M)
            last, last_lat = rng.choice(_RU_LAST)
            if female:
                last, last_lat = last + "а", last_lat + "a"
        else:
            first = first_lat = rng.choice(_FIRST_F if female else _FIRST_M)
            last = last_lat = rng.choice(_LAST)
        if uid == 1:
            departments = [1]
        else:
            departments = [rng.choice(_MEMBER_DEPARTMENTS)]
            if rng.random() < 0.08:
                second = rng.choice(_MEMBER_DEPARTMENTS)
                if second != departments[0]:
                    departments.append(second)
        active = uid % 17 != 0
        registered_days = rng.randrange(30, 2500)
        login_ts = anchor_ts - rng.randrange(600, 30 * 86400) - (0 if active else 90 * 86400)
        if registered_days not in day_cache:
            day = anchor - dt.timedelta(days=registered_days)
            day_cache[registered_days] = dt.datetime.combine(day, dt.time(), portal_tz).isoformat()
        users.append(
            {
                "ID": str(uid),
                "XML_ID": "",
                "ACTIVE": active,
                "NAME": first,
                "LAST_NAME": last,
                "SECOND_NAME": "",
                "EMAIL": f"{first_lat}.{last_lat}{uid}@example.com".lower(),
                "LAST_LOGIN": dt.datetime.fromtimestamp(login_ts, portal_tz).isoformat(),
                "DATE_REGISTER": day_cache[registered_days],
                "TIME_ZONE": "",
                "IS_ONLINE": "Y" if active and rng.random() < 0.2 else "N",
                "TIME_ZONE_OFFSET": "0",
                "PERSONAL_GENDER": "F" if female else "M",
                "PERSONAL_BIRTHDAY": "",
                "WORK_POSITION": "Portal administrator" if uid == 1 else rng.choice(_POSITIONS),
                "WORK_PHONE": "",
                "UF_DEPARTMENT": departments,
                "UF_PHONE_INNER": str(1000 + uid),
                "USER_TYPE": "employee",
            }
        )
    return users
