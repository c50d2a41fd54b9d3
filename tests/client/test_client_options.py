"""Client options: a caller-owned session, a moved portal (302), a custom throttle bucket."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from contextlib import AbstractAsyncContextManager

import aiohttp
import pytest
from aiohttp import web

from b24async import Bitrix24, ClientClosed, RateLimits, Throttle, ThrottlePolicy, Timing
from b24async.operating import MethodUsage
from b24async.testing import FakePortal


async def test_caller_owned_session_stays_open() -> None:
    async with FakePortal() as portal, aiohttp.ClientSession() as session:
        async with Bitrix24(portal.webhook_url, session=session) as b24:
            assert (await b24.call("user.current")).result["ID"] == "1"
        assert not session.closed
        with pytest.raises(ClientClosed, match="closed") as info:
            await b24.call("user.current")
        assert info.value.sent is False


async def test_moved_portal_gets_the_post_again() -> None:
    """A 302 from the old address: the client re-sends the POST (body and all) to the new host."""
    async with FakePortal() as portal:
        new_origin = portal.url

        async def moved(request: web.Request) -> web.Response:
            raise web.HTTPFound(new_origin + request.path)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", moved)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        old_url = portal.webhook_url.replace(new_origin, f"http://127.0.0.1:{port}")
        try:
            async with Bitrix24(old_url, coalesce=False) as b24:
                first = await b24.call("user.get", {"ID": 7})
                second = await b24.call("user.get", {"ID": 8})
        finally:
            await runner.cleanup()
        assert first.result[0]["ID"] == "7"  # the params survived the redirect
        assert second.result[0]["ID"] == "8"
        assert portal.stats.requests == 2  # after moving, calls go straight to the new host


class CountingBucket:
    """A stand-in for a shared (e.g. Redis) bucket: the RequestBucket protocol, nothing more."""

    def __init__(self) -> None:
        self.acquired = 0
        self.saturated = 0

    async def acquire(self) -> None:
        self.acquired += 1

    def saturate(self) -> None:
        self.saturated += 1

    def time_until_free(self) -> float:
        return 0.0


async def test_throttle_takes_a_custom_bucket() -> None:
    bucket = CountingBucket()
    async with FakePortal() as portal:
        throttle = Throttle(RateLimits.STANDARD, bucket=bucket)
        async with Bitrix24(portal.webhook_url, throttle=throttle) as b24:
            await b24.call("user.current")
            await b24.batch([("server.time", {}), ("user.current", {})])
    assert bucket.acquired == 2


class _Delegating:
    """A ThrottlePolicy that is not a Throttle: it wraps one and reports its own waits."""

    def __init__(self) -> None:
        self.inner = Throttle()

    async def wait_methods(self, methods: Collection[str]) -> None:
        await self.inner.wait_methods(methods)

    def hold_remaining(self, method: str) -> float | None:
        return self.inner.hold_remaining(method)

    def admissible(self, method: str) -> int | None:
        return self.inner.admissible(method)

    def request_slot(self) -> AbstractAsyncContextManager[None]:
        return self.inner.request_slot()

    async def wait_ready(self) -> None:
        await self.inner.wait_ready()

    def settle(self, method: str, timing: Timing | None) -> None:
        self.inner.settle(method, timing)

    def on_query_limit(self) -> None:
        self.inner.on_query_limit()

    def on_operation_limit(self, method: str) -> float:
        return self.inner.on_operation_limit(method)

    def usage(self) -> Mapping[str, MethodUsage]:
        return {"custom.method": MethodUsage(1.5, None, 0)}

    @property
    def waited(self) -> float:
        return 2.5

    @property
    def operating_waited(self) -> float:
        return 3.5


async def test_stats_read_any_throttle_policy_through_its_protocol() -> None:
    policy = _Delegating()
    assert isinstance(policy, ThrottlePolicy)
    async with FakePortal() as portal, Bitrix24(portal.webhook_url, throttle=policy) as b24:
        await b24.call("user.current")
        stats = b24.stats
    assert stats.requests == 1
    assert (stats.throttle_wait, stats.operating_wait) == (2.5, 3.5)
    assert stats.operating == {"custom.method": MethodUsage(1.5, None, 0)}
    assert stats.token_refreshes == 0
