"""Settling one answer's reports in one pass (``settle_all``) against one ``settle`` each."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from b24async.operating import OperatingBudget
from b24async.operating_mirror import BATCH_KEY, OperatingMirror, in_batch
from b24async.protocol import Timing
from b24async.throttle import Throttle

UNIX = 1_800_000_000.0
METHODS = ("user.get", "crm.deal.list")
NAMES = (*METHODS, *(in_batch(m) for m in METHODS), BATCH_KEY)


class Clock:
    """Monotonic and unix readings that move together, only when a test moves them."""

    def __init__(self) -> None:
        self.now = 1000.0

    def time(self) -> float:
        return self.now + UNIX - 1000.0

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)


def maybe(values: st.SearchStrategy[float]) -> st.SearchStrategy[float | None]:
    return st.one_of(st.none(), values)


# A time block as a portal may send it: times near the clocks' (skewed either way), any field
# missing, processing and operating from nothing to over the budget.
timings = st.builds(
    lambda start, took, skew, processing, operating, reset, finish: Timing(
        start=None if start is None else UNIX + start,
        finish=None if not finish else UNIX + (start or 0.0) + took + skew,
        processing=processing,
        operating=operating,
        operating_reset_at=reset,
    ),
    # (starts often in one minute: reports landing in a bucket that already has an entry)
    maybe(st.one_of(st.sampled_from([0.0, 0.5, 10.0, 59.5, 61.0, 650.0]), st.floats(0.0, 1200.0))),
    st.sampled_from([0.0, 0.02, 0.5, 5.0]),
    st.sampled_from([0.0, -3.0, 7.5]),
    maybe(st.sampled_from([0.0, 0.02, 0.05, 0.1, 0.11, 1.0, 30.0])),
    st.sampled_from([None, 0.0, 0.0, 0.05, 0.5, 3.0, 50.0, 300.0, 470.0, 500.0]),
    st.sampled_from([None, UNIX + 600.0, UNIX + 600.0, UNIX + 600.0]),
    st.booleans(),
)
reports = st.lists(st.tuples(st.sampled_from(NAMES), maybe(timings)), max_size=60)


def steps_with(answers: st.SearchStrategy[Any]) -> st.SearchStrategy[tuple[str, Any]]:
    """Scripts' steps: an answer's reports (drawn from ``answers``), a reservation, a refusal,
    or time passing."""
    return st.one_of(
        st.tuples(st.just("answer"), answers),
        st.tuples(st.just("reserve"), st.lists(st.sampled_from(NAMES), min_size=1, max_size=60)),
        st.tuples(st.just("refused"), st.sampled_from(NAMES)),
        st.tuples(st.just("wait"), st.sampled_from([0.0, 0.5, 30.0, 61.0, 400.0])),
    )


steps = steps_with(reports)


def state(budget: OperatingMirror) -> Any:
    """Everything the mirror holds, floats exact."""
    keys = {
        name: (
            [(e.bucket, e.seconds, e.stored_at) for e in key.entries],
            key.pending,
            key.pending_units,
            key.hold_until,
            key.probe,
            key.probing,
            key.limited,
            key.shared,
            key.reported,
        )
        for name, key in budget._keys.items()
    }
    costs = {name: (c.seconds, c.measured) for name, c in budget._costs.items()}
    extra = (budget.budget, budget.learned) if isinstance(budget, OperatingBudget) else ()
    return keys, costs, budget._offset, budget.bans_clear, extra


def play(
    budget: OperatingBudget,
    clock: Clock,
    script: list[Any],
    settle: Callable[[OperatingBudget, Any], None],
) -> None:
    """Run ``script`` on ``budget``; ``settle`` settles an answer step's reports."""
    for step, arg in script:
        if step == "answer":
            settle(budget, arg)
        elif step == "reserve":
            methods = [BATCH_KEY, *arg] if len(arg) > 1 else arg
            budget.reserve(budget.charges(methods))
        elif step == "refused":
            budget.refused(arg)
        else:
            clock.now += arg


def settle_each(budget: OperatingBudget, reports: Any) -> None:
    for name, timing in reports:
        budget.settle(name, timing)


@settings(max_examples=400, deadline=None)
@given(
    script=st.lists(steps, max_size=25), apart=st.booleans(), budget=st.sampled_from([6.0, 480.0])
)
def test_settling_an_answer_at_once_leaves_the_mirror_of_one_settle_per_report(
    script: list[Any], apart: bool, budget: float
) -> None:
    clocks = Clock(), Clock()
    each, whole = (OperatingBudget(budget, 600.0, apart=apart, clock=c) for c in clocks)
    play(each, clocks[0], script, settle_each)
    play(whole, clocks[1], script, OperatingBudget.settle_all)
    assert_same_budgets(whole, each)


def assert_same_budgets(one: OperatingBudget, other: OperatingBudget) -> None:
    """The same mirror state, and the admission answers that follow from it agree too."""
    assert state(one) == state(other)
    for name in NAMES:
        assert one.hold_remaining(name) == other.hold_remaining(name)
        assert one.admissible(name) == other.admissible(name)
    assert one.usage() == other.usage()


def test_reports_of_one_answer_in_one_bucket_keep_the_latest_storing_time() -> None:
    # Direct calls (each report moves the portal clock) starting in the same minute: their
    # charges share one entry, stored at the latest report's time, however they are settled.
    clocks = Clock(), Clock()
    each, whole = (OperatingBudget(480.0, 600.0, clock=c) for c in clocks)
    answer = [
        ("user.get", Timing(UNIX + 10, UNIX + 10.5, None, 1.0, None, None, 0.0, UNIX + 600)),
        ("user.get", Timing(UNIX + 20, UNIX + 25, None, 1.0, None, None, 0.0, UNIX + 600)),
    ]
    for name, timing in answer:
        each.settle(name, timing)
    whole.settle_all(answer)
    assert state(whole) == state(each)
    [entry] = whole._keys["user.get"].entries
    assert (entry.seconds, entry.stored_at) == (2.0, UNIX + 25)


def test_settle_all_takes_any_iterable_once() -> None:
    clocks = Clock(), Clock()
    each, whole = (OperatingBudget(6.0, 600.0, clock=c) for c in clocks)
    now = UNIX
    answer = [
        (in_batch("user.get"), Timing(now, now + 0.5, 0.5, 0.5, None, None, 2.0, now + 600)),
        (BATCH_KEY, Timing(now, now + 0.6, 0.6, 0.5, None, None, 0.25, now + 600)),
    ]
    for budget in (each, whole):
        budget.reserve(budget.charges([BATCH_KEY, "user.get"]))
    for name, timing in answer:
        each.settle(name, timing)
    whole.settle_all(iter(answer))  # a generator is read once, in order
    assert state(whole) == state(each)
    assert whole.usage()["user.get"].operating == pytest.approx(2.0)


async def test_waiters_see_a_whole_answer_settled_as_one_settle_each() -> None:
    # Three requests wait on a held key; one answer of five commands makes room for two. Each
    # way of settling admits the same waiters, in the same order, in one examination pass.
    admitted: dict[bool, list[int]] = {}
    for at_once in (False, True):
        clock = Clock()
        budget = OperatingBudget(6.0, 600.0, floor=0.001, clock=clock)
        now = clock.time()
        budget.settle("m", Timing(now - 1, now, 1.0, 1.0, None, None, 0.5, now + 600))
        budget.reserve(budget.charges(["m"] * 5))
        order: list[int] = []

        async def one(i: int, budget: OperatingBudget = budget, order: list[int] = order) -> None:
            await budget.wait(["m", "m"])
            order.append(i)

        tasks = [asyncio.create_task(one(i)) for i in range(3)]
        await asyncio.sleep(0)
        assert order == []  # all held: the five in flight fill the budget
        answer = [("m", Timing(now, now + 0.2, 0.2, 0.2, None, None, 1.0, now + 600))] * 5
        if at_once:
            budget.settle_all(answer)
        else:
            for name, timing in answer:
                budget.settle(name, timing)
        for _ in range(3):
            await asyncio.sleep(0)
        admitted[at_once] = list(order)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert admitted[True] == admitted[False]
    assert admitted[True]  # the answer did make room


def test_a_throttle_that_watches_each_settle_still_sees_each_one() -> None:
    # SharedThrottle publishes holds per report by overriding settle: settle_all must not
    # bypass such an override.
    seen: list[str] = []

    class Watching(Throttle):
        def settle(self, method: str, timing: Timing | None) -> None:
            seen.append(method)
            super().settle(method, timing)

    answer = [(in_batch("user.get"), None), (in_batch("user.get"), None), (BATCH_KEY, None)]
    Watching().settle_all(answer)
    assert seen == [name for name, _ in answer]
