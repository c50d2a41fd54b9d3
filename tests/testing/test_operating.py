"""The per-(credential, method) operating budget: 10 rolling buckets, check before each call."""

from __future__ import annotations

import asyncio
import math
import time

import aiohttp
import pytest

from b24async.testing import FakePortal, LoopClock
from b24async.testing.operating import OperatingMeter

from .conftest import FakeClock, call

KEY = ("webhook:1", "user.get")
BLOCKED = {
    "error": "OPERATION_TIME_LIMIT",
    "error_description": "Method is blocked due to operation time limit.",
}


def test_meter_blocks_once_the_sum_reaches_the_budget(clock: FakeClock) -> None:
    meter = OperatingMeter(budget=480, window=600, clock=clock)
    for _ in range(4):
        assert not meter.blocked(KEY)
        meter.charge(KEY, 100, started=clock(), started_wall=5000.0)
    assert not meter.blocked(KEY)  # 400 < 480: the fifth call runs and crosses the budget
    meter.charge(KEY, 100, started=clock(), started_wall=5000.0)
    assert meter.blocked(KEY)
    assert not meter.blocked(("webhook:1", "user.current"))
    assert not meter.blocked(("webhook:2", "user.get"))


def test_meter_buckets_expire_one_by_one(clock: FakeClock) -> None:
    meter = OperatingMeter(budget=300, window=600, clock=clock)
    meter.charge(KEY, 200, started=clock(), started_wall=10_000.0)
    clock.advance(59)
    meter.charge(KEY, 50, started=clock(), started_wall=10_059.0)  # same bucket as the first
    clock.advance(2)
    meter.charge(KEY, 100, started=clock(), started_wall=10_061.0)  # a new bucket
    assert meter.spent(KEY) == 350
    assert meter.blocked(KEY)
    assert meter.reset_at(KEY, now_wall=0) == 10_600.0
    clock.advance(600 - 61 - 0.001)
    assert meter.blocked(KEY)
    clock.advance(0.001)  # the first bucket (250 s) leaves the window
    assert meter.spent(KEY) == 100
    assert not meter.blocked(KEY)
    assert meter.reset_at(KEY, now_wall=0) == 10_661.0
    clock.advance(61)
    assert meter.spent(KEY) == 0
    assert meter.reset_at(KEY, now_wall=20_000.0) == 20_600.0


def test_meter_keeps_zero_cost_calls_for_reset_at(clock: FakeClock) -> None:
    meter = OperatingMeter(budget=1, window=600, clock=clock)
    meter.charge(KEY, 0.0, started=clock(), started_wall=7.5)
    clock.advance(100)
    assert meter.reset_at(KEY, now_wall=107.5) == 607.5


def test_meter_places_late_finishers_in_their_start_bucket(clock: FakeClock) -> None:
    meter = OperatingMeter(budget=100, window=600, clock=clock)
    early = clock()
    clock.advance(120)
    meter.charge(KEY, 1, started=clock(), started_wall=120.0)
    meter.charge(KEY, 2, started=early, started_wall=0.0)
    assert meter.reset_at(KEY, now_wall=0) == 600.0
    clock.advance(480)
    assert meter.spent(KEY) == 1


async def test_crossing_call_completes_next_is_429(
    clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    async with FakePortal(
        users=5, clock=clock, processing=100, time_scale=0.0001, operating_budget=480
    ) as portal:
        url = portal.webhook_url + "user.current"
        for expected in (100, 200, 300, 400, 500):
            status, body = await call(session, url)
            assert status == 200
            assert body["time"]["operating"] == pytest.approx(expected * 0.0001)
            assert body["time"]["processing"] == pytest.approx(0.01)
        status, body = await call(session, url)
        assert (status, body) == (429, BLOCKED)
        assert portal.stats.commands["user.current"] == 5
        # Other methods and other credentials keep working.
        assert (await call(session, portal.webhook_url + "server.time"))[0] == 200
        assert (await call(session, portal.add_webhook(2) + "user.current"))[0] == 200
        # The block lifts when the buckets leave the (scaled) 600 s window.
        clock.advance(600 * 0.0001)
        status, body = await call(session, url)
        assert status == 200
        assert body["time"]["operating"] == pytest.approx(0.01)


async def test_time_block_operating_fields(session: aiohttp.ClientSession) -> None:
    async with FakePortal(users=5, processing=0.02, method_processing={"USER.GET": 0.0}) as portal:
        before = time.time()
        status, body = await call(session, portal.webhook_url + "user.current")
        assert status == 200
        block = body["time"]
        assert block["processing"] == pytest.approx(0.02)
        assert block["duration"] >= 0.0199
        assert block["operating"] == pytest.approx(0.02)
        assert block["operating_reset_at"] == math.floor(block["start"]) + 600
        assert isinstance(block["operating_reset_at"], int)
        assert before <= block["start"] <= block["finish"]
        status, body = await call(session, portal.webhook_url + "user.get")
        assert body["time"]["processing"] == 0.0
        assert body["time"]["operating"] == 0.0


async def test_oauth_tokens_of_one_app_share_the_budget(
    clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    async with FakePortal(
        users=5, clock=clock, processing=1, time_scale=0.001, operating_budget=2
    ) as portal:
        first, second = portal.issue_tokens(1), portal.issue_tokens(2)
        for token in (first, second):
            url = f"{portal.url}/rest/user.current?auth={token.access_token}"
            assert (await call(session, url))[0] == 200
        status, body = await call(
            session, f"{portal.url}/rest/user.current", data={"auth": first.access_token}
        )
        assert (status, body) == (429, BLOCKED)
        # The admin webhook is another caller with its own budget.
        assert (await call(session, portal.webhook_url + "user.current"))[0] == 200


async def test_batch_inner_commands_count_and_block_inside_200(
    clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    async with FakePortal(
        users=5, clock=clock, processing=1, time_scale=0.001, operating_budget=2
    ) as portal:
        cmd = {"a": "user.current", "b": "user.current", "c": "user.current", "t": "server.time"}
        status, body = await call(session, portal.webhook_url + "batch", json={"cmd": cmd})
        assert status == 200
        result = body["result"]
        assert sorted(result["result"]) == ["a", "b", "t"]
        assert result["result_error"] == {"c": BLOCKED}
        assert result["result_time"]["b"]["operating"] == pytest.approx(0.002)
        assert body["time"]["operating"] == 0  # the outer batch is not counted
        assert body["time"]["processing"] == pytest.approx(0.003)
        assert portal.stats.batch_errors["OPERATION_TIME_LIMIT"] == 1
        # The single call is blocked too: batch and direct calls share the budget.
        status, _ = await call(session, portal.webhook_url + "user.current")
        assert status == 429
        # With halt, a blocked command stops the batch.
        status, body = await call(
            session, portal.webhook_url + "batch", json={"halt": 1, "cmd": cmd}
        )
        assert list(body["result"]["result_error"]) == ["a"]
        assert body["result"]["result"] == []


@pytest.mark.looptime
async def test_scaled_window_lifts_at_its_reset_time(session: aiohttp.ClientSession) -> None:
    # time_scale 0.001: window 0.6 s, buckets 0.06 s, budget 3 ms, cost 1 ms per call.
    clock = LoopClock()
    async with FakePortal(
        users=5, processing=1, time_scale=0.001, operating_budget=3, clock=clock
    ) as portal:
        url = portal.webhook_url + "user.current"
        bodies = [(await call(session, url))[1] for _ in range(3)]
        reset_at = bodies[0]["time"]["operating_reset_at"]
        assert isinstance(reset_at, float)
        assert reset_at == pytest.approx(bodies[0]["time"]["start"] + 0.6, abs=0.002)
        assert reset_at == round(reset_at, 3)
        assert (await call(session, url))[0] == 429
        await asyncio.sleep(reset_at - clock.time() - 0.01)  # virtual time
        assert (await call(session, url))[0] == 429  # still inside the window
        await asyncio.sleep(0.02)
        assert (await call(session, url))[0] == 200


async def test_portal_time_follows_the_injected_clock(
    clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    # time_scale 0.0001: window 0.06 s; one call of 480 s (slept 48 ms) spends the whole budget.
    async with FakePortal(users=2, clock=clock, processing=480, time_scale=0.0001) as portal:
        url = portal.webhook_url + "user.current"
        status, first = await call(session, url)
        assert status == 200
        block = first["time"]
        assert block["duration"] == 0  # the frozen clock did not move during the 48 ms sleep
        assert block["processing"] == pytest.approx(0.048)
        assert block["operating_reset_at"] == math.floor((block["start"] + 0.06) * 1000) / 1000
        assert (await call(session, url))[0] == 429
        clock.advance(0.06)
        status, later = await call(session, url)
        assert status == 200
        assert later["time"]["start"] == pytest.approx(block["start"] + 0.06)
