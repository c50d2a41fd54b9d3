"""The mirror of the portal's operating-time accounting: what it has stored per billed key.

This is the bookkeeping half of :class:`~b24async.operating.OperatingBudget` (which adds
admission, waiting and refusals on top): per key, a list of ``(bucket number, seconds, stored
at)`` entries on the portal's clock and the charges of requests in flight; the expected cost of
each method; and :meth:`OperatingMirror.settle`, which takes each command's report and keeps
the mirror true to it. No I/O and no waiting here.

All portal times are turned into local deadlines on the portal's own clock: a bucket's expiry or
a ban's end minus the portal's ``time.finish`` gives a duration, which is added to our monotonic
reading when the response arrived. The two clocks are never compared.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from b24async.clock import SYSTEM_CLOCK, Clock
from b24async.protocol import Timing, wire_float

__all__ = ["BATCH_KEY", "BATCH_WEIGHT", "BUCKETS", "OperatingMirror", "in_batch"]

BATCH_KEY = "batch"
INNER = "batch/"  # the prefix of a method's key inside a batch (see in_batch)
BATCH_WEIGHT = 0.5  # the outer batch is billed half its handler time (2026 server code)
BUCKETS = 10
_BLIND_CALLS = 400  # calls of an unmeasured method admitted against a fresh budget


def in_batch(method: str) -> str:
    """The key name of ``method`` called inside a ``batch`` (see ``OperatingBudget(apart=)``)."""
    return INNER + method


class Entry:
    """What the portal stored for one key in one one-minute bucket."""

    # Plain slotted classes here (Entry, Key, _Cost): an attrs class costs ~0.5 ms at import,
    # and these internal records need nothing it generates.
    __slots__ = ("bucket", "seconds", "stored_at")

    def __init__(self, bucket: int, seconds: float, stored_at: float) -> None:
        self.bucket = bucket  # floor(portal unix time / bucket length)
        self.seconds = seconds
        self.stored_at = stored_at  # portal unix time the portal stored it (at the latest)

    def __repr__(self) -> str:
        return f"Entry({self.bucket}, {self.seconds}, {self.stored_at})"


class Key:
    """One billed key as mirrored: its stored entries, its requests in flight, its hold."""

    __slots__ = (
        "entries",
        "hold_until",
        "limited",
        "pending",
        "pending_units",
        "probe",
        "probing",
        "reported",
        "shared",
    )

    def __init__(self) -> None:
        self.entries: list[Entry] = []  # one per bucket, oldest first
        self.pending = 0.0  # charges of admitted requests not settled yet
        self.pending_units = 0  # their commands (one unit per batch request for the batch key)
        self.hold_until: float | None = None  # local monotonic deadline of a hold after a 429
        self.probe = False  # after a hold: one request learns the new sum first
        self.probing = False
        self.limited: bool | None = None  # False once the portal reports no ``operating``
        self.shared = True  # False when reports carry no ``operating_reset_at`` (no stored sum)
        self.reported = 0.0  # the last ``operating`` reported

    def add(self, bucket: int, seconds: float, stored_at: float) -> None:
        """Add to the entry for ``bucket`` (one entry per bucket, kept in order)."""
        for entry in reversed(self.entries):
            if entry.bucket == bucket:
                entry.seconds += seconds
                entry.stored_at = max(entry.stored_at, stored_at)
                return
            if entry.bucket < bucket:
                break
        self.entries.append(Entry(bucket, seconds, stored_at))
        self.entries.sort(key=lambda e: e.bucket)

    def trim(self, known: list[Entry], excess: float) -> None:
        """Take ``excess`` seconds off the ``known`` entries, oldest first."""
        for entry in sorted(known, key=lambda e: e.bucket):
            cut = min(entry.seconds, excess)
            entry.seconds -= cut
            excess -= cut
            if excess <= 0:
                break
        self.entries = [e for e in self.entries if e.seconds > 0]


#: ``_settle``'s placeholder before its first report (never read or written): typed as a Key
#: without building one per answer.
_NO_KEY = Key()


class _Cost:
    __slots__ = ("measured", "seconds")

    def __init__(self, seconds: float, measured: bool = False) -> None:
        self.seconds = seconds
        self.measured = measured


class OperatingMirror:
    """Per billed key, what the portal has stored and what is in flight (see module docs).

    Args:
        budget: the threshold, seconds per window (its 1/400 is an unmeasured method's cost).
        window: the window, seconds (600: ten one-minute buckets).
        floor: a key's per-request sum billed only above this (0.1 s).
        apart: mirror a method's calls inside batches apart from its direct calls.
        clock: where time is read (monotonic for deadlines, unix before the first report).
    """

    def __init__(
        self,
        budget: float,
        window: float,
        *,
        floor: float | None = None,
        apart: bool = False,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.apart = apart
        self.configured = budget
        self.window = window
        self.bucket_length = window / BUCKETS
        self.floor = window / 6000 if floor is None else floor
        self._clock = clock
        self._keys: dict[str, Key] = {}
        self._costs: dict[str, _Cost] = {}
        self._offset: float | None = None  # portal unix time minus our monotonic reading
        # Whether refusals ban and clear the key (newer portals, told apart by billing ``batch``).
        self.bans_clear = False

    # -- time ---------------------------------------------------------------------------------

    def _portal_now(self) -> float:
        if self._offset is None:
            return self._clock.time()  # no report yet: assume the clocks agree
        return self._clock.monotonic() + self._offset

    def _number(self, portal_time: float) -> int:
        return math.floor(portal_time / self.bucket_length + 1e-9)

    def _live(self, key: Key, portal_time: float) -> list[Entry]:
        oldest = self._number(portal_time) - BUCKETS + 1
        if key.entries and key.entries[0].bucket < oldest:
            key.entries = [e for e in key.entries if e.bucket >= oldest]
        return key.entries

    # -- keys ---------------------------------------------------------------------------------

    def key_name(self, name: str) -> str:
        """The key the portal bills ``name`` to: ``batch/<method>`` is ``<method>`` unless apart.

        A store shared between processes names its entries with this, so a hold published for a
        command inside a batch holds the same key's direct calls wherever the portal shares it.
        """
        if name.startswith(INNER) and not self.apart:
            return name[len(INNER) :]
        return name

    def _key(self, name: str) -> Key:
        name = self.key_name(name)
        key = self._keys.get(name)
        if key is None:
            key = self._keys[name] = Key()
        return key

    def _group(self, name: str) -> list[Key]:
        """The keys whose sums one admission counts: a method's direct and in-batch mirrors."""
        base = name.removeprefix(INNER)
        if base == BATCH_KEY or not self.apart:
            return [self._key(name)]
        return [self._key(base), self._key(INNER + base)]

    # -- estimates ----------------------------------------------------------------------------

    def cost(self, method: str) -> float:
        """Expected handler seconds of one call of ``method`` (cautious until measured)."""
        method = method.removeprefix(INNER)
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

    # -- reports ------------------------------------------------------------------------------

    def reserve(self, charges: Mapping[str, tuple[float, int]]) -> None:
        """Count an admitted request's charges as in flight."""
        for name, (seconds, units) in charges.items():
            key = self._key(name)
            key.pending += seconds
            key.pending_units += units
            if key.probe:
                key.probing = True

    def settle(self, name: str, timing: Timing | None = None) -> None:
        """One command of key ``name`` finished (``timing``: its ``time`` block, if any).

        For :data:`BATCH_KEY` this is the batch request's envelope. One set of rules serves
        one report and a whole answer's (:meth:`settle_all`).
        """
        self._settle(((name, timing),), False)

    def settle_all(self, reports: Iterable[tuple[str, Timing | None]]) -> None:
        """Settle each ``(name, timing)`` in order: the reports of one answer.

        Each report frees its share of what its key has in flight; its ``time`` block (if any)
        teaches the method's cost, the portal clock's offset (a request's own block ends when
        the reply is built) and the key's stored operating time (see :meth:`_settle`); a
        shared key then stores our own charge in the bucket of the call's start.

        The same mirror afterwards as one call per report (``tests/client/test_settle_all.py``
        checks it), for a fraction of the cost (a list read settles ~51 reports per batch
        answer): the clock is read once (the reports arrived together), a run of reports of
        one key looks the key up once, and a report that bills nothing skips the bucket
        arithmetic.
        """
        self._settle(reports, False)

    def settle_wire(self, reports: Iterable[tuple[str, Any]]) -> None:
        """:meth:`settle_all` of the raw ``time`` blocks (:class:`~b24async.protocol.WireTimes`).

        Each block is read as :meth:`Timing.from_wire <b24async.protocol.Timing.from_wire>`
        reads it (a block that is not a mapping is no block), without building the ``Timing``:
        the same mirror afterwards as :meth:`settle_all` of ``reports.timings()``.
        """
        self._settle(reports, True)

    def _settle(self, reports: Iterable[tuple[str, Any]], wire: bool) -> None:
        """The rules, one body for every way in (a subclass overriding one is not re-entered).

        ``wire``: each report carries its raw block rather than a :class:`Timing`.

        A reported ``operating`` sum corrects the mirror. More than we account for is always
        added (another client on the credential, a guess too low). Less is trusted only from a
        probe after a refusal (a ban cleared the buckets) or from a portal without shared
        storage: otherwise a report may simply not include a request that finished at the
        portal just before ours (its time is stored at the end of its request), and trimming
        on it would overspend.
        """
        mono = self._clock.monotonic()
        floor = self.floor
        length = self.bucket_length
        costs = self._costs
        number = math.floor
        aged = oldest = math.nan  # ``oldest`` is the window's first bucket at time ``aged``
        last: str | None = None
        key = _NO_KEY  # (replaced before use: every name differs from None)
        inner = batch = False
        method = ""
        for name, timing in reports:
            if name != last:
                last = name
                key = self._key(name)
                inner = name.startswith(INNER)
                batch = name == BATCH_KEY
                method = name[len(INNER) :] if inner else name
            units = key.pending_units
            if units > 0:
                share = key.pending / units
                units = key.pending_units = units - 1
                key.pending = key.pending - share if units else 0.0
            else:
                share = key.pending = 0.0
            if units == 0:
                key.probing = False
            if timing is None:
                pass
            elif not wire:
                start, finish, processing = timing.start, timing.finish, timing.processing
                operating, reset = timing.operating, timing.operating_reset_at
            elif type(timing) is dict or isinstance(timing, Mapping):
                # (Timing.from_wire's reading of the five numbers used here, inline)
                get = timing.get
                start, finish, processing = get("start"), get("finish"), get("processing")
                operating, reset = get("operating"), get("operating_reset_at")
                if type(start) is not float:
                    start = wire_float(start)
                if type(finish) is not float:
                    finish = wire_float(finish)
                if type(processing) is not float:
                    processing = wire_float(processing)
                if type(operating) is not float:
                    operating = wire_float(operating)
                if type(reset) is not float:
                    reset = wire_float(reset)
            else:
                timing = None  # not a block (from_wire reads None)
            if timing is None:
                if share > 0 and key.limited is not False and key.shared and not batch:
                    now = self._portal_now()
                    key.add(self._number(now), share, now)
                continue
            if finish is not None and not inner:
                self._offset = finish - mono
            offset = self._offset
            now = mono + offset if offset is not None else self._clock.time()
            if processing is not None and not batch:
                cost = costs.get(method)
                if cost is None or not cost.measured:
                    costs[method] = _Cost(processing, measured=True)  # replace the blind guess
                elif processing > cost.seconds:
                    cost.seconds = processing  # a cautious estimate: quick to rise, slow to fall
                else:
                    cost.seconds = cost.seconds * 0.9 + processing * 0.1
            if operating is None:
                if finish is not None:
                    key.limited = False
                    key.entries.clear()
            else:
                if batch and operating > 0:
                    self.bans_clear = True
                key.limited = True
                shared = key.shared = reset is not None
                trust, key.probe = key.probe, False  # a probe's report is trusted
                reported = key.reported = operating or 0.0
                if now != aged:  # (the reports of one answer mostly share their ``now``)
                    aged, oldest = now, number(now / length + 1e-9) - BUCKETS + 1  # (_live)
                entries = key.entries
                if entries and entries[0].bucket < oldest:
                    entries = key.entries = [e for e in entries if e.bucket >= oldest]
                if not shared:
                    entries.clear()  # the portal keeps no sum between requests
                elif reported > floor or trust:
                    # (What is stored, in flight or a slow call's own is never negative: a
                    # sum at or under the floor cannot be more than we account for.)
                    # A slow call is in its own report; the envelope reports the batch key
                    # after this request was stored.
                    slow = 0.0
                    if not batch and processing is not None and processing > floor:
                        slow = processing
                    expected = sum([e.seconds for e in entries]) + slow  # (a list sums faster)
                    if reported > expected + key.pending + floor:
                        # Count the difference as stored now (it leaves the window last).
                        missing = reported - expected - key.pending
                        key.add(number(now / length + 1e-9), missing, now)
                    elif trust:  # (only trims, on a trusted report: rare)
                        asked = now if batch or start is None else start
                        known = [e for e in entries if e.stored_at <= asked]
                        expected = sum([e.seconds for e in known]) + slow
                        if reported < expected - floor:
                            key.trim(known, expected - reported)
            own = share
            if processing is not None:
                own = processing if share > 0 or processing > floor else 0.0
            if own > 0 and key.limited is not False and key.shared and not batch:
                began = start
                if began is None or began > now:
                    began = now
                bucket = number(began / length + 1e-9)  # (_number, inline)
                entries = key.entries
                if entries and entries[-1].bucket == bucket:  # (add's usual case, inline)
                    entry = entries[-1]
                    entry.seconds += own
                    if now > entry.stored_at:
                        entry.stored_at = now
                else:
                    key.add(bucket, own, now)
