"""Suite-wide test set-up: virtual time for the tests marked ``@pytest.mark.looptime``.

The looptime plugin fast-forwards a marked test's event loop whenever it is idle; the client and
the FakePortal share a :class:`~b24async.testing.LoopClock` so that wall time moves with it.
Python 3.11+ gets looptime 0.9; 3.10 gets 0.7 (the last for 3.10) plus the sub-tick timer
work-around below (tests/test_virtual_time.py checks it on every version).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
from collections.abc import Iterator

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
    """Keep looptime away from plain (sync) tests; on looptime < 0.9, no spin on sub-tick timers.

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
        if LOOPTIME_ROUNDS_TIMERS_DOWN and pyfuncitem.get_closest_marker("looptime"):
            _timers_due_within_a_tick(funcargs["event_loop_policy"].get_event_loop())
        return (yield)
    policy = funcargs.pop("event_loop_policy")
    try:
        return (yield)
    finally:
        funcargs["event_loop_policy"] = policy


def _timers_due_within_a_tick(loop: asyncio.AbstractEventLoop) -> None:
    """The looptime < 0.9 work-around (Python 3.10): a timer less than a tick ahead is due now.

    asyncio runs every timer due before ``loop.time() + loop._clock_resolution`` (the clock's
    resolution, 1 ns for ``time.monotonic``). A virtual loop's clock moves in looptime ticks, so
    its resolution is one tick: the timer that looptime stopped short of runs at once instead of
    spinning. looptime 0.9 fixes the same spin by stepping one tick further; either way the timer
    fires within a microsecond of virtual time of its due time.
    """
    resolution = getattr(loop, "_clock_resolution", None)
    if isinstance(resolution, float) and resolution < LOOPTIME_TICK:
        loop._clock_resolution = LOOPTIME_TICK  # type: ignore[attr-defined]
