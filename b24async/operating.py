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

All portal times are turned into local deadlines on the portal's own clock: a bucket's expiry or
a ban's end minus the portal's ``time.finish`` gives a duration, which is added to our monotonic
reading when the response arrived. The two clocks are never compared.

**The per-key model** (what a shared store, e.g. Redis, implements): per key, a list of
``(bucket number, seconds, stored at)`` entries on the portal's clock, ``pending`` seconds and
commands in flight, a hold deadline and a probe flag; operations :meth:`reserve` (admission),
:meth:`settle` (a command's report), :meth:`refused` (a 429). Everything else is arithmetic on
these.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Collection, Mapping

import attrs

from b24async.clock import SYSTEM_CLOCK, Clock
from b24async.protocol import Timing

__all__ = ["BATCH_KEY", "BATCH_WEIGHT", "MethodUsage", "OperatingBudget", "in_batch"]

BATCH_KEY = "batch"
_INNER = "batch/"
BATCH_WEIGHT = 0.5  # the outer batch is billed half its handler time (2026 server code)
BUCKETS = 10
_BLIND_CALLS = 400  # calls of an unmeasured method admitted against a fresh budget


def in_batch(method: str) -> str:
    """The key name of ``method`` called inside a ``batch`` (see ``OperatingBudget(apart=)``)."""
    return _INNER + method


@attrs.define
class _Entry:
    bucket: int  # floor(portal unix time / bucket length)
    seconds: float
    stored_at: float  # portal unix time the portal stored it (at the latest)


@attrs.define
class _Key:
    entries: list[_Entry] = attrs.field(factory=list)  # one per bucket, oldest first
    pending: float = 0.0  # charges of admitted requests not settled yet
    pending_units: int = 0  # their commands (one unit per batch request for the batch key)
    hold_until: float | None = None  # local monotonic deadline of a hold after a 429
    probe: bool = False  # after a hold: one request learns the new sum first
    probing: bool = False
    limited: bool | None = None  # False once the portal reports no ``operating`` for it
    shared: bool = True  # False when reports carry no ``operating_reset_at`` (no stored sum)
    reported: float = 0.0  # the last ``operating`` reported


@attrs.define
class _Cost:
    seconds: float
    measured: bool = False


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


class OperatingBudget:
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
        self.apart = apart
        self.configured = budget
        self.budget = budget
        self.window = window
        self.bucket_length = window / BUCKETS
        self.floor = window / 6000 if floor is None else floor
        self.ban = window / 2 if ban is None else ban
        self._clock = clock
        self._keys: dict[str, _Key] = {}
        self._costs: dict[str, _Cost] = {}
        self._offset: float | None = None  # portal unix time minus our monotonic reading
        self._changed = asyncio.Event()
        self.waited = 0.0
        self.learned: float | None = None  # a threshold learned from a refusal
        # Whether refusals ban and clear the key (newer portals, told apart by billing ``batch``).
        self.bans_clear = False

    # -- time ---------------------------------------------------------------------------------

    def _portal_now(self) -> float:
        if self._offset is None:
            return self._clock.time()  # no report yet: assume the clocks agree
        return self._clock.monotonic() + self._offset

    def _number(self, portal_time: float) -> int:
        return math.floor(portal_time / self.bucket_length + 1e-9)

    def _live(self, key: _Key, portal_time: float) -> list[_Entry]:
        oldest = self._number(portal_time) - BUCKETS + 1
        if key.entries and key.entries[0].bucket < oldest:
            key.entries = [e for e in key.entries if e.bucket >= oldest]
        return key.entries

    @staticmethod
    def _add(key: _Key, bucket: int, seconds: float, stored_at: float) -> None:
        """Add to the key's entry for ``bucket`` (one entry per bucket, kept in order)."""
        for entry in reversed(key.entries):
            if entry.bucket == bucket:
                entry.seconds += seconds
                entry.stored_at = max(entry.stored_at, stored_at)
                return
            if entry.bucket < bucket:
                break
        key.entries.append(_Entry(bucket, seconds, stored_at))
        key.entries.sort(key=lambda e: e.bucket)

    def _margin(self) -> float:
        return max(2 * self.floor, 0.01 * self.budget)

    # -- estimates ----------------------------------------------------------------------------

    def key_name(self, name: str) -> str:
        """The key the portal bills ``name`` to: ``batch/<method>`` is ``<method>`` unless apart.

        A store shared between processes names its entries with this, so a hold published for a
        command inside a batch holds the same key's direct calls wherever the portal shares it.
        """
        if name.startswith(_INNER) and not self.apart:
            return name[len(_INNER) :]
        return name

    def _key(self, name: str) -> _Key:
        name = self.key_name(name)
        key = self._keys.get(name)
        if key is None:
            key = self._keys[name] = _Key()
        return key

    def _group(self, name: str) -> list[_Key]:
        """The keys whose sums one admission counts: a method's direct and in-batch mirrors."""
        base = name.removeprefix(_INNER)
        if base == BATCH_KEY or not self.apart:
            return [self._key(name)]
        return [self._key(base), self._key(_INNER + base)]

    def cost(self, method: str) -> float:
        """Expected handler seconds of one call of ``method`` (cautious until measured)."""
        method = method.removeprefix(_INNER)
        cost = self._costs.get(method)
        if cost is None:
            # Until the portal reports a method's time, assume a heavy one: 1/400 of the budget,
            # so a job's first burst cannot spend the budget blind.
            cost = self._costs[method] = _Cost(self.configured / _BLIND_CALLS)
        return cost.seconds

    def charges(self, methods: Collection[str]) -> dict[str, tuple[float, int]]:
        """What one request carrying ``methods`` bills each key: ``{key: (seconds, units)}``.

        An entry :data:`BATCH_KEY` marks a ``batch`` request: its key is billed half the sum of
        the other entries. A key's sum under the per-request floor costs nothing.
        """
        counts: dict[str, int] = {}
        for method in methods:
            counts[method] = counts.get(method, 0) + 1
        batched = counts.pop(BATCH_KEY, 0) > 0
        out: dict[str, tuple[float, int]] = {}
        total = 0.0
        for method, count in counts.items():
            seconds = count * self.cost(method)
            total += seconds
            out[self.key_name(method)] = (seconds if seconds > self.floor else 0.0, count)
        if batched:
            seconds = BATCH_WEIGHT * total
            out[BATCH_KEY] = (seconds if seconds > self.floor else 0.0, 1)
        return out

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
        return None  # only answers in flight can make room

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

    def reserve(self, charges: Mapping[str, tuple[float, int]]) -> None:
        """Count an admitted request's charges as in flight."""
        for name, (seconds, units) in charges.items():
            key = self._key(name)
            key.pending += seconds
            key.pending_units += units
            if key.probe:
                key.probing = True

    async def wait(self, methods: Collection[str]) -> None:
        """Wait until a request carrying ``methods`` fits every key it bills, then reserve it."""
        started: float | None = None
        while True:
            charges = self.charges(methods)
            waits = [self._remaining(name, seconds) for name, (seconds, _) in charges.items()]
            if all(w == 0.0 for w in waits):
                break
            if started is None:
                started = self._clock.monotonic()
            known = [w for w in waits if w is not None and w > 0]
            timeout = max(known) if known else None
            self._changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout)
        if started is not None:
            self.waited += self._clock.monotonic() - started
        self.reserve(charges)

    # -- reports ------------------------------------------------------------------------------

    def settle(self, name: str, timing: Timing | None = None) -> None:
        """One command of key ``name`` finished (``timing``: its ``time`` block, if any).

        For :data:`BATCH_KEY` this is the batch request's envelope.
        """
        key = self._key(name)
        share = key.pending / key.pending_units if key.pending_units > 0 else 0.0
        key.pending_units = max(0, key.pending_units - 1)
        key.pending = key.pending - share if key.pending_units else 0.0
        if key.pending_units == 0:
            key.probing = False
        if timing is not None and timing.finish is not None and not name.startswith(_INNER):
            # A request's own block (not a command inside a batch) ends when the reply is built.
            self._offset = timing.finish - self._clock.monotonic()
        now = self._portal_now()
        if timing is not None and timing.processing is not None and name != BATCH_KEY:
            self._measure(name.removeprefix(_INNER), timing.processing)
        if timing is not None and timing.operating is None and timing.finish is not None:
            key.limited = False  # the portal does not time this key: nothing to mirror
            key.entries.clear()
        elif timing is not None and timing.operating is not None:
            if name == BATCH_KEY and timing.operating > 0:
                self.bans_clear = True  # only the newer accounting bills the batch key
            key.limited = True
            key.shared = timing.operating_reset_at is not None
            answers_probe, key.probe = key.probe, False
            self._reconcile(name, key, timing, now, trust=answers_probe or not key.shared)
        own = share
        if timing is not None and timing.processing is not None:
            # The measured time, when the request is billed: it was estimated over the floor,
            # or this call alone is over it.
            slow = timing.processing > self.floor
            own = timing.processing if share > 0 or slow else 0.0
        if key.limited is not False and key.shared and name != BATCH_KEY and own > 0:
            # Our own charge: in the bucket of the call's start, stored at the latest now.
            began = timing.start if timing is not None and timing.start is not None else now
            self._add(key, self._number(min(began, now)), own, now)
        if not name.startswith(_INNER):
            # Wake waiters once per request (a lone call, or the batch's own block, settled
            # after its commands), not once per command: thousands may be waiting.
            self._changed.set()

    def _reconcile(self, name: str, key: _Key, timing: Timing, now: float, *, trust: bool) -> None:
        """Correct the mirror with a reported sum.

        More than we account for is always added (another client on the credential, a guess
        too low). Less is trusted only from a probe after a refusal (a ban cleared the
        buckets) or from a portal without shared storage: otherwise a report may simply not
        include a request that finished at the portal just before ours (its time is stored
        at the end of its request), and trimming on it would overspend.
        """
        reported = timing.operating or 0.0
        key.reported = reported
        asked = timing.start if timing.start is not None else now
        own = 0.0
        if name == BATCH_KEY:
            # The envelope reports the batch key after this request was stored.
            asked = now
        elif timing.processing is not None and timing.processing > self.floor:
            own = timing.processing  # a slow call is in its own report
        live = self._live(key, now)
        if not key.shared:
            key.entries.clear()  # the portal keeps no sum between requests
            return
        expected = sum(e.seconds for e in live) + own
        if reported > expected + key.pending + self.floor:
            # Count the difference as stored now (it leaves the window last).
            extra = reported - expected - key.pending
            self._add(key, self._number(now), extra, now)
            return
        known = [e for e in live if e.stored_at <= asked]
        expected = sum(e.seconds for e in known) + own
        if trust and reported < expected - self.floor:
            excess = expected - reported
            for entry in sorted(known, key=lambda e: e.bucket):
                cut = min(entry.seconds, excess)
                entry.seconds -= cut
                excess -= cut
                if excess <= 0:
                    break
            key.entries = [e for e in key.entries if e.seconds > 0]

    def _measure(self, method: str, sample: float) -> None:
        cost = self._costs.get(method)
        if cost is None or not cost.measured:
            self._costs[method] = _Cost(sample, measured=True)  # replace the blind guess
        elif sample > cost.seconds:
            cost.seconds = sample  # a cautious running estimate: quick to rise, slow to fall
        else:
            cost.seconds = cost.seconds * 0.9 + sample * 0.1

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
        self._changed.set()
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
