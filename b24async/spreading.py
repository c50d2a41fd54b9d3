"""Spreading a large lone read over staggered concurrent requests (a pure plan, no I/O).

The portal runs a request's commands one after another (one PHP worker per request), and runs
requests side by side. The client decodes answers one at a time. A lone read of ``N`` commands
sent as one request therefore costs ``N * server`` on the portal, then ``N * decode`` here, in
turn. Cut into parts sent together, each part's answer arrives ``its size * server`` after the
send, and is decoded while the larger parts are still being built.

**The model.** Parts of ``n_1 <= ... <= n_k`` commands, sent together, answer in that order
(``latency + n_i * server`` after the send) and are decoded in turn, so the read ends at
``latency + max_i(n_i * server + decode * (n_i + ... + n_k))`` (:func:`model_wall`). That is
least when every term is equal: each part ``1 + r`` times the one before, with
``r = decode / server``. With a cheap decode (``r`` small) the parts come out nearly equal and
the portal's ``N * server`` is shared ``k`` ways; with a costly one, small first parts let the
decode start early and the last, largest part is built while the others are decoded. Two
equal halves (this client's earlier rule) leave ``N/2 * server`` unshared and the whole decode
after it. On the FakePortal's 2,000-user availability job (40 commands, 5 ms each, ~6.5 ms of
decode each) the model gives 0.39 s for two halves (0.40 s measured), 0.305 s for the first
call's 8 parts (:data:`PRIOR_RATIO`) and 0.295 s once the decode is measured.

**What is known.** The plan takes the client's measurements (:class:`Costs`, kept per method
by :class:`CostLog`): each command's ``time`` block gives the portal's seconds, and the client's
CPU from sending a planned read to its last delivery gives its own (a :class:`Reading`). Until
a method has been measured it assumes :data:`PRIOR_RATIO`: in the model, guessing the decode
too cheap costs a few percent, too dear much more (tiny first parts, one large last part built
alone), so the prior sits low. For the same reason a CPU measure that misses a serial stage
(a slow link's transfer time) errs on the cheap side.

**Bounds.** A spread spends extra requests of the portal's bucket (2 per second, 50 at once on
standard plans) and extra PHP workers for one call, so it happens only when the client is idle
(nothing queued, nothing in flight: a fan-in that fills whole batches keeps its fewest
requests), only for reads (the gain is the overlap of a large answer's decode, which a write
does not have, while each extra write request is one more whose outcome may be lost), only from
:data:`SPREAD_MIN` commands, using at most half of the bucket's free room and never more than
:data:`MAX_PARTS` requests. Each request also costs the client CPU of its own (building it,
reading its envelope, settling its futures: :data:`REQUEST_CPU`), paid on the thread that
decodes; once a method's costs are measured, the model charges every part for it and the read
goes in the number of parts the model finds fastest, so parts that cost more than they overlap
are left out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import attrs

__all__ = [
    "MAX_PARTS",
    "PRIOR_RATIO",
    "REQUEST_CPU",
    "SPREAD_MIN",
    "CostLog",
    "Costs",
    "Reading",
    "model_wall",
    "plan_spread",
]

#: A lone read of fewer commands goes as one request: a smaller read costs the portal too
#: little time (under 0.2 s at 5 ms a command) for more requests to be worth their slots.
SPREAD_MIN = 40
#: The most requests one read is spread over. In the model, 16 parts do no better than 8 once
#: the decode costs half the portal's time or more, and ~5 % better at 0.3. Only a slow portal
#: with a cheap decode keeps gaining from more parts (its work shared ``k`` ways), and there
#: each part holds one more PHP worker for one call: 8 is 16 % of a standard burst.
MAX_PARTS = 8
#: ``decode / server`` assumed until both are measured for a method. In the model (8 parts,
#: 40-50 commands) the best plan for the true ratio beats this guess's by at most 14 % for true
#: ratios 0.02-3, and by at most 8 % from 0.3; guesses of 0.2 and 0.25 lose up to 30 and 37 %
#: (a high guess makes tiny first parts and one large last part built alone).
PRIOR_RATIO = 0.1
#: The client's CPU seconds per request beyond decoding its commands (building and sending it,
#: reading its answer's envelope, settling its futures): each part pays it once, on the same
#: thread as the decode. Measured on the 2-core benchmark machine, ~2-3 ms per extra part of the
#: 2,000-user read (``benchmarks/spread.py``: client CPU of the planned reads against one
#: request, over the extra requests). A constant, not a measurement: it cannot be told apart
#: from the decode in one read's CPU, and it only decides how many parts pay for themselves.
REQUEST_CPU = 0.002
_RATIO_RANGE = (0.02, 5.0)  # measured ratios are clipped here: one odd sample stays harmless
_MAX_COMMANDS = 50  # commands in one batch request (the portal's limit)


@attrs.frozen
class Costs:
    """What is known of one read's costs per command; ``None`` where nothing is measured yet.

    Attributes:
        server: the portal's seconds per command (each command's ``time`` block:
            ``duration``).
        decode: the client's seconds per command (CPU from sending to the last delivery,
            less :attr:`request` per request).
        request: the client's seconds per request beyond its commands (:data:`REQUEST_CPU`).
    """

    server: float | None = None
    decode: float | None = None
    request: float = REQUEST_CPU

    @property
    def ratio(self) -> float:
        """``decode / server``, clipped to a sane range; :data:`PRIOR_RATIO` until measured."""
        if self.server is None or self.decode is None or self.server <= 0:
            return PRIOR_RATIO
        low, high = _RATIO_RANGE
        return min(max(self.decode / self.server, low), high)


def plan_spread(
    commands: int,
    *,
    idle: bool,
    reads: bool,
    room: float | None,
    costs: Costs = Costs(),
) -> tuple[int, ...]:
    """The sizes of the requests a lone read of ``commands`` commands goes in, smallest first.

    Args:
        commands: wire commands the read needs (at most 50: one batch's worth).
        idle: nothing else is queued or in flight.
        reads: every command only reads (and may be sent again); a write is never spread.
        room: requests the throttle would let go at once now (bucket and in-flight slots);
            ``None`` when the throttle cannot tell, which allows two parts.
        costs: what is known of the portal's and our time per command.

    Returns ``(commands,)`` (one request) unless every condition of the module docs holds;
    otherwise up to :data:`MAX_PARTS` sizes that sum to ``commands``, each growing ``1 + r``
    times over the one before (rounded; parts that round to nothing are left out). Once both
    costs are measured, the number of parts is the one :func:`model_wall` finds fastest, each
    part paying ``costs.request`` too: no more parts than pay for themselves.
    """
    if commands < 1:
        raise ValueError(f"a read has at least one command, got {commands}")
    if commands > _MAX_COMMANDS:
        raise ValueError(f"one batch holds at most {_MAX_COMMANDS} commands, got {commands}")
    if not idle or not reads or commands < SPREAD_MIN:
        return (commands,)
    allowed = 2 if room is None else math.floor(room / 2)  # at most half of what is free
    parts = min(MAX_PARTS, allowed, commands)
    if parts < 2:
        return (commands,)
    growth = 1.0 + costs.ratio
    server, decode = costs.server, costs.decode
    if server is None or decode is None or server <= 0 or not costs.request > 0:
        return _geometric(commands, parts, growth)  # the prior: no scale to weigh requests by
    decode = server * costs.ratio  # as clipped
    best: tuple[int, ...] = (commands,)
    best_wall = model_wall(best, server=server, decode=decode, request=costs.request)
    for count in range(2, parts + 1):  # the fewest parts on a tie
        sizes = _geometric(commands, count, growth)
        wall = model_wall(sizes, server=server, decode=decode, request=costs.request)
        if wall < best_wall:
            best, best_wall = sizes, wall
    return best


def _geometric(total: int, parts: int, growth: float) -> tuple[int, ...]:
    """``total`` cut into ``parts`` sizes growing by ``growth``, rounded by largest remainder."""
    weights = [growth**i for i in range(parts)]
    scale = total / sum(weights)
    exact = [w * scale for w in weights]
    sizes = [math.floor(x) for x in exact]
    # Ties go to the later (larger) part, so the sizes stay in ascending order.
    order = sorted(range(parts), key=lambda i: (exact[i] - sizes[i], i), reverse=True)
    for i in order[: total - sum(sizes)]:
        sizes[i] += 1
    return tuple(sorted(size for size in sizes if size > 0))


def model_wall(
    sizes: Sequence[int],
    *,
    server: float,
    decode: float,
    latency: float = 0.0,
    request: float = 0.0,
) -> float:
    """The model's seconds from sending to the last part decoded (see the module docs).

    Parts are sent together; part ``i`` answers ``latency + size * server`` later, and answers
    are decoded one at a time in the order they arrive, each taking ``size * decode`` plus
    ``request`` (the client's own cost per request). For estimates and tests, not timing.
    """
    done = 0.0
    for size in sorted(sizes):
        done = max(done, latency + size * server) + size * decode + request
    return done


@attrs.define
class CostLog:
    """Per-method running estimates of :class:`Costs`, fed by what the client measures.

    Each sample weighs ``weight`` against the estimate so far (the first replaces the unknown):
    a client adapts within a job or two when the decode gets cheaper or the portal slower.
    ``request`` is the client's CPU per request (:data:`REQUEST_CPU`): a :class:`Reading` takes
    it off the decode it measured, once per request, and :meth:`costs` carries it to the plan.
    """

    weight: float = 0.5
    request: float = REQUEST_CPU
    _server: dict[str, float] = attrs.field(factory=dict, init=False)
    _decode: dict[str, float] = attrs.field(factory=dict, init=False)

    def costs(self, method: str) -> Costs:
        """What is known of ``method``'s costs per command."""
        return Costs(self._server.get(method), self._decode.get(method), self.request)

    def record(
        self, method: str, commands: int, *, server: float | None, decode: float | None
    ) -> None:
        """A read of ``commands`` commands took the portal ``server`` s and us ``decode`` s."""
        if commands < 1:
            return
        for table, seconds in ((self._server, server), (self._decode, decode)):
            if seconds is None or not seconds >= 0 or math.isinf(seconds):
                continue
            sample = seconds / commands
            old = table.get(method)
            table[method] = sample if old is None else old + self.weight * (sample - old)


@attrs.define(eq=False)
class Reading:
    """One planned read, measured command by command as its answers are delivered.

    The coalescer reports each command as its callers get it (:meth:`delivered`), or a command
    that did not deliver (:meth:`failed`: an error, a retry, a hold, a close). When the last
    command is delivered, before any caller runs again, the read's costs go to the log: the
    next read (maybe the caller's very next line) is planned on them.

    Attributes:
        method: the read's one method (``None`` when it mixes methods: nothing is recorded).
        commands: its commands, over all parts.
        started: the client's CPU clock when it was sent.
        server: the portal's seconds so far, summed from each command's ``time`` block
            (``None`` once a command came without one).
        done: commands delivered so far.
        failed: a command did not deliver: the sample would mislead.
        requests: the requests the read went in (each costs the log's ``request`` of CPU,
            not counted as decode).
    """

    method: str | None
    commands: int
    started: float
    server: float | None = 0.0
    done: int = 0
    failed: bool = False
    requests: int = 1

    def delivered(self, server: float | None) -> bool:
        """A command reached its callers (``server``: its ``duration``); True for the last."""
        self.done += 1
        if server is None or self.server is None:
            self.server = None
        else:
            self.server += server
        return self.done == self.commands

    def record(self, log: CostLog, cpu_now: float) -> None:
        """Add this read's costs to ``log`` (when every command delivered, nothing failed)."""
        if self.done == self.commands and not self.failed and self.method is not None:
            decode = max(0.0, cpu_now - self.started - self.requests * log.request)
            log.record(self.method, self.commands, server=self.server, decode=decode)
