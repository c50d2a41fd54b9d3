"""The per-method operating budget: seconds a method ran for one app or webhook (facts §2).

Time is accumulated per (credential, method) in 10 buckets of one minute each, so the sum covers
a rolling 10-minute window. A bucket starts with the first call that does not fit the newest
bucket and leaves the window ``window`` seconds after it started. The check runs before each
call: once the window's sum has reached the budget the method is blocked (HTTP 429
``OPERATION_TIME_LIMIT``); the call that crosses the budget still completes. The block lifts when
expiring buckets bring the sum back under the budget. Other methods and credentials are not
affected.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

import attrs

__all__ = ["BUCKETS", "OperatingMeter"]

BUCKETS = 10


@attrs.define
class _Bucket:
    started: float  # monotonic clock reading of the first call in the bucket
    started_wall: float  # unix time of that call: operating_reset_at is counted from it
    spent: float


class OperatingMeter:
    """Operating time per key, in ``BUCKETS`` rolling buckets over ``window`` seconds."""

    def __init__(self, *, budget: float, window: float, clock: Callable[[], float]) -> None:
        if budget <= 0:
            raise ValueError(f"operating budget must be positive, got {budget!r}")
        if window <= 0:
            raise ValueError(f"operating window must be positive, got {window!r}")
        self.budget = budget
        self.window = window
        self.bucket_length = window / BUCKETS
        self._clock = clock
        self._buckets: dict[Hashable, list[_Bucket]] = {}

    def _live(self, key: Hashable) -> list[_Bucket]:
        buckets = self._buckets.get(key)
        if not buckets:
            return []
        now = self._clock()
        while buckets and buckets[0].started + self.window <= now:
            buckets.pop(0)
        return buckets

    def spent(self, key: Hashable) -> float:
        """The key's sum over the live buckets, in seconds."""
        return sum(bucket.spent for bucket in self._live(key))

    def blocked(self, key: Hashable) -> bool:
        """Whether a call for ``key`` must be refused now (the check made before each call)."""
        return self.spent(key) >= self.budget

    def charge(self, key: Hashable, cost: float, *, started: float, started_wall: float) -> None:
        """Add ``cost`` seconds for a call that started at ``started`` (clock) / ``started_wall``.

        Zero-cost calls still open a bucket, so ``reset_at`` keeps pointing at the first call of
        the window, as on the real portal where no call is free.
        """
        buckets = self._buckets.setdefault(key, [])
        self._live(key)
        for bucket in reversed(buckets):
            if bucket.started <= started < bucket.started + self.bucket_length:
                bucket.spent += cost
                return
        position = len(buckets)
        while position and buckets[position - 1].started > started:
            position -= 1  # a slow call finishing after a newer one
        buckets.insert(position, _Bucket(started, started_wall, cost))

    def reset_at(self, key: Hashable, *, now_wall: float) -> float:
        """Unix time when the oldest live bucket leaves the window (``now_wall`` based if none)."""
        buckets = self._live(key)
        first = buckets[0].started_wall if buckets else now_wall
        return first + self.window

    def reset(self) -> None:
        """Forget all accumulated time."""
        self._buckets.clear()
