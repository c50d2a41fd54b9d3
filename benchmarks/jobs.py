"""The benchmark jobs: what each one asks, on which portal, and its theoretical minimum time.

Every job runs against a fresh ``FakePortal`` in its own process with the standard-plan limits
(2 requests/s, bucket of 50) and the same simulated service time for every client: a network
round trip (``latency``, added to every reply) plus ``processing`` per command (slept by the
portal, command after command inside a ``batch``), so a request carrying ``n`` commands takes
``s(n) = latency + n * processing`` on the portal.

The theoretical minimum (``t_min``) follows from the limits only (see benchmarks/README.md):
the bucket's burst is free, every further request waits for one drain interval (``1/rate`` s),
a request carries at most 50 commands, and the job ends when the reply to the last request
arrives. Phases model a true data dependency: the next phase starts only when the previous
phase's last reply has arrived (bulk read must learn the list's size from its first page).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "JOBS",
    "MAX_COMMANDS",
    "JobSpec",
    "PortalConfig",
    "job_specs",
    "service_time",
    "t_min_requests",
]

MAX_COMMANDS = 50  # commands per batch request (the portal's limit)
RATE = 2.0  # standard plan: the leaky bucket drains 2 requests per second
BURST = 50  # standard plan: the bucket holds 50 requests
LATENCY = 0.030  # simulated network round trip per reply, seconds
PROCESSING = 0.020  # simulated server processing per command, seconds

JOBS = ("fan_in", "bulk_write", "bulk_read", "bulk_read_small", "contention", "op_pressure")
#: The operating-accounting jobs (issue #11): long bulk writes where the operating budget binds.
OP_JOBS = ("op_long", "op_long_legacy", "op_480_vs_420", "op_420_vs_480")


@dataclass(frozen=True)
class PortalConfig:
    """Keyword arguments for ``FakePortal`` (see benchmarks/portal_proc.py)."""

    users: int
    rate: float = RATE
    burst: int = BURST
    latency: float = LATENCY
    processing: float = PROCESSING
    method_processing: dict[str, float] = field(default_factory=dict)
    time_scale: float = 1.0
    operating_budget: float = 420.0
    limiter: str = "2026"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def unit_cost(self, method: str) -> float:
        """Real seconds one command of ``method`` is slept for (the portal scales costs)."""
        return self.method_processing.get(method, self.processing) * self.time_scale


@dataclass(frozen=True)
class JobSpec:
    """One job: its portal, its workload, its theoretical minimum and its caption."""

    name: str
    title: str
    portal: PortalConfig
    commands: int  # commands the job needs at least (the efficiency's denominator side)
    t_min: float  # seconds; see theory
    theory: str  # how t_min was derived, in words and numbers
    params: dict[str, Any] = field(default_factory=dict)  # workload knobs for the worker
    neighbor_rate: float = 0.0  # requests/s a second client sends throughout (contention)
    writes: bool = False  # whether the ledger check applies
    client_budget: float | None = None  # unscaled threshold the clients are told (else portal's)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["portal"] = self.portal.to_json()
        return data


def service_time(commands: int, portal: PortalConfig, method: str = "") -> float:
    """Seconds the portal takes to answer one request carrying ``commands`` commands."""
    return portal.latency + commands * portal.unit_cost(method)


def t_min_requests(
    phases: list[int],
    portal: PortalConfig,
    *,
    method: str = "",
    neighbor_rate: float = 0.0,
) -> tuple[float, int]:
    """Minimum wall time and request count for ``phases`` of commands under the limits.

    Simulates the ideal client: each phase's commands are packed 50 to a request (the partial
    request sent last, since it finishes soonest); a request goes the moment the bucket has room
    (burst free, then one per ``1/(rate - neighbor_rate)`` s); a phase starts when the previous
    phase's last reply has arrived; the job ends with the last reply.
    """
    drain = portal.rate - neighbor_rate
    if drain <= 0:
        raise ValueError("the neighbour takes the whole rate")
    level = 0.0  # the portal bucket's counter
    now = 0.0
    requests = 0
    for commands in phases:
        full, rest = divmod(commands, MAX_COMMANDS)
        sizes = [MAX_COMMANDS] * full + ([rest] if rest else [])
        finish = now
        for size in sizes:
            if level + 1 > portal.burst:
                wait = (level + 1 - portal.burst) / drain
                now += wait
                level -= wait * drain
            level += 1
            requests += 1
            finish = max(finish, now + service_time(size, portal, method))
        # the next phase starts when this one's last reply is in; the bucket drains meanwhile
        level = max(0.0, level - (finish - now) * drain)
        now = finish
    return now, requests


def _week(anchor: dt.date | None = None) -> tuple[str, str]:
    """This week's Monday..Sunday, the seeded calendar's anchor week (ISO dates)."""
    today = anchor or dt.date.today()
    monday = today - dt.timedelta(days=today.weekday())
    return monday.isoformat(), (monday + dt.timedelta(days=6)).isoformat()


def _fan_in(n: int) -> JobSpec:
    portal = PortalConfig(users=n)
    per_command = 50  # users per calendar.accessibility.get command (assumption, see README)
    commands = math.ceil(n / per_command)
    t, requests = t_min_requests([commands], portal)
    start, end = _week()
    return JobSpec(
        name="fan_in",
        title=f"fan-in: {n:,} coroutines ask one user's week each",
        portal=portal,
        commands=commands,
        t_min=t,
        theory=(
            f"{n:,} users at <= {per_command} users per calendar.accessibility.get command = "
            f"{commands} commands = {requests} request(s), all within the burst: "
            f"t_min = s({min(commands, MAX_COMMANDS)}) = {t:.2f} s"
        ),
        params={"users": n, "from": start, "to": end},
    )


def _bulk_write(n: int, *, neighbor_rate: float = 0.0) -> JobSpec:
    portal = PortalConfig(users=n + 1)  # user 1 is the admin the webhook acts as
    t, requests = t_min_requests([n], portal, neighbor_rate=neighbor_rate)
    drain = portal.rate - neighbor_rate
    after = max(0, requests - portal.burst)
    contention = neighbor_rate > 0
    name = "contention" if contention else "bulk_write"
    title = (
        f"contention: {n:,} user.update while another client sends {neighbor_rate:g} req/s"
        if contention
        else f"bulk write: {n:,} user.update ACTIVE changes"
    )
    return JobSpec(
        name=name,
        title=title,
        portal=portal,
        commands=n,
        t_min=t,
        theory=(
            f"{n:,} commands = {requests} requests; burst {portal.burst} free, then {after} at "
            f"{drain:g}/s{' (the half of the bucket left to us)' if contention else ''} = "
            f"{after / drain:.1f} s, plus the last reply s(50) = "
            f"{service_time(MAX_COMMANDS, portal):.2f} s: t_min = {t:.2f} s"
        ),
        params={"writes": n},
        neighbor_rate=neighbor_rate,
        writes=True,
    )


def _bulk_read(n: int, *, name: str = "bulk_read") -> JobSpec:
    portal = PortalConfig(users=n)
    pages = math.ceil(n / 50)
    t, requests = t_min_requests([1, pages - 1], portal)
    return JobSpec(
        name=name,
        title=f"bulk read: all users of a {n:,}-user portal",
        portal=portal,
        commands=pages,
        t_min=t,
        theory=(
            f"{pages} user.get pages of 50; the first page must come back first (it tells the "
            f"total): s(1) = {service_time(1, portal):.2f} s; the other {pages - 1} pages fit "
            f"{requests - 1} request(s) within the burst, in parallel: + "
            f"{t - service_time(1, portal):.2f} s; t_min = {t:.2f} s (a keyset walk "
            f"chains its batches: {requests - 1} x s(50) = "
            f"{(requests - 1) * service_time(MAX_COMMANDS, portal):.1f} s, which is a client "
            f"choice, not a limit)"
        ),
        params={"users": n},
    )


def _op_pressure(n: int, *, time_scale: float, cost: float) -> JobSpec:
    """user.update is made expensive so that its operating budget runs out mid-job."""
    portal = PortalConfig(
        users=n + 1,
        time_scale=time_scale,
        method_processing={"user.update": cost},
        operating_budget=480.0,  # as in the first runs (the op_long jobs use 420)
    )
    budget = portal.operating_budget * time_scale  # real seconds per window
    window = 600.0 * time_scale
    unit = portal.unit_cost("user.update")
    total = n * unit
    windows = math.ceil(total / budget)
    rate_bound, _ = t_min_requests([n], portal, method="user.update")
    op_bound = (windows - 1) * window + service_time(MAX_COMMANDS, portal, "user.update")
    t = max(rate_bound, op_bound)
    return JobSpec(
        name="op_pressure",
        title=(
            f"operating pressure: {n:,} user.update at {unit * 1000:.0f} ms each, "
            f"budget {budget:g} s per {window:g} s"
        ),
        portal=portal,
        commands=n,
        t_min=t,
        theory=(
            f"time_scale {time_scale:g}: window {window:g} s, budget {budget:g} s of "
            f"user.update per window; {n:,} x {unit * 1000:.0f} ms = {total:g} s of operating "
            f"needs {windows} windows: the best schedule spends a whole budget at once, waits "
            f"for the window to roll ({windows - 1} x {window:g} s), then runs the rest in "
            f"parallel (s(50) = {service_time(MAX_COMMANDS, portal, 'user.update'):.2f} s): "
            f"{op_bound:.2f} s; the rate bound alone is {rate_bound:.2f} s; t_min = {t:.2f} s "
            f"(a lower bound)"
        ),
        params={
            "writes": n,
            "probe_method": "server.time",
            "probe_interval": 1.0,
            "baseline_probes": 5,
        },
        writes=True,
    )


def op_long_bound(
    n: int, portal: PortalConfig, method: str = "user.update"
) -> tuple[float, dict[str, float]]:
    """Lower bound of a long single-method bulk write under both limits (benchmarks/README.md).

    With H = n x c seconds of handler time (c scaled), T the threshold and W the window (both
    scaled), L = W/10 a bucket and R_b = rate x 50 x c the billed seconds per second at full
    request speed: time spent in one window can be spent again only once its one-minute bucket
    has left, at the earliest W - L later. So with k = ceil(H/T) - 1 windows' worth spent
    before the last, t_op >= k (W - L) + (H - k T) / R_b. The request bucket alone gives
    t_rate (burst free, then 1/rate s per request). t_min = max(t_op, t_rate) + s(50).
    """
    c = portal.unit_cost(method)
    total = n * c
    budget = portal.operating_budget * portal.time_scale
    window = 600.0 * portal.time_scale
    bucket = window / 10
    billed_rate = portal.rate * MAX_COMMANDS * c
    k = max(0, math.ceil(total / budget) - 1)
    t_op = k * (window - bucket) + (total - k * budget) / billed_rate if k else 0.0
    t_rate, _ = t_min_requests([n], portal, method=method)
    tail = service_time(MAX_COMMANDS, portal, method)
    t = max(t_op + tail, t_rate)
    return t, {
        "H": total,
        "T": budget,
        "W": window,
        "L": bucket,
        "R_b": billed_rate,
        "k": k,
        "t_op": t_op,
        "t_rate": t_rate,
    }


def _op_long(
    n: int,
    *,
    name: str,
    time_scale: float,
    limiter: str = "2026",
    portal_budget: float = 420.0,
    client_budget: float | None = None,
) -> JobSpec:
    """A long bulk write where the operating budget, not the bucket, is the ceiling.

    Everything is time-scaled together (the operating window, budget and costs by the portal,
    the bucket's drain here), so the run is the real-world job played ``1/time_scale`` times
    faster: at scale 0.1, 40,000 writes of 20 ms against 420 s per 600 s take about 80 s.
    """
    portal = PortalConfig(
        users=n + 1,
        rate=RATE / time_scale,
        time_scale=time_scale,
        operating_budget=portal_budget,
        limiter=limiter,
        method_processing={"user.update": PROCESSING},
    )
    t, f = op_long_bound(n, portal)
    told = client_budget if client_budget is not None else portal_budget
    return JobSpec(
        name=name,
        title=(
            f"{name}: {n:,} user.update at 20 ms, limiter {limiter!r}, portal threshold "
            f"{portal_budget:g} s, clients told {told:g} s (time_scale {time_scale:g})"
        ),
        portal=portal,
        commands=n,
        t_min=t,
        theory=(
            f"everything x{time_scale:g}: rate {portal.rate:g} req/s, window W = {f['W']:g} s, "
            f"bucket L = {f['L']:g} s, threshold T = {f['T']:g} s, c = "
            f"{portal.unit_cost('user.update') * 1000:g} ms; H = {f['H']:g} s of handler time; "
            f"R_b = rate x 50 x c = {f['R_b']:g} s/s; k = ceil(H/T) - 1 = {f['k']}; t_op = "
            f"k (W - L) + (H - k T) / R_b = {f['t_op']:.1f} s; t_rate = {f['t_rate']:.1f} s; "
            f"t_min = max(t_op + s(50), t_rate) = {t:.1f} s (a lower bound; the batch key, "
            f"billed H/2 = {f['H'] / 2:g} s, does not bind)"
        ),
        params={"writes": n},
        writes=True,
        client_budget=client_budget,
    )


def op_job_specs(quick: bool) -> dict[str, JobSpec]:
    """The operating-accounting jobs (``--jobs op_long,...``); quick runs a 4x faster world."""
    n, scale = (40_000, 0.2) if quick else (40_000, 0.1)
    specs = [
        _op_long(n, name="op_long", time_scale=scale),
        _op_long(n, name="op_long_legacy", time_scale=scale, limiter="legacy"),
        _op_long(n, name="op_480_vs_420", time_scale=scale, client_budget=480.0),
        _op_long(
            n, name="op_420_vs_480", time_scale=scale, portal_budget=480.0, client_budget=420.0
        ),
    ]
    return {spec.name: spec for spec in specs}


def job_specs(quick: bool) -> dict[str, JobSpec]:
    """Every job at full or quick size."""
    if quick:
        specs = [
            _fan_in(500),
            _bulk_write(3_000),
            _bulk_read(10_000),
            _bulk_read(2_000, name="bulk_read_small"),
            _bulk_write(3_000, neighbor_rate=1.0),
            _op_pressure(1_500, time_scale=0.02, cost=0.5),
        ]
    else:
        specs = [
            _fan_in(5_000),
            _bulk_write(10_000),
            _bulk_read(50_000),
            _bulk_read(10_000, name="bulk_read_small"),
            _bulk_write(10_000, neighbor_rate=1.0),
            _op_pressure(4_000, time_scale=0.05, cost=0.2),
        ]
    return {spec.name: spec for spec in specs} | op_job_specs(quick)
