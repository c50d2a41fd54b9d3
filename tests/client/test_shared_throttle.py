"""Several clients of one portal in one process share one throttle (b24async.portal_throttles)."""

from __future__ import annotations

import asyncio
import gc
import logging

import pytest

from b24async import Bitrix24, RateLimits, Throttle
from b24async.testing import FakePortal, LoopClock

# A fast portal so that 400 requests take seconds; the client is told the same limits.
FAST = {"rate": 100.0, "burst": 50}
LIMITS = RateLimits(rate=100.0, burst=50)


async def _hammer(portal: FakePortal, clients: list[Bitrix24], calls: int) -> None:
    await asyncio.gather(
        *(b24.call("user.get", {"ID": 1}) for b24 in clients for _ in range(calls))
    )


@pytest.mark.looptime
async def test_twenty_clients_on_one_portal_are_rarely_refused() -> None:
    clock = LoopClock()
    async with FakePortal(**FAST, clock=clock) as portal:
        clients = [
            Bitrix24(portal.webhook_url, limits=LIMITS, coalesce=False, clock=clock)
            for _ in range(20)
        ]
        try:
            await _hammer(portal, clients, 20)
        finally:
            for b24 in clients:
                await b24.close()
        stats = portal.stats
        refused = stats.by_code["QUERY_LIMIT_EXCEEDED"]
        assert stats.requests >= 400
        assert refused <= 0.05 * stats.requests, (refused, stats.requests)


async def test_clients_share_by_portal_and_credential() -> None:
    async with FakePortal() as portal, FakePortal() as other:
        second_hook = portal.add_webhook(2)
        a = Bitrix24(portal.webhook_url)
        b = Bitrix24(portal.webhook_url)
        c = Bitrix24(second_hook)  # another credential: own operating budgets, same bucket
        d = Bitrix24(other.webhook_url)  # another portal
        own = Throttle()
        e = Bitrix24(portal.webhook_url, throttle=own)  # a caller's policy is left alone
        clients = [a, b, c, d, e]
        try:
            for b24 in clients:
                await b24.call("user.current")
            ta, tb, tc, td = (x._throttle for x in (a, b, c, d))
            assert isinstance(ta, Throttle) and isinstance(tc, Throttle)
            assert isinstance(td, Throttle)
            assert ta is tb
            assert tc is not ta and tc.bucket is ta.bucket
            assert td.bucket is not ta.bucket
            assert e._throttle is own
        finally:
            for b24 in clients:
                await b24.close()


async def test_shared_throttles_are_released_with_their_clients() -> None:
    from b24async import portal_throttles

    async with FakePortal() as portal:
        b24 = Bitrix24(portal.webhook_url)
        await b24.call("user.current")
        await b24.close()
        share = portal_throttles._BY_LOOP[asyncio.get_running_loop()]
        assert len(share.throttles) == 1
        del b24
        gc.collect()
        assert len(share.throttles) == 0 and len(share.buckets) == 0


async def test_clients_that_disagree_about_limits_are_warned_about(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="b24async")
    async with FakePortal() as portal:
        a = Bitrix24(portal.webhook_url)
        b = Bitrix24(portal.webhook_url, limits=RateLimits.ENTERPRISE)
        try:
            await a.call("user.current")
            await b.call("user.current")
        finally:
            await a.close()
            await b.close()
    assert any("different limits" in r.getMessage() for r in caplog.records)
