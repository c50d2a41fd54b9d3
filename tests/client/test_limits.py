"""RateLimits, the leaky bucket, the operating budget, the retry policy."""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Collection

import pytest

from b24async import RateLimits, RetryPolicy, is_idempotent
from b24async.bucket import LeakyBucket
from b24async.operating import OperatingBudget
from b24async.protocol import Timing


def test_presets_and_scaling() -> None:
    assert (RateLimits.STANDARD.rate, RateLimits.STANDARD.burst) == (2.0, 50)
    assert (RateLimits.ENTERPRISE.rate, RateLimits.ENTERPRISE.burst) == (5.0, 250)
    scaled = RateLimits.STANDARD.scaled(0.01)
    assert scaled.operating_budget == pytest.approx(4.2)
    assert scaled.operating_floor == pytest.approx(0.001)
    assert scaled.operating_ban == pytest.approx(3.0)
    assert scaled.operating_window == pytest.approx(6.0)
    assert (scaled.rate, scaled.burst) == (2.0, 50)
    with pytest.raises(ValueError):
        RateLimits(rate=0)
    with pytest.raises(ValueError):
        RateLimits.STANDARD.scaled(0)


@pytest.mark.looptime
async def test_bucket_keeps_a_safety_margin_and_saturates() -> None:
    # The margin is a quarter second of the drain: rate * 0.25 slots, fractional slots allowed.
    assert LeakyBucket(rate=2.0, burst=50).capacity == 49.5
    assert LeakyBucket(rate=5.0, burst=250).capacity == 248.75
    assert LeakyBucket(rate=2.0, burst=50, jitter=1.0).capacity == 48
    assert LeakyBucket(rate=2.0, burst=50, margin=2).capacity == 48  # margin wins over jitter
    assert LeakyBucket(rate=2.0, burst=50, jitter=0).capacity == 50
    assert LeakyBucket(rate=2.0, burst=1).capacity == 1  # always room for one request
    assert LeakyBucket(rate=1000.0, burst=10).capacity == 5  # at most half the bucket
    bucket = LeakyBucket(rate=100.0, burst=50)
    assert bucket.capacity == 25  # a quarter second of jitter at 100/s (= half the bucket)
    for _ in range(25):
        await bucket.acquire()
    assert bucket.time_until_free() == pytest.approx(0.01)  # full: one slot drains in 1/100 s
    await asyncio.sleep(0.05)  # 5 slots drain (virtual time)
    assert bucket.time_until_free() == 0
    bucket.saturate()
    # Full, and our drain lowered to 0.85 of the rate (AIMD after a 503): 1/85 s.
    assert bucket.time_until_free() == pytest.approx(1 / 85)
    assert bucket.saturations == 1


@pytest.mark.looptime
@pytest.mark.timeout(30)  # a livelock shows as this timeout: virtual time would stand still
@pytest.mark.parametrize(("rate", "burst"), [(2.0, 50), (5.0, 250), (100.0, 100), (7.0, 13)])
async def test_bucket_paces_exactly_on_virtual_time(rate: float, burst: int) -> None:
    # Float drift leaves the level a hair above a whole slot; unguarded, the bucket then waits
    # ~1e-16 s, a timer that fires at once forever on a loop whose time only moves when idle.
    bucket = LeakyBucket(rate=rate, burst=burst)
    loop = asyncio.get_running_loop()
    began = loop.time()
    extra = 3 * burst
    at_once = math.floor(bucket.capacity)
    for _ in range(at_once + extra):
        await bucket.acquire()
    # The whole slots of ``capacity`` go at once; then one per 1/rate seconds, less what the
    # fractional slot had already drained: the k-th request goes at (k - capacity) / rate.
    expected = (at_once + extra - bucket.capacity) / rate
    assert loop.time() - began == pytest.approx(expected, abs=1e-3)
    assert bucket.waited == pytest.approx(expected, abs=1e-3)


def test_bucket_rejects_a_margin_that_leaves_no_room() -> None:
    with pytest.raises(ValueError, match="no room"):
        LeakyBucket(rate=2.0, burst=3, margin=2.5)
    with pytest.raises(ValueError, match="margin"):
        LeakyBucket(rate=2.0, burst=50, margin=-1)
    with pytest.raises(ValueError, match="jitter"):
        LeakyBucket(rate=2.0, burst=50, jitter=-0.1)
    with pytest.raises(ValueError, match="jitter"):
        RateLimits(jitter=-0.1)
    assert RateLimits().jitter == 0.25


class Clock:
    """A clock for the operating budget: monotonic and unix readings move together."""

    def __init__(self, unix: float = 1_800_000_000.0) -> None:
        self.now = 1000.0
        self.unix_offset = unix - self.now

    def time(self) -> float:
        return self.now + self.unix_offset

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)


@pytest.mark.parametrize("drift", [1e-12, 1e-10, 1e-7])
def test_bucket_counts_float_drift_as_no_wait(drift: float) -> None:
    # A level a hair above "one slot free" must read as free in both entry points: wait_ready
    # loops on time_until_free() and acquire() on the same rule, so a sub-microsecond wait
    # would spin a virtual-time loop forever (seen on Python 3.12 under load).
    bucket = LeakyBucket(rate=2.0, burst=50, clock=Clock())  # frozen: nothing drains
    bucket._level = bucket.capacity - 1 + drift
    bucket._at = bucket._clock.monotonic()
    assert bucket.time_until_free() == 0.0
    bucket._level = bucket.capacity - 1 + 1e-3  # a real thousandth of a slot still waits
    assert bucket.time_until_free() == pytest.approx(1e-3 / 2.0, rel=0.01)


def report(clock: Clock, *, operating: float, processing: float, skew: float = 0.0) -> Timing:
    """A time block as the portal (its clock ``skew`` s ahead of ours) would send now."""
    now = clock.time() + skew
    return Timing(
        start=now - processing,
        finish=now,
        processing=processing,
        operating=operating,
        operating_reset_at=now + 600,
    )


def test_operating_admits_up_to_the_threshold_then_follows_the_buckets() -> None:
    clock = Clock()
    budget = OperatingBudget(10.0, 600.0, floor=0.1, clock=clock)
    budget.reserve(budget.charges(["slow.get"]))
    budget.settle("slow.get", report(clock, operating=9.0, processing=9.0))
    assert budget.hold_remaining("slow.get") > 0  # 9 + 9 would pass the threshold
    assert budget.hold_remaining("fast.get") == 0.0  # other keys are not held
    # The held key waits for its bucket to leave the window: at most 10 one-minute buckets.
    wait = budget.hold_remaining("slow.get")
    assert wait is not None and 540 < wait <= 601
    clock.now += wait
    assert budget.hold_remaining("slow.get") == 0.0


def test_operating_counts_requests_in_flight() -> None:
    clock = Clock()
    budget = OperatingBudget(10.0, 600.0, floor=0.1, clock=clock)
    budget.reserve(budget.charges(["m"]))
    budget.settle("m", report(clock, operating=2.0, processing=2.0))
    budget.reserve(budget.charges(["m", "m", "m"]))  # 2 + 6 = 8 of 10 (margin 0.2)
    wait = budget.hold_remaining("m")  # a fourth must wait for the first bucket to leave
    assert wait is not None and wait > 500
    assert budget.admissible("m") == 0


def test_operating_floor_lone_fast_calls_cost_nothing() -> None:
    # Rule "floor": a key's sum within one request is billed only above 0.1 s.
    clock = Clock()
    budget = OperatingBudget(1.0, 600.0, floor=0.1, clock=clock)
    budget.reserve(budget.charges(["m"]))
    budget.settle("m", report(clock, operating=0.9, processing=0.05))
    assert budget.charges(["m"]) == {"m": (0.0, 1)}
    assert budget.hold_remaining("m") == 0.0  # a lone 50 ms call is never billed
    assert budget.charges(["m"] * 3)["m"] == (pytest.approx(0.15), 3)
    assert budget.hold_remaining("m", 3) != 0.0  # three in one batch are


def test_operating_batch_key_is_billed_half_the_commands() -> None:
    clock = Clock()
    budget = OperatingBudget(10.0, 600.0, floor=0.1, clock=clock)
    budget.reserve(budget.charges(["a"]))
    budget.settle("a", report(clock, operating=0.0, processing=0.2))
    charges = budget.charges(["batch", "a", "a", "a"])
    assert charges == {"a": (pytest.approx(0.6), 3), "batch": (pytest.approx(0.3), 1)}


def test_operating_refusal_holds_the_key_for_a_ban_then_probes() -> None:
    clock = Clock()
    budget = OperatingBudget(420.0, 600.0, floor=0.1, clock=clock)
    budget.reserve(budget.charges(["batch", "m"]))
    budget.settle("m", report(clock, operating=5.0, processing=1.0))
    wait = budget.refused("batch")
    assert wait == pytest.approx(300.0)
    assert budget.hold_remaining("m") == 0.0  # only that key
    assert budget.admissible("batch") == 0
    clock.now += 300
    assert budget.admissible("batch") == 1  # one probe learns the new sum
    budget.reserve(budget.charges(["batch", "m"]))
    assert budget.admissible("batch") == 0
    budget.settle("batch", report(clock, operating=0.5, processing=1.0))
    assert budget.admissible("batch") is None or budget.admissible("batch") != 0


def test_operating_learns_a_lower_threshold_from_a_refusal() -> None:
    clock = Clock()
    budget = OperatingBudget(480.0, 600.0, floor=0.1, clock=clock)
    budget.reserve(budget.charges(["m"]))
    budget.settle("m", report(clock, operating=421.0, processing=1.0))
    budget.refused("m")  # the portal enforces 420 while we assumed 480
    # Refused at or above 7/8 of ours: the known 480 -> 420 case.
    assert budget.learned == budget.budget == pytest.approx(420.0)
    other = OperatingBudget(480.0, 600.0, floor=0.1, clock=clock)
    other.reserve(other.charges(["m"]))
    other.settle("m", report(clock, operating=300.0, processing=1.0))
    other.refused("m")  # some other threshold: 1/8 under the sum at the refusal
    assert other.learned == pytest.approx(300.0 * 7 / 8)


@pytest.mark.parametrize("skew", [-120.0, 120.0])
def test_operating_deadlines_use_the_portals_own_clock(skew: float) -> None:
    # Issue #10 item 5: a portal clock 2 minutes off neither stalls a key nor hammers it.
    clock = Clock()
    budget = OperatingBudget(10.0, 600.0, floor=0.1, clock=clock)
    budget.reserve(budget.charges(["m"]))
    budget.settle("m", report(clock, operating=9.0, processing=9.0, skew=skew))
    wait = budget.hold_remaining("m")
    assert wait is not None and 540 < wait <= 601  # the same as without skew
    # Refused with room left: the threshold is learned (9 s), the hold lasts until room.
    held = budget.refused("m")
    assert 540 < held <= 601


def test_operating_limiter_off_holds_nothing() -> None:
    clock = Clock()
    budget = OperatingBudget(1.0, 600.0, floor=0.1, clock=clock)
    budget.reserve(budget.charges(["m"] * 50))
    budget.settle("m", Timing(start=clock.time(), finish=clock.time(), processing=5.0))
    assert budget.hold_remaining("m", 50) == 0.0
    assert budget.admissible("m") is None


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


def test_operating_ban_clears_the_key_on_newer_portals() -> None:
    # A portal that bills the batch key runs the newer accounting: a refusal bans the key for
    # 300 s and deletes its buckets, so after the ban the whole budget is back.
    clock = Clock()
    budget = OperatingBudget(420.0, 600.0, floor=0.1, clock=clock)
    budget.reserve(budget.charges(["batch", "m"]))
    budget.settle("batch", report(clock, operating=0.5, processing=1.0))
    budget.reserve(budget.charges(["m"]))
    budget.settle("m", report(clock, operating=419.0, processing=1.0))
    assert budget.refused("m") == pytest.approx(300.0)
    clock.now += 300
    assert budget.usage()["m"].operating == 0
    assert budget.hold_remaining("m") == 0.0  # the probe


class CountingBudget(OperatingBudget):
    """An operating budget that counts how often a request's charges are worked out: once per
    examination of a waiter (a waiter that woke to look for room did it once per wake-up)."""

    examined = 0

    def charges(self, methods: Collection[str]) -> dict[str, tuple[float, int]]:
        self.examined += 1
        return super().charges(methods)


def unshared(clock: Clock) -> Timing:
    """A 1 s call's report from a portal without shared storage: only requests in flight count."""
    now = clock.time()
    return Timing(start=now - 1.0, finish=now, processing=1.0, operating=0.5)


async def test_a_settled_request_wakes_only_the_waiter_it_admits() -> None:
    # 200 requests wait on one key that has room for one more each time a request settles. A
    # settle must not wake all of them to look (200 settles x 200 waiters = 20,000 wake-ups
    # before the fix): it admits the one that fits, in order, and the rest sleep on.
    clock = Clock()
    budget = CountingBudget(10.0, 600.0, floor=0.1, clock=clock)
    budget.reserve(budget.charges(["m"]))
    budget.settle("m", unshared(clock))  # m costs 1 s
    for _ in range(9):
        await budget.wait(["m"])  # 9 s in flight: 0.8 s of room left (margin 0.2 s)
    admitted: list[int] = []

    async def request(n: int) -> None:
        await budget.wait(["m"])
        admitted.append(n)

    waiters = [asyncio.create_task(request(n)) for n in range(200)]
    await asyncio.sleep(0)
    assert admitted == [] and budget.usage()["m"].in_flight == 9
    budget.examined = 0
    for settled in range(1, 201):
        budget.settle("m", unshared(clock))
        for _ in range(2):  # the pass that admits, then the admitted waiter's step
            await asyncio.sleep(0)
        assert admitted == list(range(settled))  # one per settle, first come first served
        assert budget.usage()["m"].in_flight == 9
    await asyncio.gather(*waiters)
    # Per settle: the waiter admitted, and one look at the next (the rest share its answer).
    assert budget.examined <= 2 * 200


async def test_a_waiter_cancelled_as_it_is_admitted_gives_its_room_back() -> None:
    clock = Clock()
    budget = OperatingBudget(10.0, 600.0, floor=0.1, clock=clock)
    budget.reserve(budget.charges(["m"]))
    budget.settle("m", unshared(clock))
    for _ in range(9):
        await budget.wait(["m"])
    first = asyncio.create_task(budget.wait(["m"]))
    second = asyncio.create_task(budget.wait(["m"]))
    await asyncio.sleep(0)
    budget.settle("m", unshared(clock))
    await asyncio.sleep(0)  # the pass admits `first` (its charge reserved for it)...
    assert not first.done() and budget.usage()["m"].in_flight == 8 + 1  # its reservation
    first.cancel()  # ...which is cancelled before it runs again: the room goes to `second`
    for _ in range(3):
        await asyncio.sleep(0)
    assert first.cancelled() and second.done()
    assert budget.usage()["m"].in_flight == 9
    third = asyncio.create_task(budget.wait(["m"]))
    await asyncio.sleep(0)
    third.cancel()  # cancelled while waiting: nothing was reserved for it
    with pytest.raises(asyncio.CancelledError):
        await third
    assert budget.usage()["m"].in_flight == 9
    budget.settle("m", unshared(clock))
    assert budget.hold_remaining("m") == 0.0


def test_a_charge_over_the_whole_budget_waits_for_the_key_to_empty_not_for_a_report() -> None:
    # Nothing of the key is in flight, so no report will come: the wait is the time until the
    # key's last stored bucket leaves the window, after which the request goes alone. (A waiter
    # is examined only when its own keys change or its timer fires.)
    clock = Clock()
    budget = OperatingBudget(10.0, 600.0, floor=0.1, clock=clock)
    budget.reserve(budget.charges(["m"]))
    budget.settle("m", report(clock, operating=1.0, processing=1.0))  # 1 s stored, m costs 1 s
    wait = budget.hold_remaining("m", 20)  # 20 s: more than the whole budget
    assert wait is not None and 0 < wait <= 600.0 + 1e-3
    clock.now += wait
    assert budget.hold_remaining("m", 20) == 0.0


async def test_waiters_are_examined_after_all_the_settles_at_hand() -> None:
    # A failed batch request settles its own block first, then its commands: the waiter on the
    # commands' method is examined once they are all in, and admitted.
    clock = Clock()
    budget = CountingBudget(10.0, 600.0, floor=0.1, clock=clock)
    budget.reserve(budget.charges(["m"]))
    budget.settle("m", unshared(clock))  # m costs 1 s
    await budget.wait(["batch", "batch/m", "batch/m", "batch/m", "batch/m", "batch/m"])
    await budget.wait(["m", "m", "m", "m"])  # 5 + 4 = 9 s in flight
    waiter = asyncio.create_task(budget.wait(["m"]))
    await asyncio.sleep(0)
    budget.examined = 0
    for name in ("batch", "batch/m", "batch/m", "batch/m", "batch/m", "batch/m"):
        budget.settle(name, None)  # the failed request's order (Engine._settle)
    for _ in range(2):
        await asyncio.sleep(0)
    assert waiter.done() and budget.examined == 1
