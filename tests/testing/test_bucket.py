"""The leaky bucket: +1 per /rest request, drains `rate`/s, refuses above `burst` with 503."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from b24async.testing import FakePortal, LoopClock
from b24async.testing.bucket import LeakyBucket

from .conftest import FakeClock, call


def test_frozen_clock_passes_burst_then_refuses(clock: FakeClock) -> None:
    bucket = LeakyBucket(rate=2.0, burst=50, clock=clock)
    assert all(bucket.try_add() for _ in range(50))
    assert not bucket.try_add()
    assert bucket.level == 50  # the refused request added nothing


def test_drains_at_rate(clock: FakeClock) -> None:
    bucket = LeakyBucket(rate=2.0, burst=50, clock=clock)
    for _ in range(50):
        bucket.try_add()
    clock.advance(0.5)  # drains exactly one request's worth
    assert bucket.try_add()
    assert not bucket.try_add()
    clock.advance(10)
    assert bucket.level == pytest.approx(30)


def test_never_drains_below_zero(clock: FakeClock) -> None:
    bucket = LeakyBucket(rate=5.0, burst=3, clock=clock)
    clock.advance(100)
    assert [bucket.try_add() for _ in range(4)] == [True, True, True, False]


def test_rejects_bad_parameters(clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="rate"):
        LeakyBucket(rate=0, burst=5, clock=clock)
    with pytest.raises(ValueError, match="burst"):
        LeakyBucket(rate=1, burst=0, clock=clock)


async def test_51st_request_gets_503_and_is_not_executed(
    clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    async with FakePortal(users=5, clock=clock) as portal:
        url = portal.webhook_url + "user.update"
        for _ in range(50):
            status, _body = await call(session, url, json={"ID": 2, "NAME": "Ok"})
            assert status == 200
        status, body = await call(session, url, json={"ID": 2, "NAME": "Refused"})
        assert status == 503
        assert body == {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}
        assert [entry.change for entry in portal.ledger].count({"NAME": "Refused"}) == 0
        assert len(portal.ledger) == 50
        stats = portal.stats
        assert stats.requests == 51
        assert stats.by_code["QUERY_LIMIT_EXCEEDED"] == 1
        assert stats.by_status[503] == 1
        assert stats.commands["user.update"] == 50
        clock.advance(0.5)  # one slot drained
        assert (await call(session, url, json={"ID": 2, "NAME": "Later"}))[0] == 200
        assert (await call(session, url, json={"ID": 2}))[0] == 503


async def test_all_credentials_share_the_bucket_and_errors_count(
    clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    async with FakePortal(users=5, burst=4, clock=clock) as portal:
        other = portal.add_webhook(3)
        token = portal.issue_tokens(2).access_token
        assert (await call(session, portal.webhook_url + "user.current"))[0] == 200
        assert (await call(session, other + "user.current"))[0] == 200
        assert (await call(session, f"{portal.url}/rest/user.current?auth={token}"))[0] == 200
        assert (await call(session, portal.webhook_url + "no.such.method"))[0] == 404
        status, body = await call(session, other + "user.current")
        assert (status, body["error"]) == (503, "QUERY_LIMIT_EXCEEDED")


async def test_batch_is_one_request(clock: FakeClock, session: aiohttp.ClientSession) -> None:
    async with FakePortal(users=5, burst=2, clock=clock) as portal:
        cmd = {f"c{i}": "user.current" for i in range(50)}
        for _ in range(2):
            status, body = await call(session, portal.webhook_url + "batch", json={"cmd": cmd})
            assert status == 200
            assert len(body["result"]["result"]) == 50
        assert (await call(session, portal.webhook_url + "batch", json={"cmd": cmd}))[0] == 503
        assert portal.stats.commands["user.current"] == 100


async def test_inspection_endpoints_are_not_limited(
    clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    async with FakePortal(users=5, burst=1, clock=clock) as portal:
        await call(session, portal.webhook_url + "user.current")
        for _ in range(3):
            status, body = await call(session, portal.url + "/_portal/stats", method="GET")
            assert status == 200
        assert body["requests"] == 1
        assert portal.bucket.level == 1


@pytest.mark.looptime
async def test_refused_at_arrival_before_processing(session: aiohttp.ClientSession) -> None:
    clock = LoopClock()
    async with FakePortal(users=2, burst=3, processing=0.2, clock=clock) as portal:
        url = portal.webhook_url + "user.current"

        async def timed() -> tuple[int, float]:
            started = clock.monotonic()
            status, _ = await call(session, url)
            return status, clock.monotonic() - started  # virtual time

        results = await asyncio.gather(*(timed() for _ in range(4)))
        refused = [elapsed for status, elapsed in results if status == 503]
        served = [elapsed for status, elapsed in results if status == 200]
        assert len(refused) == 1
        assert len(served) == 3
        assert refused[0] < 0.15 <= min(served)
        assert portal.stats.peak_concurrency == 4
