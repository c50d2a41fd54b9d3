"""What the fake portal saw: request counts, replies, commands, concurrency, arrivals, refreshes.

:class:`StatsRecorder` is updated by the server as requests come and go; :class:`PortalStats` is
the frozen snapshot handed to tests (``portal.stats``) and served as JSON on ``/_portal/stats``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["PortalStats", "StatsRecorder"]


@attrs.frozen(eq=False)
class PortalStats:
    """A snapshot of the portal's counters since start (or the last ``reset_stats()``).

    The mappings are :class:`collections.Counter` copies, so a missing key reads as 0.

    Attributes:
        requests: HTTP requests received on ``/rest`` (a ``batch`` is one request).
        by_status: replies sent on ``/rest`` per HTTP status (dropped connections send none).
        by_code: error replies sent on ``/rest`` per ``error`` code, e.g.
            ``by_code["QUERY_LIMIT_EXCEEDED"]`` (successful replies are not counted here).
        commands: executed commands per method (lower-case), including commands inside batches.
            A command counts when its handler ran, whether it succeeded or failed; commands
            refused before running (unknown method, operating limit) do not count.
        batch_errors: per-command errors inside ``batch`` replies, per ``error`` code.
        batches: ``batch`` requests that were executed.
        peak_concurrency: the most ``/rest`` requests in flight at the same time.
        arrivals: the portal clock's reading at the arrival of each ``/rest`` request.
        refreshes: requests received by the OAuth token endpoint.
        faults: injected faults per kind (``error_500``, ``drop``, ``html_502``, ``slow``).
    """

    requests: int
    by_status: Mapping[int, int]
    by_code: Mapping[str, int]
    commands: Mapping[str, int]
    batch_errors: Mapping[str, int]
    batches: int
    peak_concurrency: int
    arrivals: tuple[float, ...]
    refreshes: int
    faults: Mapping[str, int]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the body of ``GET /_portal/stats``)."""
        return {
            "requests": self.requests,
            "by_status": {str(status): count for status, count in self.by_status.items()},
            "by_code": dict(self.by_code),
            "commands": dict(self.commands),
            "batch_errors": dict(self.batch_errors),
            "batches": self.batches,
            "peak_concurrency": self.peak_concurrency,
            "arrivals": list(self.arrivals),
            "refreshes": self.refreshes,
            "faults": dict(self.faults),
        }


class StatsRecorder:
    """The mutable counters behind :class:`PortalStats` (used from the server's event loop)."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.reset()

    def reset(self) -> None:
        """Zero every counter; requests still in flight stay counted as in flight."""
        self.requests = 0
        self.by_status: Counter[int] = Counter()
        self.by_code: Counter[str] = Counter()
        self.commands: Counter[str] = Counter()
        self.batch_errors: Counter[str] = Counter()
        self.batches = 0
        self.peak_concurrency = self.in_flight
        self.arrivals: list[float] = []
        self.refreshes = 0
        self.faults: Counter[str] = Counter()

    def arrive(self, at: float) -> None:
        """A ``/rest`` request arrived at clock reading ``at``."""
        self.requests += 1
        self.arrivals.append(at)
        self.in_flight += 1
        self.peak_concurrency = max(self.peak_concurrency, self.in_flight)

    def depart(self) -> None:
        """A ``/rest`` request was answered (or dropped)."""
        self.in_flight -= 1

    def reply(self, status: int, code: str | None) -> None:
        """A reply with this status (and error code, if any) is being sent."""
        self.by_status[status] += 1
        if code is not None:
            self.by_code[code] += 1

    def snapshot(self) -> PortalStats:
        """A frozen copy of the counters."""
        return PortalStats(
            requests=self.requests,
            by_status=Counter(self.by_status),
            by_code=Counter(self.by_code),
            commands=Counter(self.commands),
            batch_errors=Counter(self.batch_errors),
            batches=self.batches,
            peak_concurrency=self.peak_concurrency,
            arrivals=tuple(self.arrivals),
            refreshes=self.refreshes,
            faults=Counter(self.faults),
        )
