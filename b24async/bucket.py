"""Client-side mirror of the portal's request-intensity leaky bucket, polite under contention.

The portal counts requests per portal and source IP in a leaky bucket (``burst`` slots draining
``rate`` per second; facts §2) and refuses a request that would overflow it with HTTP 503. The
client keeps its own bucket of the same shape, a safety margin smaller (see
:class:`LeakyBucket`), and sends only when it has room, so alone on a portal it never meets a 503.

Beside other clients the portal's bucket fills faster than ours. After a 503 the bucket is
marked full, and our drain rate is lowered multiplicatively (AIMD): the share of the portal's
rate we take falls to ``decrease`` times what it was (at most once per drain interval, so one
burst of refusals counts once). While no refusal comes, the share grows back by ``recovery``
per second up to the whole rate. So the client settles just under what the others leave it,
instead of winning every freed slot and pushing their requests into 503s.

Written on :class:`~b24async.clock.Clock` rather than on ``aiolimiter``: the throttle needs
"full as of now", "time until a slot frees" and a drain rate that changes, none of which
aiolimiter's public API offers (they meant reaching into its private attributes).
"""

from __future__ import annotations

import asyncio
from typing import Protocol, runtime_checkable

from b24async.clock import SYSTEM_CLOCK, Clock

__all__ = ["DEFAULT_JITTER", "LeakyBucket", "RequestBucket"]

#: Seconds of bunching between our count of a request and the portal's that the default safety
#: margin absorbs (``rate * DEFAULT_JITTER`` slots). See :class:`LeakyBucket`.
DEFAULT_JITTER = 0.25

_MIN_WAIT = 1e-6  # seconds: a shorter wait for a slot is float drift (see LeakyBucket._slot_wait)


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


class LeakyBucket:
    """A leaky bucket of ``burst`` slots draining at ``rate`` per second, less a safety margin.

    We count a request when it takes its slot; the portal counts it when it arrives (its bucket
    is checked before anything else runs). Only the *spread* of the delay between the two
    matters, not its size: if every request arrived ``d`` seconds after its count, the portal
    would see our schedule shifted by ``d`` and its level would never exceed ours. When the
    delays of requests sent close together differ by up to ``jitter`` seconds (network jitter,
    a new connection's TCP/TLS handshake, event-loop lag between taking the slot and writing
    the request, the portal's front-end queue), earlier requests arrive late and later ones
    early, and the portal's level runs up to ``rate * jitter`` slots above ours, never more.
    So the bucket keeps ``margin = rate * jitter`` slots free (fractional slots are fine; the
    default ``jitter`` is :data:`DEFAULT_JITTER`, 0.25 s: half a slot on standard plans, 1.25
    slots on Enterprise), capped at half the bucket.

    The trade-off: the margin never slows the steady rate, but a job that fills the bucket
    starts its steady pace ``margin / rate`` = ``jitter`` seconds later than the portal would
    allow (once per time the bucket fills). A spread larger than ``jitter`` costs a 503 instead:
    the refused request did not run and is sent again, but our share of the rate is cut (AIMD)
    and takes a while to recover. Pass a larger ``jitter`` (``RateLimits(jitter=...)``) or
    ``margin`` where requests bunch more: far from the portal over a slow link, a busy event
    loop, several hosts sharing one bucket.

    Args:
        rate: the portal's drain, requests per second.
        burst: the portal's bucket size.
        margin: slots kept free (may be fractional); overrides ``jitter``.
        jitter: seconds of bunching the margin absorbs, when ``margin`` is not given.
        decrease: factor applied to our share of the drain rate after a 503 (0 < f < 1).
        recovery: share of the drain rate regained per second without a refusal.
        min_share: the lowest share of the drain rate we fall to.
        clock: where time is read and waited.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        margin: float | None = None,
        jitter: float = DEFAULT_JITTER,
        decrease: float = 0.85,
        recovery: float = 0.01,
        min_share: float = 0.1,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be > 0, got {rate!r}")
        if not jitter >= 0:
            raise ValueError(f"jitter must be >= 0 seconds, got {jitter!r}")
        if margin is None:
            # At most half the bucket, and always room for one request.
            margin = min(rate * jitter, burst / 2, max(0.0, burst - 1.0))
        if not margin >= 0:
            raise ValueError(f"margin must be >= 0 slots, got {margin!r}")
        capacity = burst - margin
        if capacity < 1:
            raise ValueError(f"burst {burst} leaves no room after a safety margin of {margin}")
        if not 0 < decrease < 1:
            raise ValueError(f"decrease must be between 0 and 1, got {decrease!r}")
        if not 0 < min_share <= 1:
            raise ValueError(f"min_share must be in (0, 1], got {min_share!r}")
        self.rate = rate
        self.burst = burst
        self.margin = float(margin)
        self.capacity = float(capacity)
        self.decrease = decrease
        self.recovery = recovery
        self.min_share = min_share
        self.share = 1.0  # the part of ``rate`` we drain at (AIMD)
        self._clock = clock
        self._level = 0.0
        self._at: float | None = None
        self._last_cut: float | None = None
        self._lock = asyncio.Lock()
        self.saturations = 0
        self.waited = 0.0

    @property
    def drain(self) -> float:
        """Our current drain rate, requests per second (``rate * share``)."""
        return self.rate * self.share

    def _update(self) -> float:
        now = self._clock.monotonic()
        if self._at is not None:
            elapsed = max(0.0, now - self._at)
            self._level = max(0.0, self._level - elapsed * self.drain)
            if self.share < 1.0:
                self.share = min(1.0, self.share + self.recovery * elapsed)
        self._at = now
        return now

    async def acquire(self) -> None:
        """Wait for a slot (first come, first served) and take it."""
        started: float | None = None
        async with self._lock:
            while True:
                now = self._update()
                wait = self._slot_wait()
                if wait == 0.0:
                    self._level += 1
                    break
                if started is None:
                    started = now
                await self._clock.sleep(wait)
        if started is not None:
            self.waited += self._clock.monotonic() - started

    def saturate(self) -> None:
        """The portal refused a request: our bucket is full, and we drain slower for a while."""
        self.saturations += 1
        now = self._update()
        self._level = self.capacity
        interval = 1.0 / self.drain
        if self._last_cut is None or now - self._last_cut >= interval:
            self.share = max(self.min_share, self.share * self.decrease)
            self._last_cut = now

    def _slot_wait(self) -> float:
        """Seconds until the level leaves room for one more request; 0 when it does now.

        A wait under a microsecond is float drift, not a request, and counts as none: sleeping
        it can livelock a loop whose clock ticks coarser than that (a virtual-time test loop
        fires such a timer at once without moving its clock, and the level never drains).
        """
        wait = (self._level + 1 - self.capacity) / self.drain
        return wait if wait >= _MIN_WAIT else 0.0

    def room(self) -> float:
        """Requests that could be sent at once now, without waiting (0 while others wait).

        Optional beyond :class:`RequestBucket`: the coalescer spreads a large read over more
        requests only with room to spare (see :mod:`b24async.spreading`).
        """
        if self._lock.locked():
            return 0.0
        self._update()
        return max(0.0, self.capacity - self._level)

    def time_until_free(self) -> float:
        """Seconds until a request could be sent without waiting."""
        self._update()
        wait = self._slot_wait()
        if self._lock.locked():
            wait = max(wait, 1.0 / self.drain)  # others are already waiting in line
        return wait

    def __repr__(self) -> str:
        return (
            f"LeakyBucket(rate={self.rate}, burst={self.burst}, margin={self.margin:g}, "
            f"capacity={self.capacity:g})"
        )
