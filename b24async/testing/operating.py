"""The per-method operating budget as the server accounts it (facts §2 "Per-method execution time").

Rules (server code ``rest/lib/engine/access/loadlimiter.php``, quoted by rule name in the tests):

* **handler time**: only the method handler's time is billed (``time.processing``);
* **key**: (auth type, credential, method); a webhook's ``batch`` inner commands are keyed per
  method without the webhook (every webhook's batches share one key per method);
* **buckets**: ten one-minute buckets numbered ``floor(unix / 60)``; the sum is the current
  bucket plus the nine before it, so a bucket leaves the sum at a minute boundary;
* **floor**: the handler times of one key within one HTTP request are summed at the end of the
  request and stored only when the sum exceeds 0.1 s;
* **reported**: ``time.operating`` = the stored sum + this request's calls of that key that each
  exceeded 0.1 s; ``operating_reset_at`` = the first call of the oldest stored bucket + 600 s
  (no stored bucket: this request's first call + 600 s), or the ban's end during a ban;
* **check**: before each call the key is blocked when its sum is strictly greater than the
  threshold (420 s by default); the crossing call completes, the next gets HTTP 429. This fake
  counts this request's time not yet stored in that sum (the stricter reading);
* **ban** (``"2026"`` only): the refusal bans the key for 300 s and deletes its buckets;
* **batch key** (``"2026"`` only): the outer ``batch`` is billed to the key ``batch`` at half its
  handler time (the sum of its commands' time), under the same floor, check and ban; a blocked
  ``batch`` key refuses the whole request with HTTP 429.

Modes (:data:`LIMITERS`): ``"2026"`` all of the above; ``"legacy"`` without the batch key and
without bans (a block lifts as buckets expire); ``"local"`` on-prem without shared storage
(``operating`` covers only the current request, no ``operating_reset_at``, nothing carried
between requests); ``"off"`` no limiter and no ``operating`` fields. Every duration (window,
bucket, floor, ban) is multiplied by the portal's ``time_scale``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from typing import Literal

import attrs

__all__ = [
    "BATCH_KEY_WEIGHT",
    "BUCKETS",
    "LIMITERS",
    "Limiter",
    "OperatingMeter",
    "RequestMeter",
]

Limiter = Literal["2026", "legacy", "local", "off"]
LIMITERS: tuple[Limiter, ...] = ("2026", "legacy", "local", "off")

BUCKETS = 10
WINDOW = 600.0  # ten one-minute buckets, unscaled seconds
FLOOR = 0.1  # per-request floor, unscaled seconds
BAN = 300.0  # ban length, unscaled seconds
BATCH_KEY_WEIGHT = 0.5


def _method_of(key: Hashable) -> object:
    return key[-1] if isinstance(key, tuple) and key else None


@attrs.define
class _Bucket:
    first: float  # portal unix time of the first call stored in it
    spent: float


class OperatingMeter:
    """The portal-wide store of operating time per key (what the server keeps in its cache).

    ``clock`` is the portal's unix time (buckets are numbered from it).
    """

    def __init__(
        self,
        *,
        budget: float,
        time_scale: float = 1.0,
        clock: Callable[[], float],
        limiter: Limiter = "2026",
    ) -> None:
        if budget <= 0:
            raise ValueError(f"operating budget must be positive, got {budget!r}")
        if time_scale <= 0:
            raise ValueError(f"time_scale must be positive, got {time_scale!r}")
        if limiter not in LIMITERS:
            raise ValueError(f"limiter must be one of {', '.join(LIMITERS)}; got {limiter!r}")
        self.budget = budget
        self.limiter: Limiter = limiter
        self.window = WINDOW * time_scale
        self.bucket_length = self.window / BUCKETS
        self.floor = FLOOR * time_scale
        self.ban = BAN * time_scale
        self._clock = clock
        self._buckets: dict[Hashable, dict[int, _Bucket]] = {}
        self._bans: dict[Hashable, float] = {}
        self.refusals = 0
        self.bans = 0

    @property
    def enabled(self) -> bool:
        """Whether calls are timed at all (not ``"off"``)."""
        return self.limiter != "off"

    @property
    def shared(self) -> bool:
        """Whether time is carried between requests (not ``"local"``/``"off"``)."""
        return self.limiter in ("2026", "legacy")

    @property
    def bills_batch(self) -> bool:
        """Whether the outer ``batch`` has its own key (``"2026"``)."""
        return self.limiter == "2026"

    def _number(self, unix: float) -> int:
        return math.floor(unix / self.bucket_length + 1e-9)

    def _live(self, key: Hashable) -> dict[int, _Bucket]:
        buckets = self._buckets.get(key)
        if not buckets:
            return {}
        oldest = self._number(self._clock()) - BUCKETS + 1
        for number in [n for n in buckets if n < oldest]:
            del buckets[number]
        return buckets

    def spent(self, key: Hashable) -> float:
        """The key's stored sum over the live buckets, in (scaled) seconds."""
        return sum(bucket.spent for bucket in self._live(key).values())

    def spent_on(self, method: str) -> float:
        """The stored sum of every key of ``method`` (all credentials), for inspection."""
        return sum(self.spent(key) for key in list(self._buckets) if _method_of(key) == method)

    def banned_until(self, key: Hashable) -> float | None:
        """The end of the key's ban (portal unix time), or None."""
        until = self._bans.get(key)
        if until is not None and until <= self._clock():
            del self._bans[key]
            return None
        return until

    def store(self, key: Hashable, seconds: float, *, first: float) -> None:
        """Add a request's sum for ``key`` (its first call at ``first``) to the current bucket."""
        if not self.shared:
            return
        buckets = self._buckets.setdefault(key, {})
        number = self._number(first)
        bucket = buckets.get(number)
        if bucket is None:
            buckets[number] = _Bucket(first, seconds)
        else:
            bucket.spent += seconds
            bucket.first = min(bucket.first, first)

    def refuse(self, key: Hashable) -> None:
        """A call of ``key`` was refused: ban it (``"2026"``) and clear its buckets."""
        self.refusals += 1
        if self.limiter == "2026" and self.banned_until(key) is None:
            self.bans += 1
            self._bans[key] = self._clock() + self.ban
            self._buckets.pop(key, None)

    def reset_at(self, key: Hashable, *, first: float) -> float:
        """``operating_reset_at``: the ban's end, else the oldest bucket's first call + window.

        ``first`` stands in for the first call when no bucket is stored.
        """
        banned = self.banned_until(key)
        if banned is not None:
            return banned
        live = self._live(key)
        if live:
            first = live[min(live)].first
        return first + self.window

    def open(self) -> RequestMeter:
        """Start the accounting of one HTTP request."""
        return RequestMeter(self)

    def reset(self) -> None:
        """Forget all stored time and bans."""
        self._buckets.clear()
        self._bans.clear()


class RequestMeter:
    """The accounting of one HTTP request: summed per key, stored at :meth:`close`."""

    def __init__(self, meter: OperatingMeter) -> None:
        self.meter = meter
        self._sums: dict[Hashable, float] = {}
        self._over: dict[Hashable, float] = {}  # calls that each exceeded the floor
        self._first: dict[Hashable, float] = {}

    def allows(self, key: Hashable) -> bool:
        """The check before each call; a refusal bans the key (``"2026"``)."""
        meter = self.meter
        if not meter.enabled:
            return True
        if meter.banned_until(key) is not None:
            meter.refusals += 1
            return False
        if meter.spent(key) + self._sums.get(key, 0.0) > meter.budget:
            meter.refuse(key)
            return False
        return True

    def add(self, key: Hashable, seconds: float, *, start: float) -> None:
        """Count one call's handler time for ``key`` (it started at portal time ``start``)."""
        if not self.meter.enabled:
            return
        self._sums[key] = self._sums.get(key, 0.0) + seconds
        self._first.setdefault(key, start)
        if seconds > self.meter.floor:
            self._over[key] = self._over.get(key, 0.0) + seconds

    def operating(self, key: Hashable) -> float | None:
        """``time.operating`` for ``key`` now (None when the limiter is off)."""
        if not self.meter.enabled:
            return None
        return round(self.meter.spent(key) + self._over.get(key, 0.0), 6)

    def reset_at(self, key: Hashable, *, start: float) -> float | None:
        """``time.operating_reset_at`` for ``key`` (None unless time is shared)."""
        if not self.meter.shared:
            return None
        return self.meter.reset_at(key, first=self._first.get(key, start))

    def close(self) -> None:
        """End of the request: store each key's sum when it exceeds the floor."""
        for key, seconds in self._sums.items():
            if seconds > self.meter.floor:
                self.meter.store(key, seconds, first=self._first[key])
        self._sums.clear()
        self._over.clear()
