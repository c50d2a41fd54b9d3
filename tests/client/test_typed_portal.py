"""Every typed request round-trips through the fake portal, alone and inside batch."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from b24async import (
    Availability,
    Bitrix24,
    MethodError,
    ParticipationStatus,
    User,
    UserStatus,
)
from b24async.methods import (
    GetAccessibility,
    GetParticipationStatus,
    GetUsers,
    GetUserStatus,
    SetParticipationStatus,
    SetUserActive,
    SetUserStatus,
)
from b24async.testing import FakePortal

ANCHOR = dt.date(2026, 1, 5)  # a Monday; the seeded calendar is built around it
WEEK = (ANCHOR, ANCHOR + dt.timedelta(days=6))


async def test_accessibility_alone_matches_raw_call() -> None:
    async with FakePortal(anchor=ANCHOR) as portal, Bitrix24(portal.webhook_url) as b24:
        busy = await b24(GetAccessibility(users=[1, 2, 34], start=WEEK[0], end=WEEK[1]))
        raw = await b24.call(
            "calendar.accessibility.get",
            {"users": [1, 2, 34], "from": WEEK[0], "to": WEEK[1]},
        )
    assert isinstance(busy, Availability)
    assert set(busy) == {1, 2, 34}
    assert busy[1], "the seeded calendar gives user 1 events in the anchor week"
    for user in (1, 2, 34):
        wire_ids = {str(e["ID"]) for e in raw.result[str(user)]}
        assert {str(i.id) for i in busy[user]} == wire_ids
        starts = [i.start for i in busy[user]]
        assert starts == sorted(starts)
        assert all(i.start.tzinfo is not None for i in busy[user])


async def test_common_free_slots_against_the_portal() -> None:
    async with FakePortal(anchor=ANCHOR) as portal, Bitrix24(portal.webhook_url) as b24:
        busy = await b24(GetAccessibility(users=[1, 2, 3], start=WEEK[0], end=WEEK[1]))
    start = dt.datetime.combine(WEEK[0], dt.time(0), tzinfo=dt.timezone.utc)
    slots = busy.common_free_slots(
        [1, 2, 3], start, start + dt.timedelta(days=5), dt.timedelta(minutes=30)
    )
    assert slots
    for slot in slots:
        assert all(busy.is_free(u, slot.start, slot.end) for u in (1, 2, 3))


async def test_participation_status_get_and_set() -> None:
    async with FakePortal(anchor=ANCHOR) as portal, Bitrix24(portal.webhook_url) as b24:
        meetings = portal.state.meetings_of(1)
        hosted = next(m for m in meetings if m.status == "H")
        invited = next(m for m in meetings if m.status in ("Y", "N", "Q"))
        assert (
            await b24(GetParticipationStatus(event_id=hosted.event_id)) is ParticipationStatus.HOST
        )
        assert (
            await b24(SetParticipationStatus(invited.event_id, ParticipationStatus.DECLINED))
            is True
        )
        status = await b24(GetParticipationStatus(event_id=invited.event_id))
        assert status is ParticipationStatus.DECLINED
        with pytest.raises(MethodError):
            await b24(GetParticipationStatus(event_id=999_999_999))


async def test_user_status_set_and_get() -> None:
    async with FakePortal() as portal, Bitrix24(portal.webhook_url) as b24:
        assert await b24(SetUserStatus(UserStatus.DND)) is True
        assert await b24(GetUserStatus()) is UserStatus.DND
        assert portal.ledger[-1].target == "im_status:1"


async def test_fire_and_reactivate_user() -> None:
    async with FakePortal() as portal, Bitrix24(portal.webhook_url) as b24:
        assert await b24(SetUserActive(user_id=5, active=False)) is True
        (fired,) = await b24(GetUsers(filter={"ID": 5}))
        assert fired.active is False
        assert await b24(SetUserActive(user_id=5, active=True)) is True
        (back,) = await b24(GetUsers(filter={"ID": 5}))
        assert back.active is True
        # A raw True is sent as "Y": it can never fire a user by accident.
        await b24.call("user.update", {"ID": 6, "ACTIVE": True})
        (six,) = await b24(GetUsers(filter={"ID": 6}))
        assert six.active is True


async def test_every_typed_request_inside_batch() -> None:
    async with FakePortal(anchor=ANCHOR) as portal, Bitrix24(portal.webhook_url) as b24:
        hosted = next(m for m in portal.state.meetings_of(1) if m.status == "H")
        res = await b24.batch(
            {
                "busy": GetAccessibility(users=[1, 2], start=WEEK[0], end=WEEK[1]),
                "part": GetParticipationStatus(event_id=hosted.event_id),
                "set_part": SetParticipationStatus(hosted.event_id, "Y"),
                "im_set": SetUserStatus("away"),
                "im_get": GetUserStatus(),
                "fire": SetUserActive(user_id=7, active=False),
                "users": GetUsers(filter={"ID": 7}),
            },
            halt=True,
        )
        assert res.ok, res.errors
        assert isinstance(res["busy"], Availability) and set(res["busy"]) == {1, 2}
        assert res["part"] is ParticipationStatus.HOST
        assert res["set_part"] is True and res["im_set"] is True and res["fire"] is True
        assert res["im_get"] is UserStatus.AWAY  # commands run in order
        (user,) = res["users"]
        assert isinstance(user, User) and user.id == 7 and user.active is False
        assert portal.stats.requests == 1


async def test_paginate_typed_users() -> None:
    async with FakePortal(users=180) as portal, Bitrix24(portal.webhook_url) as b24:
        users = [u async for u in b24.paginate(GetUsers())]
    assert [u.id for u in users] == list(range(1, 181))
    assert all(isinstance(u, User) for u in users)


async def test_concurrent_typed_availability_is_merged() -> None:
    async with FakePortal(users=400, anchor=ANCHOR) as portal, Bitrix24(portal.webhook_url) as b24:
        answers = await asyncio.gather(
            *(b24(GetAccessibility(users=[u], start=WEEK[0], end=WEEK[1])) for u in range(1, 401))
        )
        assert [set(a) for a in answers] == [{u} for u in range(1, 401)]
        assert portal.stats.requests == 1  # 400 users = 8 commands in one batch


async def test_progress_of_a_large_availability_query() -> None:
    seen: list[tuple[int, int]] = []
    async with FakePortal(users=500, anchor=ANCHOR) as portal, Bitrix24(portal.webhook_url) as b24:
        query = GetAccessibility(users=list(range(1, 501)), start=WEEK[0], end=WEEK[1])
        busy = await b24(query, progress=lambda done, total: seen.append((done, total)))
    assert len(busy) == 500
    assert len(seen) == 10  # one report per 50-user command
    assert seen[-1] == (500, 500)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


async def test_a_lone_large_read_is_spread_over_concurrent_requests() -> None:
    """40+ commands on an idle client: several requests, same typed answer as one request."""
    users = range(1, 201)
    async with FakePortal(users=200, anchor=ANCHOR) as portal:
        async with Bitrix24(portal.webhook_url, users_per_command=5) as b24:
            spread = await b24(GetAccessibility(users=users, start=WEEK[0], end=WEEK[1]))
        assert portal.stats.requests == 8  # 40 commands, first read: 8 parts (see spreading)
        assert sum(portal.stats.commands.values()) == 40
        async with Bitrix24(portal.webhook_url) as b24:
            whole = await b24(GetAccessibility(users=users, start=WEEK[0], end=WEEK[1]))
        assert portal.stats.requests == 9  # 4 commands: one request
    assert spread == whole and sum(len(v) for v in whole.values()) > 0


async def test_a_fan_in_does_not_spread() -> None:
    """400 single-user calls at 5 users a command: 80 commands in the fewest requests (2)."""
    async with (
        FakePortal(users=400, anchor=ANCHOR) as portal,
        Bitrix24(portal.webhook_url, users_per_command=5) as b24,
    ):
        answers = await asyncio.gather(
            *(b24(GetAccessibility(users=[u], start=WEEK[0], end=WEEK[1])) for u in range(1, 401))
        )
        assert [set(a) for a in answers] == [{u} for u in range(1, 401)]
        assert portal.stats.requests == 2
