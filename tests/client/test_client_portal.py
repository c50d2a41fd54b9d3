"""The client core against the fake portal: throttling, contention, operating budget, OAuth,
faults and secrets. No timed assertions: outcomes are checked in the portal's stats and ledger."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

import aiohttp
import pytest

from b24async import (
    AuthError,
    B24Error,
    Bitrix24,
    MethodNotFound,
    RateLimits,
    RetryPolicy,
    TokenPair,
    TransportError,
)
from b24async.testing import FakePortal, Faults, LoopClock

FAST = RateLimits(rate=100.0, burst=100)


async def test_call_returns_response_with_time_block() -> None:
    async with FakePortal() as portal, Bitrix24(portal.webhook_url) as b24:
        resp = await b24.call("user.current")
        assert resp.result["ID"] == "1"
        assert resp.time is not None and resp.time.operating is not None
        assert resp.time.operating_reset_at is not None
        with pytest.raises(MethodNotFound) as info:
            await b24.call("no.such.method")
        assert info.value.code == "ERROR_METHOD_NOT_FOUND" and info.value.status == 404
        assert info.value.method == "no.such.method"


async def test_bad_input_raises_before_any_request() -> None:
    async with FakePortal() as portal, Bitrix24(portal.webhook_url) as b24:
        with pytest.raises(ValueError):
            await b24.call("")
        with pytest.raises(TypeError):
            await b24.call("user.get", {"FILTER": object()})
        assert portal.stats.requests == 0


@pytest.mark.looptime
async def test_500_concurrent_calls_never_overflow_the_bucket() -> None:
    clock = LoopClock()
    async with FakePortal(rate=FAST.rate, burst=FAST.burst, clock=clock) as portal:
        began = clock.monotonic()
        async with Bitrix24(portal.webhook_url, limits=FAST, coalesce=False, clock=clock) as b24:
            results = await asyncio.gather(
                *(b24.call("user.get", {"ID": i % 50 + 1}) for i in range(500))
            )
        took = clock.monotonic() - began
        assert len(results) == 500
        # 75 go at once (the bucket less its margin), the other 425 at 100/s: 4.25 virtual s.
        assert took == pytest.approx((500 - 75) / FAST.rate, abs=0.05)
        assert portal.stats.by_code.get("QUERY_LIMIT_EXCEEDED", 0) == 0
        assert portal.stats.requests == 500
        assert b24.stats.query_limit_hits == 0


async def _hammer(url: str, stop: asyncio.Event) -> int:
    """A careless neighbour: sends requests as fast as it can, ignoring 503s."""
    sent = 0
    async with aiohttp.ClientSession() as session:
        while not stop.is_set() and sent < 5000:
            async with session.post(url + "server.time", json={}) as resp:
                await resp.read()
            sent += 1
    return sent


async def test_contention_loses_nothing_and_writes_once() -> None:
    async with FakePortal(users=200, rate=FAST.rate, burst=FAST.burst) as portal:
        neighbour_url = portal.add_webhook(1)
        stop = asyncio.Event()
        hammer = asyncio.create_task(_hammer(neighbour_url, stop))
        async with Bitrix24(portal.webhook_url, limits=FAST, coalesce=False) as b24:
            await asyncio.gather(
                *(b24.call("user.update", {"ID": i, "NAME": f"name-{i}"}) for i in range(1, 201))
            )
        stop.set()
        assert await hammer > 0
        assert portal.stats.by_code.get("QUERY_LIMIT_EXCEEDED", 0) > 0  # the neighbour did overflow
        assert b24.stats.query_limit_hits > 0  # and we felt it, and recovered
        writes = Counter(e.target for e in portal.ledger if e.method == "user.update")
        assert writes == Counter(f"user:{i}" for i in range(1, 201))


@pytest.mark.looptime
async def test_operating_budget_holds_only_that_method() -> None:
    scale = 0.005  # window 3 s, buckets 0.3 s
    clock = LoopClock()
    portal = FakePortal(
        time_scale=scale,
        operating_budget=120.0,  # 0.6 s per window once scaled
        method_processing={"user.get": 30.0},  # 0.15 s per call once scaled
        rate=FAST.rate,
        burst=FAST.burst,
        clock=clock,
    )
    limits = RateLimits(rate=FAST.rate, burst=FAST.burst, operating_budget=120.0).scaled(scale)
    slow_done: list[float] = []
    fast_took: list[float] = []

    async with (
        portal,
        Bitrix24(portal.webhook_url, limits=limits, coalesce=False, clock=clock) as b24,
    ):
        await b24.call("user.get", {"ID": 1})  # the client learns the method's cost first
        began = clock.monotonic()

        async def slow(i: int) -> None:
            await b24.call("user.get", {"ID": i})
            slow_done.append(clock.monotonic() - began)

        async def fast() -> None:
            await asyncio.sleep(0.05)
            sent = clock.monotonic()
            await b24.call("im.user.status.get")
            fast_took.append(clock.monotonic() - sent)

        await asyncio.gather(*(slow(i + 1) for i in range(12)), *(fast() for _ in range(5)))
    assert len(slow_done) == 12 and len(fast_took) == 5
    # user.get spends its budget and waits for windows to free up (virtual seconds); the fast
    # method never waits behind it: each of its calls is one round trip.
    assert max(slow_done) > 1.0
    assert max(fast_took) < 0.05
    assert b24.stats.operating_wait > 0
    assert portal.stats.by_code.get("OPERATION_TIME_LIMIT", 0) <= 1


async def test_one_refresh_for_100_concurrent_expired_calls() -> None:
    async with FakePortal(rate=100.0, burst=200) as portal:
        tokens = portal.issue_tokens()
        saved: list[TokenPair] = []

        async def save(pair: TokenPair) -> None:
            saved.append(pair)

        portal.expire_access_tokens()
        async with Bitrix24(
            portal.url,
            token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            client_id=portal.client_id,
            client_secret=portal.client_secret,
            oauth_url=portal.oauth_url,
            on_token_refresh=save,
            limits=RateLimits(rate=100.0, burst=200),
            coalesce=False,
        ) as b24:
            results = await asyncio.gather(*(b24.call("user.current") for _ in range(100)))
        assert all(r.result["ID"] == "1" for r in results)
        assert portal.stats.refreshes == 1
        assert len(saved) == 1 and saved[0].access_token != tokens.access_token
        assert saved[0].refresh_token != tokens.refresh_token


async def test_dead_refresh_token_raises_auth_error() -> None:
    async with FakePortal() as portal:
        tokens = portal.issue_tokens()
        portal.expire_access_tokens()
        async with Bitrix24(
            portal.url,
            token=tokens.access_token,
            refresh_token="not-a-real-refresh-token",
            client_id=portal.client_id,
            client_secret=portal.client_secret,
            oauth_url=portal.oauth_url,
        ) as b24:
            with pytest.raises(AuthError) as info:
                await b24.call("user.current")
        assert info.value.code == "invalid_grant"


@pytest.mark.looptime
@pytest.mark.parametrize("coalesce", [True, False])
async def test_faults_reads_complete_and_adds_never_duplicate(coalesce: bool) -> None:
    faults = Faults(error_500=0.05, drop=0.05, html_502=0.05, seed=7)
    retry = RetryPolicy(attempts=8, backoff=0.01, max_backoff=0.05)
    clock = LoopClock()
    async with FakePortal(faults=faults, rate=FAST.rate, burst=FAST.burst, clock=clock) as portal:
        async with Bitrix24(
            portal.webhook_url, limits=FAST, retry=retry, coalesce=coalesce, clock=clock
        ) as b24:
            reads = await asyncio.gather(
                *(b24.call("user.get", {"ID": i % 40 + 1}) for i in range(300))
            )
            assert len(reads) == 300

            async def add(i: int) -> Any:
                try:
                    return await b24.call(
                        "calendar.event.add",
                        {
                            "type": "user",
                            "ownerId": 1,
                            "name": f"evt-{i}",
                            "from": "2026-01-05 10:00:00",
                            "to": "2026-01-05 11:00:00",
                        },
                    )
                except B24Error as exc:
                    return exc

            outcomes = await asyncio.gather(*(add(i) for i in range(100)))
        names = Counter(e.change["NAME"] for e in portal.ledger if e.method == "calendar.event.add")
        assert all(count == 1 for count in names.values()), "a non-idempotent write was duplicated"
        succeeded = {f"evt-{i}" for i, o in enumerate(outcomes) if not isinstance(o, Exception)}
        assert succeeded <= set(names)
        assert portal.stats.by_status.get(500, 0) > 0


@pytest.mark.looptime
@pytest.mark.parametrize("coalesce", [True, False])
async def test_secrets_never_leak(caplog: pytest.LogCaptureFixture, coalesce: bool) -> None:
    caplog.set_level(logging.DEBUG, logger="b24async")
    texts: list[str] = []
    faults = Faults(error_500=0.2, drop=0.2, html_502=0.2, seed=3)
    async with FakePortal(faults=faults) as portal:
        code = portal.webhook_url.rstrip("/").rsplit("/", 1)[-1]
        tokens = portal.issue_tokens()
        portal.expire_access_tokens()
        secrets = [code, tokens.access_token, tokens.refresh_token, portal.client_secret]
        retry = RetryPolicy(attempts=2, backoff=0.01)
        async with Bitrix24(portal.webhook_url, retry=retry, coalesce=coalesce) as hook:
            texts.append(repr(hook))
            for i in range(20):
                try:
                    await hook.call("user.get", {"ID": i + 1})
                except Exception as exc:
                    texts += [str(exc), repr(exc)]
        async with Bitrix24(
            portal.url,
            token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            client_id=portal.client_id,
            client_secret=portal.client_secret,
            oauth_url=portal.oauth_url,
            on_token_refresh=lambda pair: texts.append(repr(pair)),
            retry=retry,
            coalesce=coalesce,
        ) as app:
            texts.append(repr(app))
            for _ in range(10):
                try:
                    await app.call("user.current")
                except Exception as exc:
                    texts += [str(exc), repr(exc)]
    async with Bitrix24(f"http://127.0.0.1:9/rest/1/{code}/", retry=retry) as dead:
        with pytest.raises(TransportError) as info:
            await dead.call("user.get")
        texts += [str(info.value), repr(info.value)]
    texts += [r.getMessage() for r in caplog.records]
    blob = "\n".join(texts)
    assert texts
    for secret in secrets:
        assert secret not in blob


@pytest.mark.looptime
async def test_real_operating_window_on_virtual_time() -> None:
    # The real 420 s threshold in a 600 s window, unscaled: virtual time makes it testable.
    # The portal's buckets are whole minutes (floor(unix / 60)): start on a minute boundary so
    # that the first minute's calls leave the sum only at t = 600 s.
    clock = LoopClock(start=1_800_000_000.0)
    async with FakePortal(method_processing={"user.get": 30.0}, clock=clock) as portal:
        async with Bitrix24(portal.webhook_url, clock=clock) as b24:
            began = clock.monotonic()
            for i in range(20):  # 600 s of operating time against a 420 s threshold
                await b24.call("user.get", {"ID": i % 50 + 1})
            took = clock.monotonic() - began
        # 20 calls of 30 s each, plus a hold until the oldest minute leaves the window.
        # The hold shows in the time taken (virtual seconds): the calls alone take 600 s. With
        # coalescing the held call waits in the coalescer's queue, which takes only what the
        # budget admits, so stats.operating_wait need not count it.
        assert took > 20 * 30
        assert took >= 20 * 30 + b24.stats.operating_wait
        assert portal.stats.commands["user.get"] >= 20
