"""OAuth refresh shared by every process: one refresh per expiry, the new pair in Redis.

A refresh token is single-use, so processes that refresh one token each would log each other
out. Here the first process to see ``expired_token`` takes a Redis lock, refreshes, and stores
the new pair under a hash of the refresh token it replaced; the others wait for the lock and
follow that link from their own refresh token to the newest pair instead of refreshing. A
process started later with any older pair of the same authorization finds the newest the same
way, and pairs of different users never mix.
Sharing refresh means the OAuth pair (access and refresh token) is stored in Redis; the client
secret never is, and key names carry only hashes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from b24async.auth import TokenPair
from b24async.shared.link import RedisLink

__all__ = ["RedisRefresh"]

logger = logging.getLogger("b24async")

#: How long a stored pair is kept: a refresh token lives 180 days (facts §1), plus a day.
PAIR_TTL = 181 * 24 * 3600
#: The lock expires on its own if its holder dies mid-refresh (seconds).
LOCK_TIMEOUT = 90.0
#: How long a process waits for another's refresh before refreshing on its own.
LOCK_WAIT = 100.0
_POLL = 0.05
_MAX_CHAIN = 100  # refreshes followed from one token to the newest pair of its lineage


def _dump(pair: TokenPair) -> str:
    return json.dumps(
        {
            "access_token": pair.access_token,
            "refresh_token": pair.refresh_token,
            "expires_at": pair.expires_at.timestamp(),
            "client_endpoint": pair.client_endpoint,
            "member_id": pair.member_id,
            "scope": list(pair.scope),
        }
    )


def _load(raw: bytes | str) -> TokenPair | None:
    try:
        data: dict[str, Any] = json.loads(raw)
        return TokenPair(
            access_token=str(data["access_token"]),
            refresh_token=str(data["refresh_token"]),
            expires_at=dt.datetime.fromtimestamp(float(data["expires_at"]), dt.timezone.utc),
            client_endpoint=data.get("client_endpoint"),
            member_id=data.get("member_id"),
            scope=tuple(data.get("scope") or ()),
        )
    except (ValueError, KeyError, TypeError):
        return None  # unreadable (another version?): refresh as if nothing was stored


class RedisRefresh:
    """A :class:`~b24async.auth.RefreshCoordinator` backed by a Redis lock and key.

    Args:
        link: the Redis connection.
        key: the key prefix of one portal + OAuth app (hashed).
    """

    def __init__(self, link: RedisLink, key: str) -> None:
        self._link = link
        self._prefix = f"{key}:oauth"
        self._lock_key = f"{key}:oauth:lock"
        self.taken_over = 0  # pairs taken from another process's refresh

    def _next_key(self, refresh_token: str) -> str:
        # The pair that replaced a refresh token, under a hash of that token: each lineage of
        # tokens (one user's authorization) is followed on its own, and no key shows a token.
        digest = hashlib.sha256(refresh_token.encode()).hexdigest()[:32]
        return f"{self._prefix}:next:{digest}"

    async def _acquire(self, token: str) -> bool | None:
        """Take the lock: True when held, False after LOCK_WAIT, None when Redis is down."""
        deadline = time.monotonic() + LOCK_WAIT
        timeout_ms = int(LOCK_TIMEOUT * 1000)
        while True:
            got = await self._link.run(
                lambda c: c.set(self._lock_key, token, nx=True, px=timeout_ms)
            )
            if got is None and not self._link.up:
                return None
            if got:
                return True
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(_POLL)

    async def _release(self, token: str) -> None:
        # Delete the lock only if it is still ours (it may have expired and been taken).
        script = (
            "if redis.call('GET', KEYS[1]) == ARGV[1] then "
            "return redis.call('DEL', KEYS[1]) end return 0"
        )
        await self._link.run(lambda c: c.eval(script, 1, self._lock_key, token))

    async def _newest(self, refresh_token: str) -> TokenPair | None:
        """The newest pair stored in the lineage of ``refresh_token`` (None: none stored)."""
        newest: TokenPair | None = None
        token = refresh_token
        for _ in range(_MAX_CHAIN):
            key = self._next_key(token)
            raw = await self._link.run(lambda c: c.get(key))  # noqa: B023 - awaited at once
            pair = None if raw is None else _load(raw)
            if pair is None:
                break
            newest, token = pair, pair.refresh_token
        return newest

    async def obtain(
        self,
        stale_token: str,
        refresh_token: str,
        request: Callable[[str], Awaitable[TokenPair]],
    ) -> tuple[TokenPair, bool]:
        """A pair newer than ``stale_token``: another process's, or one refreshed here."""
        lock = uuid.uuid4().hex
        held = await self._acquire(lock)
        if held is None:
            # Redis is down: refresh on our own (the link has logged the outage once).
            return await request(refresh_token), True
        if not held:
            logger.warning(
                "OAuth refresh lock in Redis not released in %.0fs: refreshing", LOCK_WAIT
            )
        try:
            newest = await self._newest(refresh_token)
            if newest is not None:
                fresh = newest.expires_at.timestamp() > time.time()
                if newest.access_token != stale_token and fresh:
                    self.taken_over += 1
                    return newest, False
                refresh_token = newest.refresh_token  # ours was spent by another process
            pair = await request(refresh_token)
            await self._link.run(
                lambda c: c.set(self._next_key(refresh_token), _dump(pair), ex=PAIR_TTL)
            )
            return pair, True
        finally:
            if held:
                await self._release(lock)
