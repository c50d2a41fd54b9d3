"""The portal's request bucket shared by every process through one Redis key.

A GCRA (the leaky bucket as a "theoretical arrival time") in one Lua script: each request
*reserves* its slot atomically and learns how long to wait before sending, so waiting needs no
polling and a crowd of waiters wakes one at a time, each at its own reserved moment. Redis
``TIME`` is the only clock, so hosts whose clocks disagree still share one schedule.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

from b24async.bucket import LeakyBucket
from b24async.clock import SYSTEM_CLOCK, Clock
from b24async.limits import RateLimits
from b24async.shared.link import RedisLink
from b24async.shared.operating import RedisHolds
from b24async.shared.scripts import BUCKET

if TYPE_CHECKING:
    from redis.commands.core import AsyncScript

__all__ = ["RedisBucket"]

logger = logging.getLogger("b24async")

_MICRO = 1_000_000


class RedisBucket:
    """A :class:`~b24async.bucket.RequestBucket` kept in Redis, shared per portal host.

    It has the local bucket's size (the portal's burst less the same safety margin,
    ``rate * limits.jitter`` slots) and drain rate. Here the margin also absorbs the skew
    between processes: each sends its reserved slot after Redis' reply reaches it and its event
    loop gets to it, and each host has its own path to the portal. Hosts whose sends may drift
    apart by more than ``limits.jitter`` (0.25 s by default) should pass a larger one.

    While Redis is unreachable it throttles on a local :class:`LeakyBucket` whose rate
    and size are the shared ones divided among the processes last seen sharing it.

    Args:
        link: the Redis connection.
        key: the bucket's key prefix (one per portal host).
        limits: the client's limits (``rate``, ``burst`` and ``jitter`` are used).
        holds: operating holds to bring up to date with each reservation (no extra round trip).
        clock: where local time is read and how waits are slept.
    """

    def __init__(
        self,
        link: RedisLink,
        key: str,
        limits: RateLimits,
        *,
        holds: RedisHolds | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._link = link
        self._holds = holds
        self._clock = clock
        self.rate = limits.rate
        self.burst = limits.burst
        self.jitter = limits.jitter
        self._local = LeakyBucket(limits.rate, limits.burst, jitter=limits.jitter)
        self.capacity = self._local.capacity
        self._interval_us = round(_MICRO / limits.rate)
        self._keys = [f"{key}:bucket", f"{key}:peers"]
        if holds is not None:
            self._keys.append(holds.key)
        self._process = uuid.uuid4().hex
        self._limits_text = f"rate={limits.rate:g} burst={limits.burst} jitter={limits.jitter:g}"
        self._script: AsyncScript = link.client.register_script(BUCKET)
        self._peers = 1
        self._fallback_peers = 1  # the local bucket is sized for this many processes
        self._warned_limits = False
        self._free_at = 0.0  # local monotonic time the bucket was last seen to have room
        self.saturations = 0
        self.waited = 0.0
        self.local_acquires = 0  # slots taken from the local bucket during outages
        self._bridged = False  # whether the local bucket has been standing in for the shared one
        self._local_waiting = 0  # requests waiting on the local bucket
        self._saturate_at: float | None = None  # when the stand-in local bucket starts full
        self._last_send_at = 0.0  # local time the last reserved shared slot comes

    async def _step(self, mode: str, extra: int = 0) -> list[int] | None:
        args: list[str | int | float] = [
            self._interval_us, self.capacity, mode, self._process, self._limits_text, extra
        ]  # fmt: skip
        reply = await self._link.run(lambda _client: self._script(keys=self._keys, args=args))
        if reply is None:
            return None
        wait_us, backlog_us, peers, mismatch = (int(x) for x in reply[:4])
        if self._holds is not None:
            self._holds.absorb(reply[4:])
        self._peers = max(1, peers)
        # When the last slot reserved so far is sent (local time): a stand-in local bucket
        # must not start before it.
        self._last_send_at = (
            self._clock.monotonic() + (backlog_us - self.capacity * self._interval_us) / _MICRO
        )
        self._free_at = self._last_send_at + self._interval_us / _MICRO
        if mismatch and not self._warned_limits:
            self._warned_limits = True
            logger.warning(
                "another process shares this portal's bucket with other limits than ours (%s): "
                "give every process the same limits=",
                self._limits_text,
            )
        return [wait_us]

    async def acquire(self) -> None:
        """Reserve the next shared slot and wait for it (the local bucket while Redis is down)."""
        if self._bridged:
            # Back from an outage: the portal's bucket may be full of what every process sent
            # meanwhile, and a restarted Redis has forgotten it. Assume full, as after a 503.
            # Requests still queued on the local bucket go first: reserve their slots too.
            owed = self._local_waiting * self._fallback_peers
            if await self._step("fill", owed) is not None:
                self._bridged = False
        reply = None if self._bridged else await self._step("take")
        if reply is None:
            await self._acquire_local()
            return
        wait = reply[0] / _MICRO
        if wait > 0:
            self.waited += wait
            await self._clock.sleep(wait)

    async def _acquire_local(self) -> None:
        if not self._bridged:
            self._bridged = True
            if self._fallback_peers != self._peers:
                # Every process falls back at once: each takes its share of the bucket.
                self._fallback_peers = self._peers
                self._local = LeakyBucket(
                    self.rate / self._peers,
                    max(2, self.burst // self._peers),
                    jitter=self.jitter,
                )
            # The shared bucket may have been full: start from full, once the slots already
            # reserved there (requests still waiting for their moment) have gone.
            self._saturate_at = self._last_send_at if self._link.started_up else None
        self.local_acquires += 1
        self._local_waiting += 1
        try:
            if self._saturate_at is not None:
                delay = self._saturate_at - self._clock.monotonic()
                if delay > 0:
                    await self._clock.sleep(delay)
                if self._saturate_at is not None:  # the first one awake marks it full
                    self._saturate_at = None
                    self._local.saturate()
            await self._local.acquire()
        finally:
            self._local_waiting -= 1

    def saturate(self) -> None:
        """The portal answered 503: mark the shared bucket full for every process."""
        self.saturations += 1
        self._local.saturate()
        self._free_at = max(self._free_at, self._clock.monotonic() + 1 / self.rate)
        # Sent in the background: the caller is synchronous (the throttle's 503 hook).
        self._link.spawn(self._step("fill"))

    def time_until_free(self) -> float:
        """Seconds until a slot is free, as of the last exchange with Redis (or locally)."""
        if not self._link.up:
            return self._local.time_until_free()
        return max(0.0, self._free_at - self._clock.monotonic())

    def __repr__(self) -> str:
        return f"RedisBucket({self._link.address}, rate={self.rate}, burst={self.burst})"
