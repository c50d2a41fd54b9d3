"""Where a receiver keeps each portal's ``application_token``, keyed by ``member_id``.

The token is the only proof that a delivery comes from the portal (events facts §3). It first
arrives with ``ONAPPINSTALL``; a store may also be filled in advance (from the app's install
flow) and the receiver told to accept no other. Any object with these three coroutines will do
(a Redis key per portal, a database table); :class:`MemoryTokenStore` is the default, and
:class:`b24async.shared.RedisTokenStore` shares the tokens between processes and hosts.

A store that cannot answer (its database is down) raises :class:`TokenStoreUnavailable`: the
receiver then refuses the delivery with 503, since it cannot verify it, and logs the outage once.

``ONAPPUPDATE`` may bring a new token (events facts §3), which the old one cannot vouch for.
A :class:`RotatingTokenStore` (both stores here are) also keeps the portal's address, taken
from the verified install, and swaps a token only if it is still the one that was checked; the
receiver then confirms the new token by asking that portal (see :class:`EventReceiver`).
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

__all__ = ["MemoryTokenStore", "RotatingTokenStore", "TokenStore", "TokenStoreUnavailable"]


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


@runtime_checkable
class RotatingTokenStore(TokenStore, Protocol):
    """A :class:`TokenStore` that can also take a new token from ``ONAPPUPDATE``.

    It keeps each portal's address (``https://portal.bitrix24.com``), the one place a new token
    may be confirmed at, and replaces a token atomically. :meth:`TokenStore.delete` forgets
    both. Each method raises :class:`TokenStoreUnavailable` when the store cannot answer.
    """

    async def replace(self, member_id: str, old: str, new: str) -> bool:
        """Store ``new`` only if ``old`` is still stored; True when it was replaced."""

    async def get_portal(self, member_id: str) -> str | None:
        """The portal's trusted address (``scheme://host[:port]``), or None."""

    async def add_portal(self, member_id: str, portal: str) -> bool:
        """Store the portal's address unless one is stored already; True when it was stored."""


class MemoryTokenStore:
    """Tokens in this process's memory (lost on restart: pre-configure them, or persist).

    A :class:`RotatingTokenStore`.

    Args:
        tokens: tokens known in advance, ``{member_id: application_token}``.
        portals: the portals' addresses known in advance, ``{member_id: "https://host"}``
            (otherwise each is taken from the portal's verified ``ONAPPINSTALL``).
    """

    def __init__(
        self, tokens: Mapping[str, str] | None = None, portals: Mapping[str, str] | None = None
    ) -> None:
        self._tokens = dict(tokens or {})
        self._portals = dict(portals or {})
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"MemoryTokenStore(<{len(self._tokens)} portals>)"  # never the tokens

    async def get(self, member_id: str) -> str | None:
        """The stored token of the portal, or None."""
        return self._tokens.get(member_id)

    async def add(self, member_id: str, token: str) -> bool:
        """Store ``token`` unless one is stored already; True when it was stored."""
        return await self._add_absent(self._tokens, member_id, token)

    async def delete(self, member_id: str) -> None:
        """Forget the portal's token and address."""
        self._tokens.pop(member_id, None)
        self._portals.pop(member_id, None)

    async def replace(self, member_id: str, old: str, new: str) -> bool:
        """Store ``new`` only if ``old`` is still stored; True when it was replaced."""
        async with self._lock:
            stored = self._tokens.get(member_id)
            if stored is None or not hmac.compare_digest(stored.encode(), old.encode()):
                return False
            self._tokens[member_id] = new
            return True

    async def get_portal(self, member_id: str) -> str | None:
        """The portal's trusted address, or None."""
        return self._portals.get(member_id)

    async def add_portal(self, member_id: str, portal: str) -> bool:
        """Store the portal's address unless one is stored already; True when it was stored."""
        return await self._add_absent(self._portals, member_id, portal)

    async def _add_absent(self, table: dict[str, str], member_id: str, value: str) -> bool:
        async with self._lock:
            if member_id in table:
                return False
            table[member_id] = value
            return True
