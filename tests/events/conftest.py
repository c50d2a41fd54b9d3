"""Shared fixtures for the event tests: a fake portal, an app client, a webhook client, a sink."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from b24async import Bitrix24, RateLimits
from b24async.testing import FakePortal

FAST = RateLimits(rate=200.0, burst=400)


@pytest.fixture
async def portal() -> AsyncIterator[FakePortal]:
    """A fast portal (generous leaky bucket) in the test's event loop."""
    async with FakePortal(users=20, rate=200.0, burst=400) as running:
        yield running


def app_client(portal: FakePortal, user_id: int = 1) -> Bitrix24:
    """An OAuth client of the portal's app acting as ``user_id`` (1 is the admin)."""
    tokens = portal.issue_tokens(user_id)
    return Bitrix24(portal.url, token=tokens.access_token, limits=FAST)


@pytest.fixture
async def app(portal: FakePortal) -> AsyncIterator[Bitrix24]:
    """The app's client, as the admin."""
    async with app_client(portal) as client:
        yield client


@pytest.fixture
async def hook(portal: FakePortal) -> AsyncIterator[Bitrix24]:
    """An incoming-webhook client of the admin (a different "app" for offline records)."""
    async with Bitrix24(portal.webhook_url, limits=FAST) as client:
        yield client


class Sink:
    """A loopback HTTP endpoint that records every POST body (a raw event handler)."""

    def __init__(self, status: int = 200) -> None:
        self.bodies: list[bytes] = []
        self.status = status
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _post(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.read())
        return web.Response(status=self.status)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._post)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/events"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    """A started :class:`Sink`."""
    running = Sink()
    await running.start()
    yield running
    await running.stop()
