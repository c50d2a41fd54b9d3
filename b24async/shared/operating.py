"""Operating holds shared by every process: a key held in one process is held in all.

The portal bills each key (a REST method, and ``batch``) per portal and credential, whichever
process sends. Usage needs no sharing of its own: every response reports the key's total, so
each process's budget already sees what the others spent. What one process alone learns is a
*hold*: a 429 (on newer portals a 300 s ban), or its budget deciding that the key must wait for
the window to move. Those are published here, keyed by portal + credential hash + billed key,
and every process waits them out before sending that key again.
"""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Protocol

from b24async.bucket import RequestBucket
from b24async.clock import SYSTEM_CLOCK, Clock
from b24async.limits import RateLimits
from b24async.protocol import Timing
from b24async.shared.link import RedisLink
from b24async.shared.scripts import HOLD, HOLDS
from b24async.throttle import Throttle

if TYPE_CHECKING:
    from redis.commands.core import AsyncScript

__all__ = ["HoldStore", "RedisHolds", "SharedThrottle"]

_MICRO = 1_000_000
_BATCH = "batch"

# The billed keys of the request the current task is about to send: wait_methods() sets them,
# request_slot() re-checks them after the bucket wait (a hold may have come meanwhile).
_KEYS: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar(
    "b24async_shared_keys", default=frozenset()
)


class HoldStore(Protocol):
    """Holds of billed keys shared between processes ("key K may not be sent for S seconds")."""

    def publish(self, key: str, seconds: float) -> None:
        """Hold ``key`` for ``seconds`` from now, for every process (sent in the background)."""

    async def refresh(self) -> None:
        """Bring the local view of the holds up to date (rate-limited by the store)."""

    def remaining(self, key: str) -> float:
        """Seconds ``key`` is still held, as of the last :meth:`refresh` (0: not held)."""


class RedisHolds:
    """A :class:`HoldStore` in one Redis hash per portal and credential.

    Every shared bucket reservation brings the holds along; a separate read is made only when
    the last one is older than ``max_age`` seconds (an idle process).
    Holds are kept as Redis ``TIME`` deadlines and handed out as durations: no host clock is
    compared with another.
    """

    def __init__(
        self, link: RedisLink, key: str, *, max_age: float = 0.25, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self._link = link
        self.key = f"{key}:holds"
        self._max_age = max_age
        self._clock = clock
        self._hold: AsyncScript = link.client.register_script(HOLD)
        self._holds: AsyncScript = link.client.register_script(HOLDS)
        self._until: dict[str, float] = {}  # key -> local monotonic deadline
        self._read_at = -1e18
        self._published: dict[str, float] = {}  # key -> deadline we last published

    def publish(self, key: str, seconds: float) -> None:
        """Hold ``key`` for ``seconds`` everywhere; locally at once."""
        if seconds <= 0:
            return
        deadline = self._clock.monotonic() + seconds
        self._until[key] = max(self._until.get(key, 0.0), deadline)
        if deadline <= self._published.get(key, 0.0) + 0.05:
            return  # already published (as good as) this hold
        self._published[key] = deadline
        micros = round(seconds * _MICRO)
        self._link.spawn(self._link.run(lambda _c: self._hold(keys=[self.key], args=[key, micros])))

    async def refresh(self) -> None:
        """Read every hold in force (at most once per ``max_age``)."""
        now = self._clock.monotonic()
        if now - self._read_at < self._max_age:
            return
        self._read_at = now
        reply = await self._link.run(lambda _c: self._holds(keys=[self.key]))
        if reply is not None:  # else Redis is down: keep what we knew
            self.absorb(reply)

    def absorb(self, reply: Sequence[object]) -> None:
        """Take the holds in force from a script's reply: key, remaining µs, key, ..."""
        now = self._clock.monotonic()
        self._read_at = now
        fresh: dict[str, float] = {}
        for index in range(0, len(reply), 2):
            name = reply[index]
            key = name.decode() if isinstance(name, bytes) else str(name)
            fresh[key] = now + int(str(reply[index + 1])) / _MICRO
        # Our own holds not yet written back stay in force.
        for key, deadline in self._until.items():
            if deadline > now and key not in fresh:
                fresh[key] = deadline
        self._until = fresh

    def remaining(self, key: str) -> float:
        """Seconds ``key`` is held (0 when it is not)."""
        deadline = self._until.get(key)
        if deadline is None:
            return 0.0
        return max(0.0, deadline - self._clock.monotonic())

    def held(self) -> Mapping[str, float]:
        """Every key held now, with its remaining seconds (as of the last refresh)."""
        return {k: r for k in self._until if (r := self.remaining(k)) > 0}


class SharedThrottle(Throttle):
    """The default :class:`Throttle` with its bucket and its operating holds shared.

    Before admitting commands it waits out the shared holds of their keys; a 429 or a hold its
    own budget decides on is published for every process.

    Args:
        limits, max_concurrency: as for :class:`Throttle`.
        bucket: the shared request bucket (e.g. :class:`~b24async.shared.bucket.RedisBucket`).
        holds: the shared holds.
        link: the Redis link (checked before the first request).
        webhook: webhook credentials (their in-batch calls are billed apart; see
            :class:`~b24async.operating.OperatingBudget`).
        clock: where waits are slept.
    """

    def __init__(
        self,
        limits: RateLimits,
        *,
        max_concurrency: int,
        bucket: RequestBucket,
        holds: RedisHolds,
        link: RedisLink,
        webhook: bool = False,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        super().__init__(
            limits, max_concurrency=max_concurrency, bucket=bucket, webhook=webhook, clock=clock
        )
        self.holds = holds
        self.link = link
        self._clock = clock
        self.shared_wait = 0.0  # seconds spent waiting out holds published by others

    def _keys(self, methods: Collection[str]) -> set[str]:
        keys = {self.operating.key_name(m) for m in methods}
        if len(methods) > 1:
            keys.add(_BATCH)  # several commands travel as one batch request
        return keys

    async def wait_methods(self, methods: Collection[str]) -> None:
        """Wait out the shared holds of these commands' keys, then the local budget."""
        await self.link.start()
        keys = self._keys(methods)
        while True:
            await self.holds.refresh()
            remaining = max((self.holds.remaining(key) for key in keys), default=0.0)
            if remaining <= 0:
                break
            self.shared_wait += remaining
            await self._clock.sleep(remaining)
        await super().wait_methods(methods)
        _KEYS.set(frozenset(keys))

    def request_slot(self) -> AbstractAsyncContextManager[None]:
        """A bucket and in-flight slot; a key held while we waited for it is waited out first.

        The bucket's reservation brings the holds in force: a request that queued for its slot
        before another process was refused does not follow it into the refusal.
        """
        return self._held_slot(_KEYS.get())

    @asynccontextmanager
    async def _held_slot(self, keys: frozenset[str]) -> AsyncIterator[None]:
        while True:
            async with super().request_slot():
                if keys:
                    await self.holds.refresh()  # reads only if the view is older than max_age
                remaining = max((self.holds.remaining(key) for key in keys), default=0.0)
                if remaining <= 0:
                    yield
                    return
            # Give the slots back (the reserved moment is spent) and wait the hold out.
            self.shared_wait += remaining
            await self._clock.sleep(remaining)

    def hold_remaining(self, method: str) -> float | None:
        """The longer of the local and the shared hold of ``method``."""
        local = super().hold_remaining(method)
        shared = self.holds.remaining(self.operating.key_name(method))
        if local is None:
            return None if shared <= 0 else shared
        return max(local, shared)

    def admissible(self, method: str) -> int | None:
        """0 while the key is held anywhere; else what the local budget admits."""
        if self.holds.remaining(self.operating.key_name(method)) > 0:
            return 0
        return super().admissible(method)

    def settle(self, method: str, timing: Timing | None) -> None:
        """Record the outcome; publish a hold the local budget now decides on."""
        super().settle(method, timing)
        if timing is not None:
            held = super().hold_remaining(method)
            if held:
                self.holds.publish(self.operating.key_name(method), held)

    def on_operation_limit(self, method: str) -> float:
        """The portal refused ``method`` (429): hold it here and in every other process."""
        wait = super().on_operation_limit(method)
        self.holds.publish(self.operating.key_name(method), wait)
        return wait
