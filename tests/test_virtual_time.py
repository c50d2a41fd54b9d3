"""The suite's virtual time itself (looptime + tests/conftest.py), on every supported Python.

A timer whose delay is not a whole number of looptime ticks (1 µs) must fire, not spin: unix
timestamps near 1.8e9 are floats with ~2.4e-7 s steps, so the client's holds and the FakePortal's
reset times are such delays all the time. looptime < 0.9 (Python 3.10) spins on them unless
tests/conftest.py makes a sub-tick timer due at once; a spin shows as this module's timeout.
"""

from __future__ import annotations

import asyncio

import pytest

from b24async.testing import LoopClock

pytestmark = [pytest.mark.looptime, pytest.mark.timeout(20)]

TICK = 1e-6


@pytest.mark.parametrize("delay", [1e-7, 4e-7, 0.0123454, 0.0123456, 3.0000002, 3600.0])
async def test_a_sleep_off_the_tick_grid_ends_on_time(delay: float) -> None:
    loop = asyncio.get_running_loop()
    began = loop.time()
    await asyncio.sleep(delay)
    assert loop.time() - began == pytest.approx(delay, abs=TICK)


async def test_a_wait_until_a_unix_deadline_times_out_on_time() -> None:
    clock = LoopClock()
    deadline = clock.time() + 0.0123454  # as a hold until the portal's reset time is computed
    event = asyncio.Event()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(event.wait(), deadline - clock.time())
    assert clock.time() == pytest.approx(deadline, abs=1e-6)


async def test_many_off_grid_timers_in_a_row() -> None:
    clock = LoopClock()
    began = clock.monotonic()
    for step in range(1, 200):
        await clock.sleep(step * 1.234567e-3)
    assert clock.monotonic() - began == pytest.approx(sum(range(1, 200)) * 1.234567e-3, abs=1e-3)
