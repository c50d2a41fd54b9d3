"""Time as the client sees it: one injectable clock for waits, holds and timestamps.

Every part of the client that reads the time or sleeps (engine, throttle, bucket, operating
budget, coalescer) does it through a :class:`Clock`, so tests can run the limits on virtual time
and a portal's clock can be told apart from ours. :data:`SYSTEM_CLOCK` is the real one.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol, runtime_checkable

__all__ = ["SYSTEM_CLOCK", "Clock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """Where the client reads the time and how it waits."""

    def time(self) -> float:
        """Wall-clock time as a unix timestamp (seconds)."""

    def monotonic(self) -> float:
        """A monotonic reading in seconds, for measuring intervals and scheduling waits."""

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (0 or less: just yield to the event loop)."""


class SystemClock:
    """The real clock: the event loop's monotonic time, ``time.time`` and ``asyncio.sleep``.

    ``monotonic`` reads the running loop's clock (``time.monotonic`` outside a loop), so a test
    loop that fast-forwards its time moves every wait of the client with it.
    """

    def time(self) -> float:
        """``time.time()``."""
        return time.time()

    def monotonic(self) -> float:
        """The running event loop's time, or ``time.monotonic()`` outside a loop."""
        try:
            return asyncio.get_running_loop().time()
        except RuntimeError:
            return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep(max(seconds, 0))``."""
        await asyncio.sleep(max(seconds, 0.0))

    def __repr__(self) -> str:
        return "SystemClock()"


#: The clock every component uses unless given another.
SYSTEM_CLOCK: Clock = SystemClock()
