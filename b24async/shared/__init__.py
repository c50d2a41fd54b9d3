"""Many processes, many hosts: the throttle and OAuth refresh shared through Redis.

``Bitrix24(..., shared="redis://host:6379/0")`` (needs ``pip install 'b24async[redis]'``)
makes every process that names the same Redis for the same portal share:

* the portal's request bucket (:class:`~b24async.shared.bucket.RedisBucket`, keyed by the
  portal's host, as the portal counts);
* the holds of every operating key (:class:`~b24async.shared.operating.RedisHolds`, keyed by
  portal + credential hash);
* OAuth refresh (:class:`~b24async.shared.auth.RedisRefresh`): one refresh per expiry; the
  token pair is stored in Redis.

And :class:`RedisTokenStore` (``EventReceiver(tokens=RedisTokenStore(url, app=...))``) lets
several event receivers share the application tokens of the portals that installed the app.

Key names hold the portal's host (in braces: a Redis Cluster hash tag) and hashes only, never a
secret; every key has a TTL, except an event token's, which lives until the app is uninstalled
(why: :mod:`b24async.shared.tokens`).
Importing this package needs no Redis: the client is imported when ``shared=`` is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import attrs

from b24async.auth import Credentials, OAuthCredentials, WebhookCredentials
from b24async.clock import SYSTEM_CLOCK, Clock
from b24async.limits import RateLimits
from b24async.shared.keys import KEY_PREFIX, digest
from b24async.shared.link import Fallback, RedisLink, open_client
from b24async.shared.tokens import RedisTokenStore

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from b24async.shared.auth import RedisRefresh
    from b24async.shared.operating import SharedThrottle

__all__ = ["KEY_PREFIX", "RedisTokenStore", "Shared", "connect"]


def credential_id(credentials: Credentials) -> str:
    """A hash naming the credential the portal bills operating time to (no secret in it)."""
    if isinstance(credentials, WebhookCredentials):
        return digest("webhook", credentials.user, credentials._code)
    if isinstance(credentials, OAuthCredentials):
        return digest("oauth", credentials.client_id or "")
    return digest("other", repr(credentials))


@attrs.define
class Shared:
    """What one client shares through Redis (built by :func:`connect`)."""

    link: RedisLink
    throttle: SharedThrottle
    refresh: RedisRefresh | None

    async def close(self) -> None:
        """Finish background writes; close the Redis client unless the caller owns it."""
        await self.link.close()


def connect(
    shared: str | Redis,
    *,
    origin: str,
    credentials: Credentials,
    limits: RateLimits,
    max_concurrency: int,
    fallback: Fallback = "raise",
    clock: Clock = SYSTEM_CLOCK,
) -> Shared:
    """Build the shared throttle (and refresh coordinator) for one client. Connects lazily."""
    from b24async.shared.auth import RedisRefresh
    from b24async.shared.bucket import RedisBucket
    from b24async.shared.operating import RedisHolds, SharedThrottle

    if fallback not in ("raise", "local"):
        raise ValueError(f'shared_fallback must be "raise" or "local", got {fallback!r}')
    client, owned = open_client(shared)
    link = RedisLink(client, owned=owned, fallback=fallback, clock=clock)
    host = (urlsplit(origin).netloc or origin).lower()
    # The host in braces is a Redis Cluster hash tag: every key of one portal lands on one slot,
    # so the bucket script may touch the bucket, peers and holds keys together.
    portal = f"{KEY_PREFIX}:{{{host}}}"
    account = f"{portal}:{credential_id(credentials)}"
    holds = RedisHolds(link, account, clock=clock)
    throttle = SharedThrottle(
        limits,
        max_concurrency=max_concurrency,
        bucket=RedisBucket(link, portal, limits, holds=holds, clock=clock),
        holds=holds,
        link=link,
        webhook=isinstance(credentials, WebhookCredentials),
        clock=clock,
    )
    refresh = None
    if isinstance(credentials, OAuthCredentials):
        refresh = RedisRefresh(link, account)
        credentials.coordinator = refresh
    return Shared(link=link, throttle=throttle, refresh=refresh)
