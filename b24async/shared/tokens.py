"""The event receivers' application tokens in Redis, shared by every process and host.

An :class:`~b24async.events.EventReceiver` verifies each delivery against the
``application_token`` stored for its ``member_id``; the token arrives once, with
``ONAPPINSTALL``, at whichever receiver the portal picked. With several receivers (processes,
hosts behind a load balancer) they must all see it, and all forget it on a verified
``ONAPPUNINSTALL``: :class:`RedisTokenStore` keeps it in Redis, one key per portal::

    tokens = RedisTokenStore("redis://redis-host:6379/0", app=CLIENT_ID)
    receiver = EventReceiver(on_event, tokens=tokens)

The store only stores and loads (the receiver compares in constant time). Key names carry
hashes of the app and the ``member_id``, never a token; the token is the key's value, so Redis
must be as private as the app's database. The keys have **no TTL**, on purpose: a token is valid
until the app is uninstalled, and the portal sends it only once, so a key that expired would
lock its portal out until an operator restored it (see :class:`RedisTokenStore`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar

from b24async.events.tokens import TokenStoreUnavailable
from b24async.shared.keys import KEY_PREFIX, digest
from b24async.shared.link import RedisLink, open_client

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisTokenStore"]

# Compare-and-set: the token is swapped only if it is still the one the receiver checked.
_REPLACE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

T = TypeVar("T")


async def _boxed(result: Awaitable[T]) -> tuple[T]:
    # RedisLink.run answers None for "Redis failed"; boxing keeps a GET's None (no token) apart.
    return (await result,)


def _require_token(token: object) -> None:
    if not isinstance(token, str) or not token:
        raise ValueError("the application token must be a non-empty string")


class RedisTokenStore:
    """A :class:`~b24async.events.RotatingTokenStore` in Redis: receivers on many hosts share
    tokens (and the portals' addresses a new ``ONAPPUPDATE`` token is confirmed at).

    Args:
        shared: what ``Bitrix24(shared=...)`` takes: a Redis URL (``redis://``, ``rediss://``,
            ``unix://``; the store opens and closes its own client), or a
            ``redis.asyncio.Redis`` the caller owns (left open by :meth:`close`).
        app: a name of the application, e.g. its ``client_id``. A portal gives each app its
            own token, so apps sharing one Redis need their own names (it is hashed into the
            key names, not stored).
        retry_interval: while Redis is down, seconds between connection attempts; deliveries
            in between are refused at once instead of each waiting for a timeout.

    Every method raises :class:`~b24async.events.TokenStoreUnavailable` (naming Redis and the
    cause, never a token) when Redis cannot answer; the receiver then answers 503.

    One key per portal, ``b24async:v1:events:<hash of app>:token:<hash of member_id>``, holding
    the token as a plain string, with no TTL: the token lives until the app is uninstalled, the
    portal sends it only once, and silence (a portal that triggers no event for months) says
    nothing about whether the app is still installed, so no expiry is right. What this means
    for running Redis:

    * use persistence (AOF or RDB): a Redis restarted empty forgets every portal, whose events
      are then refused as "unknown portal" until the tokens are stored again (``add``);
    * use ``maxmemory-policy noeviction`` or a ``volatile-*`` policy: keys without a TTL are
      then never evicted (an ``allkeys-*`` policy could evict a token);
    * a key outlives its app only when the ``ONAPPUNINSTALL`` never reached a receiver (the
      portal does not retry); it costs about 100 bytes, and ``delete(member_id)`` removes it.
    """

    def __init__(self, shared: str | Redis, *, app: str, retry_interval: float = 1.0) -> None:
        if not isinstance(app, str) or not app:
            raise ValueError("app must name the application (e.g. its client_id)")
        if retry_interval <= 0:
            raise ValueError(f"retry_interval must be > 0, got {retry_interval!r}")
        client, owned = open_client(shared)
        self.app = app
        self._link = RedisLink(
            client, owned=owned, retry_interval=retry_interval, log_outages=False
        )
        self._prefix = f"{KEY_PREFIX}:events:{digest('app', app)}:token"

    def __repr__(self) -> str:
        return f"RedisTokenStore({self._link.address}, app={self.app!r})"  # never a token

    @property
    def address(self) -> str:
        """Where the tokens are: ``redis://host:port/db`` (without credentials)."""
        return self._link.address

    def key(self, member_id: str) -> str:
        """The Redis key of a portal's token (hashes only: the name holds no secret)."""
        return f"{self._prefix}:{digest('member', member_id)}"

    def portal_key(self, member_id: str) -> str:
        """The Redis key of a portal's trusted address (no TTL either, deleted with the token)."""
        return f"{self.key(member_id)}:portal"

    async def _run(self, operation: Callable[[Redis], Awaitable[T]]) -> T:
        boxed = await self._link.run(lambda client: _boxed(operation(client)))
        if boxed is None:
            cause = self._link.last_error or "not answering"
            raise TokenStoreUnavailable(f"Redis at {self.address} is unreachable ({cause})")
        return boxed[0]

    async def _get(self, key: str) -> str | None:
        raw: bytes | str | None = await self._run(lambda client: client.get(key))
        return raw.decode() if isinstance(raw, bytes) else raw

    async def _set_absent(self, key: str, value: str) -> bool:
        stored = await self._run(lambda client: client.set(key, value, nx=True))
        return bool(stored)

    async def get(self, member_id: str) -> str | None:
        """The stored token of the portal, or None."""
        return await self._get(self.key(member_id))

    async def add(self, member_id: str, token: str) -> bool:
        """Store ``token`` unless one is stored already (atomically: ``SET NX``)."""
        _require_token(token)
        return await self._set_absent(self.key(member_id), token)

    async def delete(self, member_id: str) -> None:
        """Forget the portal's token and address, for every receiver."""
        keys = (self.key(member_id), self.portal_key(member_id))
        await self._run(lambda client: client.delete(*keys))

    async def replace(self, member_id: str, old: str, new: str) -> bool:
        """Store ``new`` only if ``old`` is still stored (atomically, one Lua step)."""
        _require_token(new)
        key = self.key(member_id)
        done = await self._run(lambda client: client.eval(_REPLACE, 1, key, old, new))
        return bool(done)

    async def get_portal(self, member_id: str) -> str | None:
        """The portal's trusted address, or None."""
        return await self._get(self.portal_key(member_id))

    async def add_portal(self, member_id: str, portal: str) -> bool:
        """Store the portal's address unless one is stored already (``SET NX``)."""
        return await self._set_absent(self.portal_key(member_id), portal)

    async def check(self) -> None:
        """Ping Redis; raises :class:`~b24async.events.TokenStoreUnavailable` if it is away.

        Call it at start-up (e.g. from ``app.on_startup``) to fail fast on a wrong URL rather
        than refusing the first deliveries.
        """
        await self._run(lambda client: client.ping())

    async def close(self) -> None:
        """Close the Redis client if the store opened it (a caller's client stays open)."""
        await self._link.close()

    async def __aenter__(self) -> RedisTokenStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
