"""The connection to Redis and what happens when it fails.

Everything the shared components send to Redis goes through :meth:`RedisLink.run`, which turns
a Redis failure into ``None`` (the caller then falls back to its local state) and keeps the
outage's bookkeeping in one place: one WARNING when sharing stops, one INFO when it resumes,
and a retry at most every :attr:`RedisLink.retry_interval` seconds in between, so a dead Redis
costs neither a log line nor a connection attempt per request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Literal, TypeVar

from b24async.clock import SYSTEM_CLOCK, Clock
from b24async.errors import TransportError

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["Fallback", "RedisLink", "redis_address"]

logger = logging.getLogger("b24async")

T = TypeVar("T")

#: What to do when Redis cannot be reached at start: raise, or throttle locally.
Fallback = Literal["raise", "local"]

_CONNECT_TIMEOUT = 3.0  # seconds for one connection attempt (start fails well within 10 s)
_COMMAND_TIMEOUT = 3.0  # seconds for one command's answer


def redis_address(client: Redis) -> str:
    """``redis://host:port/db`` (or ``unix://path``) of a client, without any credentials."""
    kwargs = client.connection_pool.connection_kwargs
    if "path" in kwargs:
        return f"unix://{kwargs['path']}"
    host, port, db = kwargs.get("host", "localhost"), kwargs.get("port", 6379), kwargs.get("db", 0)
    return f"redis://{host}:{port}/{db}"


def open_client(shared: str | Redis) -> tuple[Redis, bool]:
    """A Redis client for ``shared`` (a URL or a client) and whether we own it."""
    try:
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
    except ImportError:
        raise ImportError("shared= needs the redis extra: pip install 'b24async[redis]'") from None
    if isinstance(shared, Redis):
        return shared, False
    if not isinstance(shared, str):
        raise TypeError(
            "shared must be a Redis URL or a redis.asyncio.Redis client, "
            f"got {type(shared).__name__}"
        )
    if not shared.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("shared must be a redis://, rediss:// or unix:// URL")
    client = Redis.from_url(
        shared,
        socket_connect_timeout=_CONNECT_TIMEOUT,
        socket_timeout=_COMMAND_TIMEOUT,
        health_check_interval=30,
        # One immediate retry (a pooled connection that died with a restarted server), no
        # backoff: while Redis is down the client throttles locally instead of waiting.
        retry=Retry(NoBackoff(), 1),
    )
    return client, True


class RedisLink:
    """One client's connection to Redis, its start check and its outage handling.

    Args:
        client: the Redis client.
        owned: whether :meth:`close` closes it (a caller-owned client stays open).
        fallback: ``"raise"``: the first call fails with :class:`TransportError` when Redis is
            unreachable at start; ``"local"``: it continues on local throttling (one WARNING).
        retry_interval: seconds between reconnection attempts during an outage.
        clock: where time is read.
        log_outages: log the WARNING/INFO of an outage here (False when the user of the link
            reports outages itself, as the event receiver does for its token store).
    """

    def __init__(
        self,
        client: Redis,
        *,
        owned: bool,
        fallback: Fallback = "raise",
        retry_interval: float = 1.0,
        clock: Clock = SYSTEM_CLOCK,
        log_outages: bool = True,
    ) -> None:
        if fallback not in ("raise", "local"):
            raise ValueError(f'shared_fallback must be "raise" or "local", got {fallback!r}')
        self.client = client
        self.owned = owned
        self.fallback: Fallback = fallback
        self.retry_interval = retry_interval
        self.address = redis_address(client)
        self.log_outages = log_outages
        self.last_error: str | None = None
        """The last failure, described without secrets (``None`` until one happens)."""
        self._clock = clock
        self._started = False
        self._up = False
        self._retry_at = 0.0
        self._start_lock: asyncio.Lock | None = None
        self._tasks: set[asyncio.Task[object]] = set()
        self.outages = 0  # times sharing stopped (for stats and tests)
        self.round_trips = 0  # commands/scripts sent to Redis

    @property
    def started(self) -> bool:
        """Whether the start check is done."""
        return self._started

    @property
    def started_up(self) -> bool:
        """Whether Redis has answered at least once (so a shared bucket was in use)."""
        return self.round_trips > 0

    @property
    def up(self) -> bool:
        """Whether the last exchange with Redis succeeded."""
        return self._up

    async def start(self) -> None:
        """Check Redis once before the first request (idempotent; later calls return at once).

        Raises :class:`TransportError` naming Redis and its address when it cannot be reached
        and ``fallback`` is ``"raise"``; with ``"local"`` logs one WARNING instead.
        """
        if self._started:
            return
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if self.started:  # another caller finished the check while we waited
                return
            try:
                await asyncio.wait_for(self.client.ping(), _CONNECT_TIMEOUT * 2)
                self.round_trips += 1
            except Exception as exc:
                if not _is_redis_failure(exc):
                    raise
                if self.fallback == "raise":
                    raise TransportError(
                        f"Redis at {self.address} is unreachable ({_describe(exc)}); "
                        'pass shared_fallback="local" to throttle locally instead',
                        sent=False,
                    ) from None
                self._mark_down(exc, at_start=True)
            else:
                self._up = True
            self._started = True

    async def run(self, operation: Callable[[Redis], Awaitable[T]]) -> T | None:
        """Run ``operation`` against Redis; ``None`` when Redis is (or just went) unavailable."""
        if not self._up and self._clock.monotonic() < self._retry_at:
            return None
        try:
            result = await asyncio.wait_for(operation(self.client), _COMMAND_TIMEOUT * 2)
        except Exception as exc:
            if not _is_redis_failure(exc):
                raise
            self._mark_down(exc)
            return None
        self.round_trips += 1
        if not self._up:
            self._up = True
            if self._started and self.log_outages:
                logger.info("Redis at %s is back: sharing the throttle again", self.address)
        return result

    def _mark_down(self, exc: BaseException, *, at_start: bool = False) -> None:
        self._retry_at = self._clock.monotonic() + self.retry_interval
        self.last_error = _describe(exc)
        if (self._up or at_start) and self.log_outages:
            self.outages += 1
            logger.warning(
                "Redis at %s is unreachable (%s): throttling locally until it is back",
                self.address,
                _describe(exc),
            )
        self._up = False

    def spawn(self, operation: Awaitable[object]) -> None:
        """Run ``operation`` in the background (for callers that cannot await)."""
        task: asyncio.Task[object] = asyncio.ensure_future(operation)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for the background writes in flight (at most a command timeout)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=_COMMAND_TIMEOUT)

    async def close(self) -> None:
        """Finish background writes; close the client if we opened it (not a caller's)."""
        await self.drain()
        if self.owned:
            await self.client.aclose()


def _is_redis_failure(exc: BaseException) -> bool:
    from redis.exceptions import RedisError

    return isinstance(exc, (RedisError, OSError, asyncio.TimeoutError))


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
