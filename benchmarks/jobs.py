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
    operating_budget: float = 480.0

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
    return {spec.name: spec for spec in specs}
