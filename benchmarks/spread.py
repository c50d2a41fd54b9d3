"""The spreading plan on the 2,000-user availability read: plans side by side, one process.

Usage::

    python benchmarks/spread.py                    # 2,000 users, 4 weeks, 5 rounds
    python benchmarks/spread.py --users 2000 --rounds 7 --processing 0.005

One FakePortal in its own process (``profile_speed.warmed_portal``: 30 ms round trip,
``--processing`` s per command, warmed for the window). Each round reads all users once with
every plan, in turn, each in a fresh client, so the rounds see the same machine load:

* ``whole``: one request of 40 commands;
* ``halves``: two equal concurrent requests (the rule before the plan);
* ``plan``: the plan on a first read (nothing measured: the prior);
* ``measured``: the plan on a client's second read (planned on what its first read measured);
* ``plan@2MiB`` and ``measured@2MiB``: the same, with answers under 2 MiB decoded whole
  (``batchstream.TEXT_MIN_BYTES`` out of reach: msgspec reads only the parts of 2 MiB and
  more, as before the small parts were walked for their text);
* ``measured@free``: ``measured`` with no CPU charged per request (``CostLog.request`` 0: as
  before the plan counted it).

Printed per plan: the median wall and client CPU (``time.process_time``) of the read, and the
wall as a ratio to ``halves`` in the same round (median over rounds). Also the model's wall
(:func:`b24async.spreading.model_wall`) for each plan, with the decode per command measured
here (the ``whole`` read's CPU over its commands) and the portal's ``--processing``. Runs are
4.5 s apart so the portal's bucket (2 per second) never refuses. Wall times on a shared machine
are noisy: compare the ratios, and run it on a quiet machine for numbers to quote.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from profile_speed import warmed_portal

from b24async import Bitrix24, batchstream, coalesce, jsonio
from b24async.methods import GetAccessibility
from b24async.spreading import model_wall, plan_spread

PLANS = ("whole", "halves", "plan", "measured", "plan@2MiB", "measured@2MiB", "measured@free")
LATENCY = 0.03


def _fixed(rule: Callable[[int], tuple[int, ...]]) -> Callable[..., tuple[int, ...]]:
    def plan(commands: int, **_: Any) -> tuple[int, ...]:
        return rule(commands)

    return plan


FIXED = {
    "whole": _fixed(lambda n: (n,)),
    "halves": _fixed(lambda n: ((n + 1) // 2, n // 2)),
}


async def read(url: str, users: int, start: dt.date, end: dt.date, plan: str) -> dict[str, Any]:
    """One timed read of every user with ``plan``; its wall, CPU, requests and part sizes."""
    query = GetAccessibility(users=range(1, users + 1), start=start, end=end)
    sizes: list[tuple[int, ...]] = []
    text_min = batchstream.TEXT_MIN_BYTES
    if plan.endswith("@2MiB"):
        plan = plan.removesuffix("@2MiB")
        batchstream.TEXT_MIN_BYTES = 1 << 60
    free = plan.endswith("@free")
    plan = plan.removesuffix("@free")

    def recorded(commands: int, **kwargs: Any) -> tuple[int, ...]:
        rule = FIXED.get(plan, plan_spread)
        sized = rule(commands, **kwargs)
        sizes.append(sized)
        return sized

    coalesce.plan_spread = recorded  # type: ignore[assignment]  # this process only
    try:
        async with Bitrix24(url) as b24:
            if free and b24._coalescer is not None:
                b24._coalescer.costs.request = 0.0
            if plan == "measured":
                await b24(query)  # learn the costs
                sizes.clear()
                before = b24.stats.requests
            else:
                before = 0
            cpu, wall = time.process_time(), time.perf_counter()
            result = await b24(query)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            intervals = sum(len(v) for v in result.values())
            return {
                "wall": wall,
                "cpu": cpu,
                "requests": b24.stats.requests - before,
                "sizes": sizes[-1] if sizes else (-(-users // 50),),  # < 40 commands: unplanned
                "intervals": intervals,
            }
    finally:
        coalesce.plan_spread = plan_spread  # type: ignore[assignment]
        batchstream.TEXT_MIN_BYTES = text_min


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--processing", type=float, default=0.005)
    args = parser.parse_args()
    runs: dict[str, list[dict[str, Any]]] = {plan: [] for plan in PLANS}
    with warmed_portal(args.users, args.processing, args.days) as (url, start, end):
        for _ in range(args.rounds):
            for plan in PLANS:
                time.sleep(4.5)  # the portal's bucket drains what the last read took
                runs[plan].append(asyncio.run(read(url, args.users, start, end, plan)))
    report(runs, args)
    return 0


def report(runs: dict[str, list[dict[str, Any]]], args: argparse.Namespace) -> None:
    whole = runs["whole"]
    commands = sum(whole[0]["sizes"])
    decode = statistics.median(r["cpu"] for r in whole) / commands
    print(
        f"availability {args.users} users, {args.days} days, JSON {jsonio.BACKEND}: "
        f"{whole[0]['intervals']:,} intervals, {commands} commands, {args.rounds} rounds; "
        f"decode {decode * 1e3:.2f} ms/command (whole read's CPU), "
        f"portal {args.processing * 1e3:.1f} ms/command"
    )
    print("plan           parts                         wall s   CPU s   wall/halves  model s")
    for plan, got in runs.items():
        ratios = [r["wall"] / h["wall"] for r, h in zip(got, runs["halves"], strict=True)]
        sizes = got[-1]["sizes"]
        model = model_wall(sizes, server=args.processing, decode=decode, latency=LATENCY)
        print(
            f"{plan:14} {','.join(map(str, sizes)):29} "
            f"{statistics.median(r['wall'] for r in got):6.3f}  "
            f"{statistics.median(r['cpu'] for r in got):6.3f}  "
            f"{statistics.median(ratios):10.2f}  {model:7.3f}"
        )
    for plan, other in (("plan", "@2MiB"), ("measured", "@2MiB"), ("measured", "@free")):
        new, old = runs[plan], runs[plan + other]
        walls = [a["wall"] / b["wall"] for a, b in zip(new, old, strict=True)]
        cpus = [a["cpu"] / b["cpu"] for a, b in zip(new, old, strict=True)]
        print(
            f"{plan} / {plan}{other}: wall {statistics.median(walls):.2f}, "
            f"CPU {statistics.median(cpus):.2f} (medians of the rounds' ratios)"
        )
    for plan, got in runs.items():  # each round, for the noise
        walls = " ".join(f"{r['wall']:.3f}" for r in got)
        cpus = " ".join(f"{r['cpu']:.3f}" for r in got)
        print(f"{plan:14} wall {walls}   CPU {cpus}")


if __name__ == "__main__":
    sys.exit(main())
