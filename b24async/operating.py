"""Per-method operating-time budget, mirrored from each response's ``time`` block.

The portal sums each method's execution time in ten one-minute buckets and blocks the method
(HTTP 429 ``OPERATION_TIME_LIMIT``) once the sum reaches the threshold; the check runs before
each call, so the call that crosses still completes (RU ``limits.md``). The client keeps, per
method, an upper bound of that sum: the last ``operating`` the portal reported plus the expected
cost of the calls of that method still in flight. A call whose admission would reach the budget
waits until ``operating_reset_at`` (when the oldest bucket leaves the window); after that, one
probe call learns the new sum. Only that method waits; other methods keep flowing.
"""

from __future__ import annotations

import asyncio
import contextlib

import attrs

from b24async.clock import SYSTEM_CLOCK, Clock
from b24async.protocol import Timing

__all__ = ["MethodUsage", "OperatingBudget"]

_BLIND_CALLS = 400  # calls of an unmeasured method admitted against a fresh budget


@attrs.define
class _MethodState:
    cost: float  # expected execution seconds of one call
    operating: float = 0.0  # upper bound of the portal's sum, seconds
    reset_at: float | None = None  # unix time the oldest bucket leaves the window
    in_flight: int = 0
    measured: bool = False  # whether ``cost`` comes from the portal's reports yet


@attrs.frozen
class MethodUsage:
    """A snapshot of one method's operating usage as last reported by the portal."""

    operating: float
    reset_at: float | None
    in_flight: int


class OperatingBudget:
    """Admission control per REST method against the portal's operating-time budget.

    ``clock.time()`` is compared with the portal's ``operating_reset_at`` (unix time);
    ``clock.monotonic()`` measures ``waited``.
    """

    def __init__(
        self,
        budget: float,
        window: float,
        *,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.budget = budget
        self.window = window
        self._clock = clock
        self._methods: dict[str, _MethodState] = {}
        self._changed = asyncio.Event()
        self.waited = 0.0

    def _state(self, method: str) -> _MethodState:
        state = self._methods.get(method)
        if state is None:
            # Until the portal reports a method's cost, assume a heavy one: 1/400 of the budget
            # (1.2 s at 480 s), so a job's first burst cannot spend the budget blind.
            state = self._methods[method] = _MethodState(cost=self.budget / _BLIND_CALLS)
        return state

    def hold_remaining(self, method: str, count: int = 1) -> float | None:
        """Seconds ``count`` more calls of ``method`` must wait; 0 to go now.

        ``None`` means "wait for a call in flight to report" (the bound is stale but calls are
        still out; their responses will tell the new sum).
        """
        state = self._state(method)
        predicted = state.operating + (state.in_flight + count) * state.cost
        # Spending up to the budget is fine: the portal checks before each call, so every call
        # admitted here still starts below the threshold.
        if predicted <= self.budget and state.operating < self.budget:
            return 0.0
        now = self._clock.time()
        if state.reset_at is not None and now < state.reset_at:
            return state.reset_at - now
        # The oldest bucket has left: the sum is lower now, by how much only a call can tell.
        return 0.0 if state.in_flight == 0 else None

    def admissible(self, method: str) -> int | None:
        """How many more calls of ``method`` may go now (``None``: no limit known).

        Lets a batch builder take only what the budget admits, so that a held method never
        drags other methods' commands into its wait.
        """
        state = self._state(method)
        if state.operating < self.budget:
            if state.cost <= 0:
                return None
            room = int((self.budget - state.operating) / state.cost + 1e-9) - state.in_flight
            if room > 0:
                return room
        now = self._clock.time()
        if state.reset_at is not None and now < state.reset_at:
            return 0
        return 1 if state.in_flight == 0 else 0  # past the reset: one probe learns the new sum

    def admit(self, method: str, count: int = 1) -> None:
        """Count ``count`` calls of ``method`` as in flight (call after the hold is over)."""
        self._state(method).in_flight += count

    def settle(self, method: str, timing: Timing | None = None, count: int = 1) -> None:
        """A call of ``method`` finished (``timing`` from its response, if it succeeded)."""
        state = self._state(method)
        state.in_flight = max(0, state.in_flight - count)
        if timing is not None:
            if timing.operating is not None:
                state.operating = timing.operating
            if timing.operating_reset_at is not None:
                state.reset_at = timing.operating_reset_at
            if timing.processing is not None:
                sample = timing.processing
                if not state.measured:
                    state.cost, state.measured = sample, True  # replace the blind guess
                else:
                    # A cautious running estimate: quick to rise, slow to fall.
                    state.cost = sample if sample > state.cost else state.cost * 0.9 + sample * 0.1
        self._notify()

    def blocked(self, method: str) -> float:
        """The portal refused ``method`` (429): hold it; returns the seconds to wait."""
        state = self._state(method)
        state.operating = max(state.operating, self.budget)
        now = self._clock.time()
        if state.reset_at is None or state.reset_at <= now:
            # Unknown reset time: the sum can only fall when a one-minute bucket expires.
            state.reset_at = now + self.window / 10
        self._notify()
        return state.reset_at - now

    async def wait(self, method: str, count: int = 1) -> None:
        """Wait until ``count`` calls of ``method`` may go, then admit them."""
        started: float | None = None
        while True:
            remaining = self.hold_remaining(method, count)
            if remaining == 0.0:
                break
            if started is None:
                started = self._clock.monotonic()
            self._changed.clear()
            timeout = None if remaining is None else remaining + 0.01
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout)
        if started is not None:
            self.waited += self._clock.monotonic() - started
        self.admit(method, count)

    def _notify(self) -> None:
        self._changed.set()

    def usage(self) -> dict[str, MethodUsage]:
        """Per-method snapshot of what the portal last reported."""
        return {
            name: MethodUsage(state.operating, state.reset_at, state.in_flight)
            for name, state in self._methods.items()
        }
