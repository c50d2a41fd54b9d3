"""One adapter per client, all with the same small async interface (see :class:`Adapter`).

Each adapter is the smallest honest use of its client for a job, following that client's own
documentation, configured for the portal's real limits where the client lets you say them.
A job an adapter cannot do honestly is refused with a reason (:meth:`Adapter.unsupported`),
and the results table says so.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "CLIENTS",
    "Adapter",
    "Done",
    "Env",
    "IdSet",
    "Outcome",
    "load",
]

#: client name -> (module under benchmarks/adapters/, factory in it)
CLIENTS: dict[str, tuple[str, str]] = {
    "b24async": ("ours", "make"),
    "fast_bitrix24": ("fast_bitrix24_peer", "make"),
    "fast_bitrix24_slow": ("fast_bitrix24_peer", "make_slow"),
    "b24pysdk": ("b24pysdk_peer", "make"),
}

#: Progress callback: ``done(n)`` says ``n`` more commands' results reached the caller now.
Done = Callable[[int], None]


@dataclass(frozen=True)
class Env:
    """Where the portal is and which limits it enforces (operating budget/window in real s)."""

    url: str  # http://127.0.0.1:PORT
    webhook_url: str  # http://127.0.0.1:PORT/rest/1/<code>/
    rate: float
    burst: int
    time_scale: float
    operating_budget: float  # real seconds of one method per window
    operating_window: float  # real seconds


@dataclass
class Outcome:
    """What the caller got back from a job."""

    ok: int = 0  # commands (or calls, or rows for reads) the caller got a success for
    errors: dict[str, int] = field(default_factory=dict)  # error code -> commands/calls
    raised: str | None = None  # an exception that ended the job for the caller
    rows: int = 0  # reads: rows received
    unique_ids: int = 0  # reads: distinct IDs among them
    notes: list[str] = field(default_factory=list)

    def error(self, code: str, count: int = 1) -> None:
        self.errors[code] = self.errors.get(code, 0) + count


class IdSet:
    """Distinct positive integer IDs in one bit each: the check must not cost the memory it
    measures (a set of 50,000 strings would be megabytes; this is 6 KB)."""

    def __init__(self) -> None:
        self._bits = bytearray()
        self.count = 0

    def add(self, value: Any) -> None:
        number = int(value)
        byte, bit = divmod(number, 8)
        if byte >= len(self._bits):
            self._bits.extend(bytes(byte + 1 - len(self._bits) + 1024))
        if not self._bits[byte] & (1 << bit):
            self._bits[byte] |= 1 << bit
            self.count += 1


class Adapter(Protocol):
    """The interface every client's adapter implements."""

    label: str  # shown in the table, e.g. "fast_bitrix24 1.8.14"
    usage: dict[str, str]  # job -> the client API the adapter uses (for the notes)

    def unsupported(self, job: str) -> str | None:
        """Why this client cannot do ``job`` honestly, or None."""

    async def open(self, env: Env) -> None:
        """Create the client for the portal at ``env``."""

    async def close(self) -> None:
        """Release the client."""

    async def fan_in(self, users: Sequence[int], day_from: str, day_to: str, done: Done) -> Outcome:
        """One concurrent coroutine per user, each asking that user's availability."""

    async def bulk_write(self, updates: Sequence[tuple[int, str]], done: Done) -> Outcome:
        """``user.update`` with ``{"ID": id, "ACTIVE": flag}`` for every pair."""

    async def bulk_read(self, done: Done) -> Outcome:
        """Every row of ``user.get``."""

    async def probe(self, method: str) -> None:
        """One call of a cheap method (``server.time``), as a separate caller would make it."""


def load(client: str) -> Adapter:
    """Import the adapter of ``client`` (ImportError when its library is not installed)."""
    module_name, factory = CLIENTS[client]
    module = importlib.import_module(f"adapters.{module_name}")
    adapter: Adapter = getattr(module, factory)()
    return adapter


def error_code(exc: BaseException) -> str:
    """A short code for an exception: its ``code``/``error`` attribute, else its class name."""
    for attribute in ("code", "error"):
        value: Any = getattr(exc, attribute, None)
        if isinstance(value, str) and value:
            return value
    return type(exc).__name__
