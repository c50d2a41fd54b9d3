"""Client-side mirror of the portal's request-intensity leaky bucket."""

from __future__ import annotations

import contextlib
import math
from typing import Protocol, runtime_checkable

from aiolimiter import AsyncLimiter

from b24async.clock import SYSTEM_CLOCK, Clock

__all__ = ["LeakyBucket", "RequestBucket"]


@runtime_checkable
class RequestBucket(Protocol):
    """What the throttle needs from a request-intensity limiter.

    Implement this to share one bucket between processes or hosts (e.g. backed by Redis):
    the portal counts requests per portal and source IP, not per client object.
    """

    async def acquire(self) -> None:
        """Wait until one more request may be sent, and count it."""

    def saturate(self) -> None:
        """The portal just said its bucket is full (HTTP 503): treat ours as full too."""

    def time_until_free(self) -> float:
        """Seconds until :meth:`acquire` would return at once (0 when it would now)."""


class _Limiter(AsyncLimiter):
    """``AsyncLimiter`` plus the one operation it lacks: "the bucket is full as of now"."""

    def _leak(self) -> None:
        super()._leak()
        # Float drift leaves the level a hair above a whole slot (74.00000000000001 of 75);
        # aiolimiter then sets a timer ~1e-16 s ahead, which fires at once. On a real loop time
        # has moved by then; on a loop whose time stands still while it works (virtual time in
        # tests) the timer fires forever. Less than a microsecond of drain is rounded away, so
        # every wait is either none or at least a microsecond.
        whole = math.floor(self._level)
        if 0 < self._level - whole < self._rate_per_sec * 1e-6:
            self._level = float(whole)

    def saturate(self) -> None:
        # aiolimiter keeps its level in ``_level`` and the time of the last leak in
        # ``_last_check`` (stable since 1.0; pinned <2 in pyproject; covered by tests).
        self._level = float(self.max_rate)
        self._last_check = self._loop.time()

    def time_until_free(self) -> float:
        self._leak()
        needed = self._level + 1 - self.max_rate
        return (
            max(0.0, needed / self._rate_per_sec) if not self._waiters else 1 / self._rate_per_sec
        )


class LeakyBucket:
    """A leaky bucket of ``burst`` slots draining at ``rate`` per second, with a safety margin.

    Requests sent exactly at the drain rate reach the portal bunched by network jitter and
    overflow its bucket; so the client's bucket is ``margin`` slots smaller than the portal's.
    The default margin absorbs a quarter second of bunching (at least 2 slots, at most half the
    bucket): 2 slots on standard and Enterprise plans. The drain rate itself is kept: a couple of
    slots lost at the start cost about a second, while a slower drain would cost a percentage of
    every long job.

    The drain itself runs on the event loop's time (aiolimiter reads ``loop.time()``); ``clock``
    measures the time spent waiting (``waited``) and should read the same loop.
    """

    def __init__(
        self, rate: float, burst: int, *, margin: int | None = None, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        if margin is None:
            margin = min(burst // 2, max(2, math.ceil(rate * 0.25)))
        capacity = burst - margin
        if capacity < 1:
            raise ValueError(f"burst {burst} leaves no room after a safety margin of {margin}")
        self.rate = rate
        self.burst = burst
        self.capacity = capacity
        self._limiter = _Limiter(capacity, capacity / rate)
        self.saturations = 0
        self.waited = 0.0
        self._clock = clock

    async def acquire(self) -> None:
        """Wait for a slot (FIFO) and take it."""
        if self._limiter.has_capacity():
            await self._limiter.acquire()
            return
        started = self._clock.monotonic()
        await self._limiter.acquire()
        self.waited += self._clock.monotonic() - started

    def saturate(self) -> None:
        """Mark the bucket full: the next request waits one drain interval (1/rate s)."""
        self.saturations += 1
        with contextlib.suppress(RuntimeError):  # no running loop yet: nothing to saturate
            self._limiter.saturate()

    def time_until_free(self) -> float:
        """Seconds until a request could be sent without waiting."""
        try:
            return self._limiter.time_until_free()
        except RuntimeError:  # no running loop: nothing has been sent
            return 0.0

    def __repr__(self) -> str:
        return f"LeakyBucket(rate={self.rate}, burst={self.burst}, capacity={self.capacity})"
