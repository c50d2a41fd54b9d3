"""The portal's operating-time budgets, mirrored per key so that a job never trips a block.

What the portal does (``../shared/bitrix24-rest-facts.md`` §2, server code 2026): it bills the
handler time of each call to a key (one per method, plus ``batch`` for the outer batch at half
its handler time), sums one key's calls within one HTTP request and stores the sum only when it
exceeds a 0.1 s floor, keeps ten one-minute buckets numbered ``floor(unix / 60)``, and before
each call refuses the key (HTTP 429) when its sum is strictly greater than the threshold (420 s
by default). Newer portals then ban the key for 300 s and clear its buckets.

What the client does: it keeps, per key, a mirror of what the portal has stored (entries tagged
with their one-minute bucket, on the portal's clock), plus the charges of requests in flight.
A request is admitted when, for every key it bills, ``stored + in flight + its charge`` stays
within the threshold (less a small margin for estimation error); otherwise it waits until a
bucket of that key leaves the window or a report comes in. So a long job spends the budget and
then follows the buckets as they expire — the fastest schedule the window allows — and never
sends the call that would be refused. The mirror is corrected by every reported ``operating``:
more than expected (another app on the credential) is added, less (a ban cleared the buckets, an
on-prem portal without shared storage) is trimmed. A response without ``operating`` means the
limiter is off for that key: nothing is held.

If the portal refuses a key anyway (429), only that key is held: for the ban's length (300 s) or
until the mirror shows room, whichever is later; then one probe request learns the new sum. A
refusal while the mirror showed room means the threshold is lower than configured (or another
client shares the credential): the threshold is lowered to the sum last reported.

**The per-key model** (what a shared store, e.g. Redis, implements): per key, a list of
``(bucket number, seconds, stored at)`` entries on the portal's clock, ``pending`` seconds and
commands in flight, a hold deadline and a probe flag; operations :meth:`reserve` (admission),
:meth:`settle` (a command's report), :meth:`refused` (a 429). Everything else is arithmetic on
these. The bookkeeping (the mirror, the cost estimates, :meth:`settle`) is
:mod:`b24async.operating_mirror`; this module decides who may go and who waits.

**Waiting.** A request that does not fit queues (first come, first served). Reports and
refusals mark their keys; once the reports at hand are in (the next step of the event loop),
one pass examines only the waiters that bill a marked key, in order: those that now fit are
admitted (their charges reserved for them) and woken; the others sleep on, their timer moved
to the new deadline. A waiter wakes once, when admitted, however many requests settle
meanwhile (thousands may wait on a held method).
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable, Sequence
from typing import Any

import attrs

from b24async.clock import SYSTEM_CLOCK, Clock
from b24async.operating_mirror import (
    BATCH_KEY,
    BATCH_WEIGHT,
    BUCKETS,
    INNER,
    OperatingMirror,
    in_batch,
)
from b24async.protocol import Timing

__all__ = ["BATCH_KEY", "BATCH_WEIGHT", "MethodUsage", "OperatingBudget", "in_batch"]

_Charges = dict[str, tuple[float, int]]  # key -> (seconds, units), as charges() returns


@attrs.frozen
class MethodUsage:
    """A snapshot of one key's operating usage as the client mirrors it.

    ``operating``: seconds the portal holds for the key now (our mirror); ``reset_at``: the
    portal unix time the oldest of them leaves the window (None: nothing stored);
    ``in_flight``: commands admitted and not answered yet.
    """

    operating: float
    reset_at: float | None
    in_flight: int


class _Waiter:
    """A request waiting for room: woken once, by :meth:`OperatingBudget._admit`."""

    __slots__ = ("bases", "future", "methods", "signature", "timer")

    def __init__(self, methods: Collection[str], future: asyncio.Future[_Charges]) -> None:
        self.methods = methods
        self.future = future
        # The methods as a multiset: waiters with the same one get the same answer.
        self.signature = tuple(sorted(methods))
        self.bases = frozenset(m.removeprefix(INNER) for m in self.signature)
        self.timer: asyncio.TimerHandle | None = None


class OperatingBudget(OperatingMirror):
    """Admission control per billed key against the portal's operating-time threshold.

    Args:
        budget: the threshold, seconds per window (420 in the server code).
        window: the window, seconds (600: ten one-minute buckets).
        floor: a key's per-request sum billed only above this (0.1 s).
        ban: how long a refused key is banned on newer portals (300 s).
        apart: mirror a method's calls inside batches apart from its direct calls (webhooks:
            the server keys a webhook's batch commands without the webhook, so the two report
            different sums). Admission still counts both together: safe either way.
        clock: where time is read (monotonic for deadlines, unix before the first report).
    """

    def __init__(
        self,
        budget: float,
        window: float,
        *,
        floor: float | None = None,
        ban: float | None = None,
        apart: bool = False,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        super().__init__(budget, window, floor=floor, apart=apart, clock=clock)
        self.budget = budget
        self.ban = window / 2 if ban is None else ban
        self.waited = 0.0
        self.learned: float | None = None  # a threshold learned from a refusal
        self._waiters: dict[_Waiter, None] = {}  # first come, first served
        self._touched: set[str] = set()  # methods (no batch/ prefix) changed since the last pass
        self._pass: tuple[asyncio.AbstractEventLoop, asyncio.Handle] | None = None

    def _margin(self) -> float:
        return max(2 * self.floor, 0.01 * self.budget)

    # -- admission ----------------------------------------------------------------------------

    def _remaining(self, name: str, charge: float) -> float | None:
        """Seconds until ``charge`` more may go on key ``name`` (0: now; None: await a report)."""
        key = self._key(name)
        now = self._clock.monotonic()
        if key.hold_until is not None:
            # Less than a microsecond left is float drift: waiting it can spin a loop whose
            # clock ticks coarser (virtual time), as in the request bucket.
            if key.hold_until - now >= 1e-6:
                return key.hold_until - now
            key.hold_until = None
        if key.probe:
            return None if key.probing else 0.0
        if key.limited is False or charge <= 0:
            return 0.0
        portal_now = self._portal_now()
        group = self._group(name)
        live = [e for k in group for e in self._live(k, portal_now)]
        stored = sum(e.seconds for e in live)
        pending = sum(k.pending for k in group)
        room = self.budget - self._margin() - stored - pending
        if charge <= room or (stored + pending == 0):
            return 0.0  # (a charge larger than the whole budget goes alone on an empty key)
        # Wait for buckets to leave the window until the charge fits.
        needed = charge - room
        for entry in sorted(live, key=lambda e: e.bucket):
            needed -= entry.seconds
            if needed <= 0:
                expiry = (entry.bucket + BUCKETS) * self.bucket_length
                return max(expiry - portal_now, 0.0) + 1e-3
        if pending == 0 and live:
            # More than the whole budget, nothing in flight to report: it goes alone once the
            # key's last bucket leaves the window (no report would come to say so).
            expiry = (max(e.bucket for e in live) + BUCKETS) * self.bucket_length
            return max(expiry - portal_now, 0.0) + 1e-3
        return None  # only answers in flight can make room

    def _delay(self, charges: _Charges) -> float | None:
        """0.0 if a request with these charges fits now, else how long until it may.

        ``None`` means "wait for a call in flight to report".
        """
        waits = [self._remaining(name, seconds) for name, (seconds, _) in charges.items()]
        if all(w == 0.0 for w in waits):
            return 0.0
        known = [w for w in waits if w is not None and w > 0]
        return max(known) if known else None

    def hold_remaining(self, method: str, count: int = 1) -> float | None:
        """Seconds ``count`` more commands of ``method`` must wait; 0 to go now.

        ``None`` means "wait for a call in flight to report".
        """
        charge = count * self.cost(method)
        return self._remaining(method, charge if charge > self.floor else 0.0)

    def admissible(self, method: str) -> int | None:
        """How many more commands of ``method`` may go now (``None``: no limit known).

        Lets a batch builder take only what the budget admits, so that a held method never
        drags other methods' commands into its wait.
        """
        key = self._key(method)
        now = self._clock.monotonic()
        for held in self._group(method):
            if held.hold_until is not None and now < held.hold_until:
                return 0
            if held.probe and held is not key and held.probing:
                return 0
        if key.probe:
            return 0 if key.probing else 1
        cost = self.cost(method)
        if key.limited is False or cost <= 0:
            return None
        group = self._group(method)
        now_portal = self._portal_now()
        live = [e for k in group for e in self._live(k, now_portal)]
        pending = sum(k.pending for k in group)
        room = self.budget - self._margin() - sum(e.seconds for e in live) - pending
        fits = int(room / cost + 1e-9) if room > 0 else 0
        if fits == 0 and not live and pending == 0:
            return 1
        # Calls under the floor together cost nothing: at least that many fit.
        return max(fits, int(self.floor / cost) if fits == 0 and cost < self.floor else fits)

    async def wait(self, methods: Collection[str]) -> None:
        """Wait until a request carrying ``methods`` fits every key it bills, then reserve it."""
        charges = self.charges(methods)
        delay = self._delay(charges)
        if delay == 0.0:
            self.reserve(charges)
            return
        started = self._clock.monotonic()
        waiter = _Waiter(methods, asyncio.get_running_loop().create_future())
        self._waiters[waiter] = None
        self._arm(waiter, delay)
        try:
            await waiter.future  # resolved by _admit with the charges it reserved
        except asyncio.CancelledError:
            if waiter.future.done() and not waiter.future.cancelled():
                # Admitted in the same moment it was cancelled: give the room back.
                self._release(waiter.future.result())
                self._touch(*waiter.bases)
            raise
        finally:
            if waiter.timer is not None:
                waiter.timer.cancel()
            self._waiters.pop(waiter, None)
        self.waited += self._clock.monotonic() - started

    def _arm(self, waiter: _Waiter, delay: float | None) -> None:
        """Re-examine ``waiter`` after ``delay`` seconds (``None``: only when a report comes)."""
        loop = waiter.future.get_loop()
        if waiter.timer is not None:
            if delay is not None and abs(waiter.timer.when() - (loop.time() + delay)) < 1e-3:
                return  # the same deadline: keep the timer
            waiter.timer.cancel()
            waiter.timer = None
        if delay is not None:
            waiter.timer = loop.call_later(delay, self._admit, waiter.bases)

    def _admit(self, bases: Iterable[str]) -> None:
        """Admit, in order, the waiters billing any of ``bases`` that fit now; re-arm the rest.

        Only admitted waiters wake. Waiters carrying the same methods get the same answer, so
        each distinct request shape is examined once per pass until one of them fits.
        """
        if not self._waiters:
            return
        bases = frozenset(bases)
        refused: dict[tuple[str, ...], float | None] = {}
        for waiter in list(self._waiters):
            if waiter.future.done() or waiter.bases.isdisjoint(bases):
                continue
            if waiter.signature in refused:
                delay = refused[waiter.signature]
            else:
                charges = self.charges(waiter.methods)
                delay = self._delay(charges)
                if delay == 0.0:
                    self.reserve(charges)
                    if waiter.timer is not None:
                        waiter.timer.cancel()
                        waiter.timer = None
                    waiter.future.set_result(charges)
                    continue
                refused[waiter.signature] = delay
            self._arm(waiter, delay)

    def _touch(self, *names: str) -> None:
        """Keys of ``names`` changed: examine their waiters once the reports at hand are in.

        One pass per event-loop step, after the caller's synchronous run of settles (a batch
        request settles each command, then its own block; a failed one its block first), so a
        waiter is examined once against all of them, as a waiter woken by them would have seen.
        """
        if not self._waiters:
            self._touched.clear()
            return
        self._touched.update(name.removeprefix(INNER) for name in names)
        loop = next(iter(self._waiters)).future.get_loop()
        if self._pass is None or self._pass[0] is not loop:  # (a pass of a closed loop never runs)
            self._pass = (loop, loop.call_soon(self._examine))

    def _examine(self) -> None:
        self._pass = None
        touched, self._touched = self._touched, set()
        self._admit(touched)

    def _release(self, charges: _Charges) -> None:
        """Undo :meth:`reserve` for a request that was admitted but never sent."""
        for name, (seconds, units) in charges.items():
            key = self._key(name)
            key.pending_units = max(0, key.pending_units - units)
            key.pending = max(0.0, key.pending - seconds) if key.pending_units else 0.0
            if key.pending_units == 0:
                key.probing = False

    # -- reports ------------------------------------------------------------------------------

    def settle(self, name: str, timing: Timing | None = None) -> None:
        """One command of key ``name`` finished (``timing``: its ``time`` block, if any).

        For :data:`BATCH_KEY` this is the batch request's envelope.
        """
        super().settle(name, timing)
        self._touch(name)

    def settle_all(self, reports: Iterable[tuple[str, Timing | None]]) -> None:
        """:meth:`settle` each ``(name, timing)`` of one answer; waiters are examined once."""
        self._settle_answer(reports, False)

    def settle_wire(self, reports: Iterable[tuple[str, Any]]) -> None:
        """:meth:`settle_all` of raw ``time`` blocks (see ``OperatingMirror.settle_wire``)."""
        self._settle_answer(reports, True)

    def _settle_answer(self, reports: Iterable[tuple[str, Any]], wire: bool) -> None:
        # (The mirror's one body for both ways in, then the waiters, examined once.)
        reports = reports if isinstance(reports, Sequence) else list(reports)
        self._settle(reports, wire)
        if self._waiters:
            self._touch(*{name: None for name, _ in reports})
        else:
            self._touched.clear()

    def refused(self, name: str) -> float:
        """The portal refused key ``name`` (429): hold it; returns the seconds to wait."""
        key = self._key(name)
        now = self._clock.monotonic()
        if key.hold_until is not None and now < key.hold_until:
            return key.hold_until - now  # a refusal from the hold already known
        portal_now = self._portal_now()
        stored = sum(e.seconds for k in self._group(name) for e in self._live(k, portal_now))
        if key.limited and key.reported < self.budget - self._margin() and stored < self.budget:
            # Refused while we saw room: the portal's threshold is lower than ours (or another
            # client spends this key). The known case is the docs' 480 s against the code's
            # 420 s (7/8): take that when the sum at the refusal reached it; otherwise 7/8 of
            # that sum (it may have passed the threshold by what was in flight). Never below
            # half the configured threshold.
            seen = min(key.reported, stored)
            usual = self.configured * 7 / 8
            learned = max(usual if seen >= usual else seen * 7 / 8, self.configured / 2)
            if learned < self.budget:
                self.budget = self.learned = learned
        if self.bans_clear:
            # A newer portal bans the key for a fixed time and deletes its buckets.
            key.entries.clear()
            wait = self.ban
        else:
            # An older one unblocks as buckets expire: wait for room, and at least a ban's
            # length in case this one bans after all.
            room_in = self._remaining(name, self.floor) if not key.probe else None
            wait = max(self.ban, room_in or 0.0)
        key.hold_until = now + wait
        key.probe = True
        key.probing = False
        self._touch(name)  # its waiters now wait for the hold's end
        return wait

    def usage(self) -> dict[str, MethodUsage]:
        """Per-key snapshot of the mirror."""
        now = self._portal_now()
        out: dict[str, MethodUsage] = {}
        for name, key in self._keys.items():
            live = [e for e in self._live(key, now) if e.seconds > 0]
            reset = (min(e.bucket for e in live) + BUCKETS) * self.bucket_length if live else None
            out[name] = MethodUsage(sum(e.seconds for e in live), reset, key.pending_units)
        return out
