"""The fake portal's cache of printed answer parts, bounded by their total size.

Handlers print the JSON of what a big portal answers most (user pages, calendar entries per
viewer zone) once and reuse the bytes until the state changes: :class:`PortalState
<b24async.testing.state.PortalState>` empties the cache on every change. Re-exported by
:mod:`b24async.testing.state`.
"""

from __future__ import annotations

from collections.abc import Hashable

__all__ = ["PrintedCache"]

_PRINTED_LIMIT = 64 * 1024 * 1024  # bytes of printed answers kept; cleared when over
_ENTRIES_LIMIT = 200_000  # printed calendar entries (~400 bytes each) kept


class PrintedCache:
    """Printed JSON parts of answers (``key -> bytes``), bounded by their total size.

    Handlers own the keys (they start with the method's name). The state empties the cache on
    every change, so a part is only ever reused for the state it was printed from.
    """

    __slots__ = ("_chars", "_entries", "_texts")

    def __init__(self) -> None:
        """An empty cache."""
        self._texts: dict[Hashable, bytes] = {}
        self._chars = 0
        self._entries: dict[str, dict[int, str]] = {}

    def get(self, key: Hashable) -> bytes | None:
        """The text stored under ``key``, or None."""
        return self._texts.get(key)

    def put(self, key: Hashable, text: bytes) -> None:
        """Store ``text``; when the cache is over its size, everything older goes first."""
        self._chars += len(text)
        if self._chars > _PRINTED_LIMIT:
            self.clear()
            self._chars = len(text)
        self._texts[key] = text

    def entries(self, zone: str) -> dict[int, str]:
        """Calendar entry ID -> the entry printed for viewers in ``zone`` (the handler fills it).

        Handed out per call; past 200,000 entries in all, everything is dropped first.
        """
        if sum(map(len, self._entries.values())) > _ENTRIES_LIMIT:
            self.clear()
        return self._entries.setdefault(zone, {})

    def clear(self) -> None:
        """Drop every text."""
        self._texts.clear()
        self._chars = 0
        self._entries.clear()

    def __len__(self) -> int:
        """How many texts are stored."""
        return len(self._texts)
