"""Where a receiver keeps each portal's ``application_token``, keyed by ``member_id``.

The token is the only proof that a delivery comes from the portal (events facts §3). It first
arrives with ``ONAPPINSTALL``; a store may also be filled in advance (from the app's install
flow) and the receiver told to accept no other. Any object with these three coroutines will do
(a Redis key per portal, a database table); :class:`MemoryTokenStore` is the default, and
:class:`b24async.shared.RedisTokenStore` shares the tokens between processes and hosts.

A store that cannot answer (its database is down) raises :class:`TokenStoreUnavailable`: the
receiver then refuses the delivery with 503, since it cannot verify it, and logs the outage once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

__all__ = ["MemoryTokenStore", "TokenStore", "TokenStoreUnavailable"]


class TokenStoreUnavailable(Exception):
    """A token store could not answer (e.g. its database is unreachable).

    The message names the store and the cause, never a token. An :class:`EventReceiver`
    answers 503 to a delivery it cannot verify for this reason.
    """


@runtime_checkable
class TokenStore(Protocol):
    """Application tokens by ``member_id``.

    Each method raises :class:`TokenStoreUnavailable` when the store cannot answer; any other
    exception is a bug (the receiver answers 500 and logs it).
    """

    async def get(self, member_id: str) -> str | None:
        """The stored token of the portal, or None."""

    async def add(self, member_id: str, token: str) -> bool:
        """Store ``token`` unless one is stored already; True when it was stored."""

    async def delete(self, member_id: str) -> None:
        """Forget the portal's token (the app was uninstalled)."""


class MemoryTokenStore:
    """Tokens in this process's memory (lost on restart: pre-configure them, or persist).

    Args:
        tokens: tokens known in advance, ``{member_id: application_token}``.
    """

    def __init__(self, tokens: Mapping[str, str] | None = None) -> None:
        self._tokens = dict(tokens or {})
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"MemoryTokenStore(<{len(self._tokens)} portals>)"  # never the tokens

    async def get(self, member_id: str) -> str | None:
        """The stored token of the portal, or None."""
        return self._tokens.get(member_id)

    async def add(self, member_id: str, token: str) -> bool:
        """Store ``token`` unless one is stored already; True when it was stored."""
        async with self._lock:
            if member_id in self._tokens:
                return False
            self._tokens[member_id] = token
            return True

    async def delete(self, member_id: str) -> None:
        """Forget the portal's token."""
        self._tokens.pop(member_id, None)
