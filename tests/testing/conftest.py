"""Shared helpers for the fake portal's own tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest


class FakeClock:
    """A monotonic clock that only moves when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    """A frozen clock to inject into FakePortal."""
    return FakeClock()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """An aiohttp session for talking to the portal."""
    async with aiohttp.ClientSession() as client:
        yield client


async def call(
    session: aiohttp.ClientSession, url: str, *, method: str = "POST", **kwargs: Any
) -> tuple[int, Any]:
    """Send one request and return (status, decoded JSON body)."""
    async with session.request(method, url, **kwargs) as response:
        return response.status, await response.json(content_type=None)
