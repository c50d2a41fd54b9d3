"""The portal's request-intensity limit: one leaky bucket per portal (facts §2).

Every HTTP request to ``/rest`` adds 1 to a counter (a ``batch`` is one request); the counter
drains by ``rate`` per second; a request that would take it above ``burst`` is refused with
HTTP 503 ``QUERY_LIMIT_EXCEEDED`` and adds nothing. The real portal counts per portal and source
IP, so every credential of the fake shares the one bucket.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["LeakyBucket"]

# Float drain arithmetic must not refuse a request that fits exactly.
_EPSILON = 1e-9


class LeakyBucket:
    """A leaky bucket of size ``burst`` draining ``rate`` units per second of ``clock``."""

    def __init__(self, *, rate: float, burst: float, clock: Callable[[], float]) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate!r}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst!r}")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._level = 0.0
        self._at: float | None = None  # first read on first use: in the loop that serves

    def _drain(self) -> float:
        now = self._clock()
        # An injected clock may be set back: never drain by a negative time.
        elapsed = 0.0 if self._at is None else max(0.0, now - self._at)
        self._level = max(0.0, self._level - elapsed * self.rate)
        self._at = now
        return self._level

    @property
    def level(self) -> float:
        """The counter's current value after draining."""
        return self._drain()

    def try_add(self) -> bool:
        """Count one request; False (and no change) when it would overflow the bucket."""
        level = self._drain()
        if level + 1 > self.burst + _EPSILON:
            return False
        self._level = level + 1
        return True

    def reset(self) -> None:
        """Empty the bucket."""
        self._level = 0.0
        self._at = None
