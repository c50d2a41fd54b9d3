"""A clock for tests: everything, wall time included, read from the running event loop.

The client and the :class:`~b24async.testing.FakePortal` never read ``time.time`` or call
``asyncio.sleep`` directly: they go through a :class:`~b24async.clock.Clock`, and their other
waits (aiolimiter, ``asyncio.wait_for``, aiohttp's timeouts) are timers of the event loop. So
virtual time for tests is a matter of the loop's time, and this module does not fast-forward
anything itself: an event loop that skips ahead whenever it is idle does that (the `looptime`_
pytest plugin: mark a test ``@pytest.mark.looptime``). What such a loop lacks is a *wall* clock
that moves with it: the portal's unix timestamps, its one-minute operating buckets and
``operating_reset_at`` are wall time, and the client compares them with its own wall time.
:class:`LoopClock` is that clock. Give the same one to the portal and to the client::

    @pytest.mark.looptime
    async def test_a_long_job() -> None:
        clock = LoopClock()
        async with FakePortal(clock=clock) as portal:
            async with Bitrix24(portal.webhook_url, clock=clock) as b24:
                ...  # ten virtual minutes of operating holds take milliseconds

Why the loop and not a clock object that tests advance by hand: aiolimiter and aiohttp read
``loop.time()`` themselves, so a clock beside the loop would leave them on real time, and a test
that advances a clock by hand has to know every wait the client makes. A loop whose time jumps
to its next timer covers them all without the test knowing any. (`looptime`_ is a small, kept
library doing exactly that; writing our own event loop would repeat it.)

.. _looptime: https://pypi.org/project/looptime/
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from b24async.clock import Clock

__all__ = ["LoopClock", "as_clock"]


class LoopClock:
    """A :class:`~b24async.clock.Clock` whose every reading follows the running loop's time.

    ``monotonic()`` is ``loop.time()``; ``time()`` is ``start`` at the first reading and moves
    with ``loop.time()`` after it; ``sleep()`` is ``asyncio.sleep``. On an ordinary loop this is
    real time (the wall clock just does not follow NTP adjustments); on a loop that
    fast-forwards idle time (looptime) the wall clock jumps with it, so unix timestamps, token
    expiry and operating windows all move together.

    Use one ``LoopClock`` per event loop (per test): it reads whichever loop is running, and
    outside one ``time.monotonic()``, which is what an ordinary loop reads (so a portal served
    from a thread can be inspected from the test's thread). A fast-forwarding loop's time can
    only be read inside it: make the first reading there (the portal and the client read the
    clock only once they run).

    Args:
        start: the unix time of the first reading (default: the real time at that moment).
    """

    def __init__(self, start: float | None = None) -> None:
        self._start = start
        self._offset: float | None = None  # time() - monotonic(), fixed at the first reading

    def monotonic(self) -> float:
        """The running event loop's time (outside a loop: ``time.monotonic()``)."""
        try:
            return asyncio.get_running_loop().time()
        except RuntimeError:
            return time.monotonic()  # what an ordinary event loop reads

    def time(self) -> float:
        """Unix time: ``start`` at the first reading, then moving with the loop's time."""
        now = self.monotonic()
        if self._offset is None:
            self._offset = (time.time() if self._start is None else self._start) - now
        return self._offset + now

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep(max(seconds, 0))``: a timer on the loop, virtual if its time is."""
        await asyncio.sleep(max(seconds, 0.0))

    def __repr__(self) -> str:
        return f"LoopClock(start={self._start!r})"


class _MonotonicCallable:
    """A bare monotonic callable as a :class:`Clock`: wall time starts at the real time and
    follows the callable; sleeps are real (a test's frozen clock stays frozen through them)."""

    def __init__(self, monotonic: Callable[[], float]) -> None:
        self._monotonic = monotonic
        self._offset = time.time() - monotonic()

    def monotonic(self) -> float:
        return self._monotonic()

    def time(self) -> float:
        return self._offset + self._monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))

    def __repr__(self) -> str:
        return f"<clock {self._monotonic!r}>"


class _Shifted:
    """A clock whose unix time is shifted (skewed, or started at a given time)."""

    def __init__(self, base: Clock, skew: float, start: float | None) -> None:
        self._base = base
        self._skew = skew
        self._start = start
        self._delta: float | None = None

    def monotonic(self) -> float:
        return self._base.monotonic()

    def time(self) -> float:
        now = self._base.time()
        if self._delta is None:
            self._delta = self._skew if self._start is None else self._start - now
        return now + self._delta

    async def sleep(self, seconds: float) -> None:
        await self._base.sleep(seconds)


def as_clock(clock: Clock | Callable[[], float] | None) -> Clock:
    """``clock`` as a :class:`Clock`: ``None`` is a new :class:`LoopClock`; a bare callable is
    taken as a monotonic clock (the FakePortal's ``clock`` argument before the protocol)."""
    if clock is None:
        return LoopClock()
    if isinstance(clock, Clock):
        return clock
    return _MonotonicCallable(clock)
