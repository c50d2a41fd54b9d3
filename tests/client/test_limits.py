"""RateLimits, the leaky bucket, the operating budget, the retry policy."""

from __future__ import annotations

import asyncio
import random

import pytest

from b24async import RateLimits, RetryPolicy, is_idempotent
from b24async.bucket import LeakyBucket
from b24async.operating import OperatingBudget
from b24async.protocol import Timing


def test_presets_and_scaling() -> None:
    assert (RateLimits.STANDARD.rate, RateLimits.STANDARD.burst) == (2.0, 50)
    assert (RateLimits.ENTERPRISE.rate, RateLimits.ENTERPRISE.burst) == (5.0, 250)
    scaled = RateLimits.STANDARD.scaled(0.01)
    assert scaled.operating_budget == pytest.approx(4.8)
    assert scaled.operating_window == pytest.approx(6.0)
    assert (scaled.rate, scaled.burst) == (2.0, 50)
    with pytest.raises(ValueError):
        RateLimits(rate=0)
    with pytest.raises(ValueError):
        RateLimits.STANDARD.scaled(0)


@pytest.mark.looptime
async def test_bucket_keeps_a_safety_margin_and_saturates() -> None:
    assert LeakyBucket(rate=2.0, burst=50).capacity == 48
    assert LeakyBucket(rate=5.0, burst=250).capacity == 248
    bucket = LeakyBucket(rate=100.0, burst=50)
    assert bucket.capacity == 25  # a quarter second of jitter at 100/s
    for _ in range(25):
        await bucket.acquire()
    assert bucket.time_until_free() == pytest.approx(0.01)  # full: one slot drains in 1/100 s
    await asyncio.sleep(0.05)  # 5 slots drain (virtual time)
    assert bucket.time_until_free() == 0
    bucket.saturate()
    assert bucket.time_until_free() == pytest.approx(0.01)
    assert bucket.saturations == 1


@pytest.mark.looptime
@pytest.mark.timeout(30)  # a livelock shows as this timeout: virtual time would stand still
@pytest.mark.parametrize(("rate", "burst"), [(2.0, 50), (5.0, 250), (100.0, 100), (7.0, 13)])
async def test_bucket_paces_exactly_on_virtual_time(rate: float, burst: int) -> None:
    # Float drift leaves aiolimiter's level a hair above a whole slot; unguarded, it then waits
    # ~1e-16 s, a timer that fires at once forever on a loop whose time only moves when idle.
    bucket = LeakyBucket(rate=rate, burst=burst)
    loop = asyncio.get_running_loop()
    began = loop.time()
    extra = 3 * burst
    for _ in range(bucket.capacity + extra):
        await bucket.acquire()
    # The first ``capacity`` go at once, then one per 1/rate seconds.
    assert loop.time() - began == pytest.approx(extra / rate, abs=1e-3)
    assert bucket.waited == pytest.approx(extra / rate, abs=1e-3)


class Clock:
    """A wall clock that moves only when a test sets ``now`` (a :class:`b24async.clock.Clock`)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)


def test_operating_holds_only_the_method_near_its_budget() -> None:
    clock = Clock()
    budget = OperatingBudget(10.0, 600.0, clock=clock)
    budget.admit("slow.get")
    budget.settle("slow.get", Timing(operating=9.5, operating_reset_at=1060.0, processing=1.0))
    assert budget.hold_remaining("slow.get") == pytest.approx(60.0)
    assert budget.hold_remaining("fast.get") == 0.0
    clock.now = 1061.0
    # Past the reset the sum is unknown but lower: one probe may go.
    assert budget.hold_remaining("slow.get") == 0.0
    budget.admit("slow.get")
    assert budget.hold_remaining("slow.get") is None  # wait for the probe's report
    budget.settle("slow.get", Timing(operating=2.0, operating_reset_at=1120.0, processing=1.0))
    assert budget.hold_remaining("slow.get") == 0.0


def test_operating_counts_calls_in_flight() -> None:
    budget = OperatingBudget(10.0, 600.0, clock=Clock())
    budget.admit("m")
    budget.settle("m", Timing(operating=4.0, operating_reset_at=2000.0, processing=2.0))
    budget.admit("m", 3)  # 4 + 3*2 = 10: up to the budget, each still starts below it
    assert budget.hold_remaining("m") > 0  # a fourth would go past it


def test_blocked_without_known_reset_waits_one_bucket() -> None:
    clock = Clock()
    budget = OperatingBudget(10.0, 600.0, clock=clock)
    assert budget.blocked("m") == pytest.approx(60.0)


def test_retry_policy() -> None:
    assert (
        is_idempotent("user.get")
        and is_idempotent("user.update")
        and is_idempotent("crm.deal.list")
    )
    assert not is_idempotent("calendar.event.add") and not is_idempotent("crm.deal.delete")
    policy = RetryPolicy(backoff=1.0, max_backoff=4.0)
    rng = random.Random(1)
    delays = [policy.delay(n, rng) for n in range(1, 6)]
    assert 0.5 <= delays[0] <= 1.0 and all(d <= 4.0 for d in delays)
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)


def test_admissible_counts_what_the_budget_still_takes() -> None:
    clock = Clock()
    budget = OperatingBudget(10.0, 600.0, clock=clock)
    # Not measured yet: a blind guess of 1/400 of the budget per call.
    assert budget.admissible("m") == 400
    budget.admit("m")
    budget.settle("m", Timing(operating=4.0, operating_reset_at=1060.0, processing=2.0))
    assert budget.admissible("m") == 3  # 4 + 3 * 2 = 10
    budget.admit("m", 3)
    assert budget.admissible("m") == 0
    clock.now = 1061.0
    assert budget.admissible("m") == 0  # past the reset, but calls are still out
    budget.settle("m", count=3)
    assert budget.admissible("m") == 3  # the sum is only lower now


def test_unmeasured_method_is_admitted_against_a_blind_cost() -> None:
    budget = OperatingBudget(10.0, 600.0, clock=Clock())
    budget.admit("m", 400)
    assert budget.hold_remaining("m") != 0.0  # the 401st would spend past the budget blind
    budget.settle("m", Timing(operating=0.2, operating_reset_at=2000.0, processing=0.01))
    assert budget.admissible("m") > 400  # the measured cost replaces the guess at once
