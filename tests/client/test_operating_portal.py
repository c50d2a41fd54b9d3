"""The client against the fake portal's operating accounting (facts §2; issue #11 item 2).

Outcomes are read from the portal's meter (refusals, bans) and ledger, never from durations.
Scale 0.002: window 1.2 s, buckets 0.12 s, floor 0.2 ms, ban 0.6 s; a 20 ms write is 40 us.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from b24async import Bitrix24, RateLimits
from b24async.testing import FakePortal

SCALE = 0.002
FAST = RateLimits(rate=100.0, burst=100)


def limits(budget: float = 420.0) -> RateLimits:
    return RateLimits(rate=FAST.rate, burst=FAST.burst, operating_budget=budget).scaled(SCALE)


def portal(**kwargs: Any) -> FakePortal:
    kwargs.setdefault("users", 50)
    kwargs.setdefault("time_scale", SCALE)
    kwargs.setdefault("rate", FAST.rate)
    kwargs.setdefault("burst", FAST.burst)
    kwargs.setdefault("method_processing", {"user.update": 0.2})
    return FakePortal(**kwargs)


def writes(count: int) -> list[tuple[str, dict[str, Any]]]:
    return [("user.update", {"ID": 2 + i % 40, "NAME": f"n{i}"}) for i in range(count)]


async def test_long_job_spends_the_budget_without_a_429_or_a_ban() -> None:
    # 3,000 writes x 0.2 s = 600 s of handler time against a 420 s threshold: the budget binds.
    async with portal() as p, Bitrix24(p.webhook_url, limits=limits()) as b24:
        res = await b24.batch(writes(3000))
        assert res.ok, list(res.errors.items())[:3]
        assert len(p.ledger) == 3000
        assert p.meter.refusals == 0 and p.meter.bans == 0
        assert b24.stats.operation_limit_hits == 0
        assert b24.stats.operating_wait > 0  # it did wait for buckets to leave the window


async def test_coalesced_long_job_never_trips_a_ban() -> None:
    async with portal() as p, Bitrix24(p.webhook_url, limits=limits()) as b24:
        await asyncio.gather(*(b24.call(m, params) for m, params in writes(2500)))
        assert len(p.ledger) == 2500
        assert p.meter.refusals == 0 and p.meter.bans == 0


async def test_batch_key_banned_by_another_app_holds_only_batches_and_resends() -> None:
    slow = ("user.current", "server.time", "user.get", "im.user.status.get")
    processing = {"user.update": 0.2} | dict.fromkeys(slow, 25.0)
    async with portal(method_processing=processing) as p:
        # Another client on the same webhook spends the batch key: four concurrent batches of
        # 10 x 25 s, each billed 125 s to "batch" (500 s > 420 s; each method's key stays at
        # 250 s); the next batch is refused and the key banned.
        async with aiohttp.ClientSession() as session:

            async def other(method: str) -> int:
                cmd = {f"c{j}": method for j in range(10)}
                async with session.post(p.webhook_url + "batch", json={"cmd": cmd}) as r:
                    return r.status

            assert await asyncio.gather(*(other(m) for m in slow)) == [200] * 4
            assert await other("user.current") == 429
        assert p.meter.bans == 1
        async with Bitrix24(p.webhook_url, limits=limits()) as b24:
            res = await b24.batch(writes(200))
            assert res.ok, list(res.errors.items())[:3]
            # A lone call of another method is not held by the batch key.
            assert (await b24.call("user.current")).result["ID"] == "1"
        assert len(p.ledger) == 200  # every command ran exactly once
        assert p.meter.bans == 1  # no second ban: the client held the key for the ban's length


async def test_portal_threshold_lower_than_assumed_at_most_one_ban_per_key() -> None:
    # The client assumes the docs' 480 s, the portal enforces 420 s.
    async with portal() as p, Bitrix24(p.webhook_url, limits=limits(480.0)) as b24:
        res = await b24.batch(writes(3500))
        assert res.ok, list(res.errors.items())[:3]
        assert len(p.ledger) == 3500
        assert p.meter.bans <= 1
        learned = b24._throttle.operating.learned  # type: ignore[attr-defined]
        assert p.meter.bans == 0 or (learned is not None and learned <= 420 * SCALE)


async def test_legacy_portal_is_paced_the_same_way() -> None:
    async with portal(limiter="legacy") as p, Bitrix24(p.webhook_url, limits=limits()) as b24:
        res = await b24.batch(writes(3000))
        assert res.ok
        assert len(p.ledger) == 3000 and p.meter.refusals == 0


async def test_limiter_off_or_local_holds_nothing() -> None:
    for limiter in ("off", "local"):
        # A threshold the job would pass 40 times over: no shared sum, so nothing to hold.
        async with (
            portal(limiter=limiter, operating_budget=10.0) as p,
            Bitrix24(p.webhook_url, limits=limits(10.0)) as b24,
        ):
            await b24.call("user.update", {"ID": 2, "NAME": "x"})  # learn the portal's state
            res = await b24.batch(writes(2000))
            assert res.ok
            assert len(p.ledger) == 2001
            assert b24.stats.operation_limit_hits == 0


async def test_clock_skew_a_held_method_resumes_on_the_portals_clock() -> None:
    # Issue #10 item 5: the portal's clock 120 s ahead or behind ours (not scaled: 100 windows).
    for skew in (120.0, -120.0):
        async with portal(clock_skew=skew) as p, Bitrix24(p.webhook_url, limits=limits()) as b24:
            # Liveness bound, not a timing assertion: a hold measured against our own clock
            # would last the whole skew (120 s) and hit this bound.
            res = await asyncio.wait_for(b24.batch(writes(3000)), 60)
            assert res.ok
            assert len(p.ledger) == 3000
            assert p.meter.refusals == 0  # and it never hammered a held key
