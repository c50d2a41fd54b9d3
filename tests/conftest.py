"""Suite-wide test set-up: virtual time for the tests marked ``@pytest.mark.looptime``.

The looptime plugin fast-forwards a marked test's event loop whenever it is idle; the client and
the FakePortal share a :class:`~b24async.testing.LoopClock` so that wall time moves with it.
Python 3.11+ gets looptime 0.9; 3.10 gets 0.7 (the last for 3.10) plus the sub-tick timer
work-around below (tests/test_virtual_time.py checks it on every version).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from collections.abc import Iterator
from typing import Any

import pytest

HAVE_LOOPTIME = importlib.util.find_spec("looptime") is not None

#: looptime's default tick (its ``resolution``): the loop's time moves in whole microseconds.
LOOPTIME_TICK = 1e-6


def _looptime_rounds_timers_down() -> bool:
    """looptime < 0.9 (the last for Python 3.10 is 0.7) can stop one sub-tick short of a timer.

    It steps the loop's time by ``round(timeout / tick)`` ticks, so a timer whose delay is not a
    whole number of microseconds (``loop.time() + 0.0123454``) can be reached as
    ``when - 4e-7``. asyncio then selects again with that sub-tick timeout, looptime steps by
    ``round(0.4) == 0`` ticks, and the loop spins at 100 % CPU forever (looptime issue #35,
    fixed in 0.9 by stepping one tick instead).
    """
    if not HAVE_LOOPTIME:
        return False
    major, minor = (int(part) for part in importlib.metadata.version("looptime").split(".")[:2])
    return (major, minor) < (0, 9)


LOOPTIME_ROUNDS_TIMERS_DOWN = _looptime_rounds_timers_down()


def pytest_configure(config: pytest.Config) -> None:
    if LOOPTIME_ROUNDS_TIMERS_DOWN:
        config.pluginmanager.register(_StepAtLeastATick(), "looptime-step-at-least-a-tick")
    if not HAVE_LOOPTIME:  # looptime registers its marker itself
        config.addinivalue_line("markers", "looptime: run on virtual time (looptime plugin)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Without looptime (not installed: the test group has it) virtual-time tests cannot run.

    Their assertions are on virtual durations, which real time would only approximate.
    """
    if HAVE_LOOPTIME:
        return
    skip = pytest.mark.skip(reason="virtual time needs the looptime plugin (the test group)")
    for item in items:
        if item.get_closest_marker("looptime") is not None:
            item.add_marker(skip)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Iterator[None]:
    """Keep looptime away from plain (sync) tests.

    looptime 0.9 asks the event-loop policy of every test for its loop; in a sync test none is
    set, and on Python < 3.14 the policy then creates one that nobody closes (a
    ``ResourceWarning``, an error under ``filterwarnings=error``; on 3.12-3.13 also a
    ``DeprecationWarning``). Without the policy among the test's fixture values it leaves the
    test alone, which is what it would do anyway: a sync test has no loop to fast-forward.
    (pytest-asyncio marks every async test ``asyncio`` in auto mode.) looptime 0.7 does the same.
    """
    funcargs = pyfuncitem.funcargs
    if "event_loop_policy" not in funcargs:
        return (yield)
    if pyfuncitem.get_closest_marker("asyncio"):
        return (yield)
    policy = funcargs.pop("event_loop_policy")
    try:
        return (yield)
    finally:
        funcargs["event_loop_policy"] = policy


class _StepAtLeastATick:
    """Registered on looptime < 0.9 only (see :meth:`pytest_pyfunc_call`)."""

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> Iterator[None]:
        return (yield from _step_at_least_a_tick(pyfuncitem))


def _step_at_least_a_tick(pyfuncitem: pytest.Function) -> Iterator[None]:
    """The looptime < 0.9 work-around (Python 3.10): a sub-tick timeout steps one whole tick.

    Innermost (``trylast``): looptime's own wrapper has already put its select() on the loop's
    selector. asyncio asks it to wait ``when - loop.time()``; less than a tick rounds to no step
    at all, so the timeout is raised to one tick and the loop's time passes the timer. That is
    looptime 0.9's own fix: the timer fires at most one tick (1 µs) late, never early.
    """
    funcargs = pyfuncitem.funcargs
    if (
        not LOOPTIME_ROUNDS_TIMERS_DOWN
        or pyfuncitem.get_closest_marker("looptime") is None
        or "event_loop_policy" not in funcargs
    ):
        return (yield)
    loop = funcargs["event_loop_policy"].get_event_loop()
    selector = getattr(loop, "_selector", None)  # asyncio's; looptime replaced its select
    if selector is None:
        return (yield)
    select = selector.select

    def select_at_least_a_tick(timeout: float | None = None) -> Any:
        if timeout is not None and 0 < timeout < LOOPTIME_TICK:
            timeout = LOOPTIME_TICK
        return select(timeout)

    selector.select = select_at_least_a_tick
    try:
        return (yield)
    finally:
        selector.select = select
