"""The throttle: one small policy object that decides when a request may be sent.

It combines the portal's two limits (the request-intensity bucket and the per-method operating
budget) with a cap on requests in flight. The client talks to it through :class:`ThrottlePolicy`
only, so a policy with another bucket (e.g. shared through Redis by many processes) drops in
without touching the client.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol, runtime_checkable

from b24async.bucket import LeakyBucket, RequestBucket
from b24async.clock import SYSTEM_CLOCK, Clock
from b24async.limits import RateLimits
from b24async.operating import MethodUsage, OperatingBudget
from b24async.protocol import Timing, WireTimes

__all__ = ["UNKNOWN_ROOM", "Throttle", "ThrottlePolicy"]

#: The room :meth:`Throttle.room` assumes in a bucket that cannot tell: enough for a large read
#: in two requests (see :mod:`b24async.spreading`), the most this client spread reads to
#: before it knew the bucket's room.
UNKNOWN_ROOM = 4.0


@runtime_checkable
class ThrottlePolicy(Protocol):
    """The narrow interface between the client and any throttle."""

    async def wait_methods(self, methods: Collection[str]) -> None:
        """Wait until every method (one entry per command) may run, and admit them."""

    def hold_remaining(self, method: str) -> float | None:
        """Seconds ``method`` is held (0: free now; ``None``: waiting for a report)."""

    def admissible(self, method: str) -> int | None:
        """How many more commands of ``method`` may go now (``None``: no known limit)."""

    def request_slot(self) -> AbstractAsyncContextManager[None]:
        """Async context manager: a bucket slot plus an in-flight slot for one HTTP request."""

    async def wait_ready(self) -> None:
        """Wait until a request could be sent at once (takes nothing)."""

    def settle(self, method: str, timing: Timing | None) -> None:
        """One admitted command of ``method`` finished (with its ``time`` block, if any)."""

    def on_query_limit(self) -> None:
        """The portal answered 503 ``QUERY_LIMIT_EXCEEDED``: resynchronise the bucket."""

    def on_operation_limit(self, method: str) -> float:
        """The portal blocked ``method`` (429): hold it; returns seconds until it may retry."""

    def usage(self) -> Mapping[str, MethodUsage]:
        """Per-method operating usage as last reported by the portal (for ``client.stats``)."""

    @property
    def waited(self) -> float:
        """Seconds requests spent waiting for bucket and in-flight slots so far."""

    @property
    def operating_waited(self) -> float:
        """Seconds calls spent held by their method's operating budget so far."""


class AbstractAsyncSlot(Protocol):
    """What :meth:`ThrottlePolicy.request_slot` returns."""

    async def __aenter__(self) -> None: ...

    async def __aexit__(self, *exc: object) -> None: ...


class Throttle:
    """The default policy: a leaky bucket, per-method operating budgets, an in-flight cap.

    Args:
        limits: the portal's limits (``RateLimits.STANDARD`` by default).
        max_concurrency: the most HTTP requests in flight at once. The default, 50, is the
            standard plan's burst: the bucket already lets that many go at once, and a lower
            cap only keeps a long read's last batches (each ~1 s of server time) waiting for
            the first answers. The operating budget, not this cap, bounds server time.
        bucket: the request bucket; defaults to an in-process :class:`LeakyBucket` whose safety
            margin absorbs ``limits.jitter`` seconds of bunching. Pass a shared implementation
            of :class:`RequestBucket` when several processes or hosts call the same portal.
        webhook: the client calls through a webhook, whose batch commands the portal bills
            apart from its direct calls (see :class:`~b24async.operating.OperatingBudget`).
        clock: where the throttle reads the time and sleeps (given to the default bucket and
            to the operating budget); the client passes its own.
    """

    def __init__(
        self,
        limits: RateLimits = RateLimits.STANDARD,
        *,
        max_concurrency: int = 50,
        bucket: RequestBucket | None = None,
        webhook: bool = False,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        self.limits = limits
        self.max_concurrency = max_concurrency
        self.clock = clock
        self.bucket: RequestBucket = bucket or LeakyBucket(
            limits.rate, limits.burst, jitter=limits.jitter, clock=clock
        )
        self.operating = OperatingBudget(
            limits.operating_budget,
            limits.operating_window,
            floor=limits.operating_floor,
            ban=limits.operating_ban,
            apart=webhook,
            clock=clock,
        )
        # A semaphore wakes one waiter per freed slot (a condition's notify_all woke them all:
        # thousands of needless wake-ups in a large batch job).
        self._in_flight = asyncio.Semaphore(max_concurrency)
        self._active = 0  # requests holding an in-flight slot
        self.waited = 0.0  # seconds spent waiting for bucket and in-flight slots

    async def wait_methods(self, methods: Collection[str]) -> None:
        """Wait until the request fits the operating budget of every key it bills, then admit.

        An entry ``"batch"`` marks a batch request (its own key, billed half the rest).
        """
        await self.operating.wait(methods)

    def hold_remaining(self, method: str) -> float | None:
        """Seconds ``method`` is held by its operating budget."""
        return self.operating.hold_remaining(method)

    def admissible(self, method: str) -> int | None:
        """How many more commands of ``method`` its operating budget admits now."""
        return self.operating.admissible(method)

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        started = self.clock.monotonic()
        async with self._in_flight:
            self._active += 1
            try:
                await self.bucket.acquire()
                self.waited += self.clock.monotonic() - started
                yield
            finally:
                self._active -= 1

    async def wait_ready(self) -> None:
        """Wait until an in-flight slot is free and the bucket has room."""
        if self._in_flight.locked():
            await self._in_flight.acquire()  # wait for a free slot in turn; leave it free
            self._in_flight.release()
        # The bucket says when it frees up; sleeping exactly that long is the event we need.
        while (delay := self.bucket.time_until_free()) > 0:
            await self.clock.sleep(delay)

    def request_slot(self) -> AbstractAsyncContextManager[None]:
        """A bucket slot and an in-flight slot, held for the duration of one HTTP request."""
        return self._slot()

    def room(self) -> float:
        """Requests that could go at once now: free in-flight slots, and the bucket's room.

        Not part of :class:`ThrottlePolicy` (a policy without it gets the coalescer's
        cautious default). A bucket without a ``room()`` of its own (e.g. one shared through
        Redis) counts as room for :data:`UNKNOWN_ROOM` requests.
        """
        free = float(self.max_concurrency - self._active)
        measure = getattr(self.bucket, "room", None)
        bucket = measure() if callable(measure) else UNKNOWN_ROOM
        return min(free, float(bucket))

    def settle(self, method: str, timing: Timing | None) -> None:
        """Record one command's outcome for its method's budget."""
        self.operating.settle(method, timing)

    def settle_all(self, reports: Iterable[tuple[str, Timing | None]]) -> None:
        """:meth:`settle` each ``(method, timing)`` of one answer, in one pass.

        Not part of :class:`ThrottlePolicy`: the client calls it when a policy has it (a
        batch answer brings ~51 reports) and calls ``settle`` per report otherwise. A subclass
        that overrides ``settle`` (to watch each report) gets its ``settle`` per report here.
        """
        if type(self).settle is not Throttle.settle:
            for method, timing in reports:
                self.settle(method, timing)
        else:
            self.operating.settle_all(reports)

    def settle_wire(self, reports: WireTimes) -> None:
        """:meth:`settle_all` of one answer's raw ``time`` blocks, no ``Timing`` built.

        Not part of :class:`ThrottlePolicy` either: the client calls it for a decoder's
        :class:`~b24async.protocol.WireTimes` when a policy has it, and hands others (and a
        subclass that overrides ``settle`` or ``settle_all``) the same reports as ``Timing``
        objects.
        """
        cls = type(self)
        if cls.settle is not Throttle.settle or cls.settle_all is not Throttle.settle_all:
            self.settle_all(reports.timings())
        else:
            self.operating.settle_wire(reports)

    def on_query_limit(self) -> None:
        """Treat the bucket as full: another client on the portal has been using it."""
        self.bucket.saturate()

    def on_operation_limit(self, method: str) -> float:
        """Hold ``method`` until its operating window frees up."""
        return self.operating.refused(method)

    def usage(self) -> dict[str, MethodUsage]:
        """Per-method operating usage as last reported by the portal."""
        return self.operating.usage()

    @property
    def operating_waited(self) -> float:
        """Seconds calls spent held by their method's operating budget."""
        return self.operating.waited
