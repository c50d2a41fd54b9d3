"""batch(), coalescing, availability aggregation and paginate() against the fake portal with the
real standard-plan limits (2 requests/s, bucket 50). Counts, not clocks, are asserted."""

from __future__ import annotations

import asyncio
import gc
import json
import math
from collections import Counter

import pytest

from b24async import Bitrix24, MethodError, MethodNotFound, OperationTimeLimit, RateLimits, jsonio
from b24async.methods import GetUsers
from b24async.testing import FakePortal, LoopClock

WEEK = {"from": "2026-01-05", "to": "2026-01-11"}
# Where kept() moves list_all's answers to the oldest generation (see tests/test_jsonio.py).
FROZEN_AT_START = gc.get_freeze_count()
AGES = jsonio.CAN_AGE and FROZEN_AT_START == 0


async def test_2000_concurrent_updates_ride_in_40_batches() -> None:
    async with FakePortal(users=2000) as portal, Bitrix24(portal.webhook_url) as b24:
        results = await asyncio.gather(
            *(b24.call("user.update", {"ID": i, "NAME": f"n{i}"}) for i in range(1, 2001))
        )
        assert all(r.result is True for r in results)
        writes = Counter(e.target for e in portal.ledger if e.method == "user.update")
        assert len(writes) == 2000 and set(writes.values()) == {1}
        stats = portal.stats
        assert stats.requests <= math.ceil(2000 / 50) + 3
        assert stats.by_code.get("QUERY_LIMIT_EXCEEDED", 0) == 0
        assert b24.stats.coalesced_calls == 2000


async def test_5000_availability_queries_merge_into_a_handful_of_requests() -> None:
    async with FakePortal(users=5000) as portal, Bitrix24(portal.webhook_url) as b24:
        answers = await asyncio.gather(
            *(
                b24.call("calendar.accessibility.get", {"users": [u], **WEEK})
                for u in range(1, 5001)
            )
        )
        requests = portal.stats.requests
        # 5,000 users / 50 users per command = 100 commands = 2 batch requests.
        assert requests <= 3
        for user, answer in zip(range(1, 5001), answers, strict=True):
            assert set(answer.result) == {str(user)}
    # Each caller's events are exactly what a lone query for that user returns.
    async with (
        FakePortal(users=5000) as portal,
        Bitrix24(portal.webhook_url, coalesce=False) as solo,
    ):
        for user in (1, 2, 17, 2500, 4999, 5000):
            alone = await solo.call("calendar.accessibility.get", {"users": [user], **WEEK})
            assert answers[user - 1].result == alone.result


async def test_one_query_for_thousands_of_users_is_split_and_merged() -> None:
    async with FakePortal(users=3000) as portal:
        async with Bitrix24(portal.webhook_url, users_per_command=100) as b24:
            answer = await b24.call(
                "calendar.accessibility.get", {"users": list(range(1, 3001)), **WEEK}
            )
        assert set(answer.result) == {str(u) for u in range(1, 3001)}
        assert portal.stats.requests == 1  # 30 commands in one batch
        assert portal.stats.commands["calendar.accessibility.get"] == 30


async def test_lone_call_on_idle_client_goes_at_once_alone() -> None:
    async with FakePortal() as portal, Bitrix24(portal.webhook_url) as b24:
        await b24.call("user.current")
        await b24.call("server.time")
        stats = portal.stats
        assert stats.requests == 2 and stats.batches == 0  # plain calls, no batch envelope
        assert len(stats.arrivals) == 2
        assert b24.stats.coalesced_calls == 0


async def test_coalesced_callers_get_their_own_errors() -> None:
    async with FakePortal() as portal, Bitrix24(portal.webhook_url) as b24:
        good, missing, bad = await asyncio.gather(
            b24.call("user.get", {"ID": 3}),
            b24.call("no.such.method", {"x": 1}),
            b24.call("calendar.meeting.status.set", {"eventId": 1, "status": "H"}),
            return_exceptions=True,
        )
        assert not isinstance(good, BaseException) and good.result[0]["ID"] == "3"
        assert isinstance(missing, MethodNotFound) and missing.method == "no.such.method"
        assert isinstance(bad, MethodError) and bad.status == 400
        assert portal.stats.batches == 1


async def test_batch_results_errors_and_references() -> None:
    async with FakePortal() as portal, Bitrix24(portal.webhook_url) as b24:
        res = await b24.batch(
            {
                "me": ("user.current", {}),
                "same": ("user.get", {"ID": "$result[me][ID]"}),
                "bad": ("calendar.meeting.status.get", {}),
                "time": ("server.time", {}),
            }
        )
        assert res["me"]["ID"] == "1"
        assert res["same"][0]["ID"] == "1"
        assert isinstance(res.errors["bad"], MethodError)
        with pytest.raises(MethodError):
            res["bad"]
        assert set(res.timings) == {"me", "same", "time"}
        assert res.totals["same"] == 1
        assert res.skipped == ()


async def test_batch_halt_stops_and_reports_skipped() -> None:
    async with FakePortal() as portal, Bitrix24(portal.webhook_url) as b24:
        commands = [("user.get", {"ID": 1}), ("calendar.meeting.status.get", {})]
        commands += [("user.update", {"ID": i, "NAME": "x"}) for i in range(2, 120)]
        res = await b24.batch(commands, halt=True)
        assert res[0][0]["ID"] == "1"
        assert "1" in res.errors
        assert len(res.skipped) == 118  # the rest of its request and every later request
        assert not [e for e in portal.ledger if e.method == "user.update"]
        assert portal.stats.requests == 1


async def test_batch_of_many_commands_is_chunked_and_reports_progress() -> None:
    seen: list[tuple[int, int]] = []
    async with FakePortal(users=130) as portal, Bitrix24(portal.webhook_url) as b24:
        res = await b24.batch(
            {f"u{i}": ("user.get", {"ID": i}) for i in range(1, 131)},
            progress=lambda done, total: seen.append((done, total)),
        )
        assert res.ok and len(res.results()) == 130
        assert portal.stats.batches == 3
        assert seen[-1] == (130, 130)


@pytest.mark.looptime
async def test_blocked_command_in_a_batch_is_held_and_resent() -> None:
    scale = 0.005
    clock = LoopClock()
    async with FakePortal(
        time_scale=scale, operating_budget=120.0, method_processing={"user.get": 30.0}, clock=clock
    ) as portal:
        limits = RateLimits(operating_budget=120.0).scaled(scale)
        async with Bitrix24(portal.webhook_url, limits=limits, clock=clock) as b24:
            res = await b24.batch([("user.get", {"ID": i % 50 + 1}) for i in range(12)])
        assert res.ok, res.errors
        assert portal.stats.batch_errors.get("OPERATION_TIME_LIMIT", 0) >= 1
        assert b24.stats.operation_limit_hits >= 1
        assert not any(isinstance(e, OperationTimeLimit) for e in res.errors.values())


@pytest.mark.parametrize("keyset", [False, True])
async def test_paginate_7500_users_once_each_in_order(keyset: bool) -> None:
    progress: list[tuple[int, int]] = []
    async with FakePortal(users=7500) as portal, Bitrix24(portal.webhook_url) as b24:
        ids = [
            int(u["ID"])
            async for u in b24.paginate(
                "user.get", {}, keyset=keyset, progress=lambda d, t: progress.append((d, t))
            )
        ]
        assert ids == list(range(1, 7501))
        # 1 counting page, then 149 pages at 50 per request: two full batches and a partial one.
        assert portal.stats.requests <= 1 + math.ceil(149 / 50) + 1
        assert progress[-1] == (7500, 7500)


async def test_list_all_keeps_its_rows_out_of_the_young_generations() -> None:
    thresholds = gc.get_threshold()
    gc.collect()
    gc.set_threshold(1_000_000_000)  # no automatic collection: rows age only if list_all ages them
    try:
        # 3,000 users: one page of 50, then one batch answer of 59 pages (~1.3 MB of JSON).
        async with FakePortal(users=3000) as portal, Bitrix24(portal.webhook_url) as b24:
            rows = await b24.list_all("user.get")
            read = [row async for row in b24.paginate("user.get")]
        assert gc.isenabled() and gc.get_freeze_count() == FROZEN_AT_START
        oldest = {id(o) for o in gc.get_objects(generation=2)}
        # Rows are dicts of strings plus a list (UF_DEPARTMENT): the lists are what the GC tracks.
        departments = [r["UF_DEPARTMENT"] for r in rows[50:]]
        assert all(isinstance(d, list) for d in departments)
        assert all((id(d) in oldest) is AGES for d in departments)
        assert not any(id(r["UF_DEPARTMENT"]) in oldest for r in read)  # paginate's: young
        big = jsonio.loads(json.dumps([[i] for i in range(20_000)]).encode())
        assert not any(o is big[0] for o in gc.get_objects(generation=2))  # the mark is gone
    finally:
        gc.set_threshold(*thresholds)
    assert rows == read
    assert [int(r["ID"]) for r in rows] == list(range(1, 3001))


async def test_typed_list_all_keeps_its_rows_out_of_the_young_generations() -> None:
    thresholds = gc.get_threshold()
    gc.collect()
    gc.set_threshold(1_000_000_000)  # no automatic collection: rows age only if list_all ages them
    try:
        async with FakePortal(users=120) as portal, Bitrix24(portal.webhook_url) as b24:
            users = await b24.list_all(GetUsers())
            read = [user async for user in b24.paginate(GetUsers())]
        oldest = {id(o) for o in gc.get_objects(generation=2)}
        assert all((id(u) in oldest) is AGES for u in users)  # every page's, small ones too
        assert not any(id(u) in oldest for u in read)
        gc.disable()  # an application's choice: list_all leaves it and ages nothing
        try:
            async with FakePortal(users=120) as portal, Bitrix24(portal.webhook_url) as b24:
                again = await b24.list_all(GetUsers())
            assert not gc.isenabled()
            oldest = {id(o) for o in gc.get_objects(generation=2)}
            assert not any(id(u) in oldest for u in again)
        finally:
            gc.enable()
    finally:
        gc.set_threshold(*thresholds)
    assert users == read == again
    assert [u.id for u in users] == list(range(1, 121))


async def test_list_all_with_filter() -> None:
    async with FakePortal(users=300) as portal, Bitrix24(portal.webhook_url) as b24:
        active = await b24.list_all("user.get", {"FILTER": {"ACTIVE": True}})
        assert active and all(u["ACTIVE"] is True for u in active)
        assert len({u["ID"] for u in active}) == len(active)
        with pytest.raises(ValueError):
            await b24.list_all("user.get", {"start": 50})


@pytest.mark.looptime
async def test_coalesced_held_method_does_not_delay_others() -> None:
    scale = 0.005  # window 3 s, buckets 0.3 s; budget 0.6 s; user.get costs 0.15 s
    clock = LoopClock(start=1_800_000_000.0)  # buckets are whole (scaled) minutes
    slow_done: list[float] = []
    fast_took: list[float] = []
    async with FakePortal(
        time_scale=scale, operating_budget=120.0, method_processing={"user.get": 30.0}, clock=clock
    ) as portal:
        limits = RateLimits(operating_budget=120.0).scaled(scale)
        async with Bitrix24(portal.webhook_url, limits=limits, clock=clock) as b24:
            await b24.call("user.get", {"ID": 1})  # learn the method's cost
            began = clock.monotonic()

            async def slow(i: int) -> None:
                await b24.call("user.get", {"ID": i % 50 + 1})
                slow_done.append(clock.monotonic() - began)

            async def fast(i: int) -> None:
                await asyncio.sleep(0.05 * i)
                sent = clock.monotonic()
                await b24.call("im.user.status.get")
                fast_took.append(clock.monotonic() - sent)

            await asyncio.gather(*(slow(i) for i in range(16)), *(fast(i) for i in range(4)))
        assert len(slow_done) == 16 and len(fast_took) == 4
        # 16 calls of 0.15 s against a 0.6 s budget per 3 s window: user.get waits for
        # windows to free up (virtual seconds), while every fast call goes in one round trip
        # of a batch that carries it (at most two user.get commands of 0.15 s ride along).
        assert max(slow_done) > 1.0
        assert max(fast_took) < 0.5
        # The held user.get commands wait in the coalescer's queue, which takes only what the
        # budget admits: that wait is the operating budget's, and the stats count it.
        assert b24.stats.operating_wait > 0.5
        assert portal.stats.batch_errors.get("OPERATION_TIME_LIMIT", 0) == 0
        assert portal.stats.by_code.get("OPERATION_TIME_LIMIT", 0) == 0


@pytest.mark.looptime
async def test_a_long_list_read_has_every_batch_in_flight_at_once() -> None:
    # 52,550 users: one counting page, then 21 batches of 50 pages. Each batch takes the portal
    # 50 x 20 ms; the bucket admits them all at once, and so does the default in-flight cap (a
    # cap of 16 would leave the last batches waiting a second for the first answers).
    clock = LoopClock()
    async with (
        FakePortal(users=52_550, processing=0.02, clock=clock) as portal,
        Bitrix24(portal.webhook_url, clock=clock) as b24,
    ):
        rows = await b24.list_all("user.get")
        assert len(rows) == 52_550
        assert portal.stats.requests == 22
        assert portal.stats.peak_concurrency == 21
