"""The FakePortal's own CPU per answer (issue #15, the portal lever).

Usage::

    python benchmarks/portal_cpu.py                    # every case, best of 5
    python benchmarks/portal_cpu.py --rounds 9 --cases availability
    python benchmarks/portal_cpu.py --cprofile availability_warm   # top functions of one case
    python benchmarks/portal_cpu.py --json results/portal_cpu.json

The benchmark jobs run clients against a FakePortal in one Python process; whatever CPU that
process spends building and encoding an answer is serial time a real portal does not have in
this form (its server time is modelled by ``processing`` seconds per command). This script
serves one FakePortal in-process (no processing time, no latency, no limits in the way), sends
each case's HTTP request as the b24async client does (a JSON body) and measures the portal's
CPU (``time.process_time``) around its request handler, from the parsed route to the encoded
body. Best of N rounds: the machine is shared, so wall time means nothing here.

Cases (a *warm* case asks again what was asked before, as ``benchmarks/speed.py`` does after
its warm-up; a *cold* case asks a window nobody asked before, the calendars already generated:
its first round prints every entry, later rounds shift the window by a day, so most entries
were printed before, for another window):

* ``availability_cold``/``_warm``: one batch of 40 ``calendar.accessibility.get`` commands of
  50 users over 28 days (2,000 users, ~54,000 entries), as the availability job sends it;
* ``fan_in_cold``/``_warm``: one batch of 50 commands of 50 users over 7 days (half of the
  5,000-user fan-in);
* ``user_get``: one batch of 50 ``user.get`` pages (``start`` = 0, 50, ...) of a 50,000-user
  portal, as ``list_all`` reads it;
* ``user_update``: one batch of 50 ``user.update`` writes (the bulk-write job's request);
* ``direct_availability``: one direct ``calendar.accessibility.get`` of 500 users, 7 days.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import json
import pstats
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # this checkout's b24async, not an installed one

from b24async.protocol import build_query  # noqa: E402
from b24async.testing import FakePortal  # noqa: E402

ANCHOR = dt.date(2026, 11, 23)  # a Monday: every run reads the same seeded data
_JSON = {"Content-Type": "application/json"}


def _availability_batch(users: int, per_command: int, days: int, offset_days: int) -> Any:
    first = ANCHOR + dt.timedelta(days=offset_days)
    last = first + dt.timedelta(days=days - 1)
    cmd = {}
    for position, low in enumerate(range(1, users + 1, per_command)):
        ids = list(range(low, min(low + per_command, users + 1)))
        params = {"users": ids, "from": first.isoformat(), "to": last.isoformat()}
        cmd[f"c{position}"] = "calendar.accessibility.get?" + build_query(params)
    return {"halt": 0, "cmd": cmd}


def _user_pages(first_start: int) -> Any:
    cmd = {f"p{s}": f"user.get?start={s}" for s in range(first_start, first_start + 2500, 50)}
    return {"halt": 0, "cmd": cmd}


def _user_updates(round_: int) -> Any:
    """50 writes (``bulk_write``'s commands): users ``2 + 50 * round ..``, ``ACTIVE=N``."""
    first = 2 + 50 * round_
    cmd = {
        f"u{user}": "user.update?" + build_query({"ID": user, "ACTIVE": "N"})
        for user in range(first, first + 50)
    }
    return {"halt": 0, "cmd": cmd}


class Case:
    """One request, asked ``rounds`` times; ``cold`` makes each round's request new."""

    def __init__(
        self, name: str, users: int, method: str, body: Callable[[int], Any], *, cold: bool
    ) -> None:
        self.name, self.users, self.method, self.body, self.cold = name, users, method, body, cold


def _cases() -> list[Case]:
    # Cold rounds shift the window by one day each (the calendars are generated up front for
    # days -28..+35, so only the answer is new); warm rounds repeat the window of round 0.
    batch = _availability_batch
    return [
        Case("availability_cold", 2000, "batch", lambda r: batch(2000, 50, 28, r - 7), cold=True),
        Case("availability_warm", 2000, "batch", lambda r: batch(2000, 50, 28, 0), cold=False),
        Case("fan_in_cold", 5000, "batch", lambda r: batch(2500, 50, 7, r), cold=True),
        Case("fan_in_warm", 5000, "batch", lambda r: batch(2500, 50, 7, 0), cold=False),
        Case("user_get", 50000, "batch", lambda r: _user_pages(10000), cold=False),
        Case("user_update", 3000, "batch", _user_updates, cold=True),
        Case(
            "direct_availability",
            500,
            "calendar.accessibility.get",
            lambda r: {
                "users": list(range(1, 501)),
                "from": ANCHOR.isoformat(),
                "to": (ANCHOR + dt.timedelta(days=6)).isoformat(),
            },
            cold=False,
        ),
    ]


class _Meter:
    """Wraps the portal's request handler: process time and body size of each request."""

    def __init__(self, portal: FakePortal) -> None:
        server = portal._server  # the benchmark's one reach inside: the handler to time
        inner: Callable[[Any], Awaitable[Any]] = server._serve
        self.samples: list[tuple[float, int]] = []
        self.profile: cProfile.Profile | None = None

        async def timed(request: Any) -> Any:
            if self.profile is not None:
                self.profile.enable()
            began = time.process_time()
            reply = await inner(request)
            spent = time.process_time() - began
            if self.profile is not None:
                self.profile.disable()
            self.samples.append((spent, len(reply.body)))
            return reply

        server._serve = timed  # type: ignore[method-assign]


def _warm(portal: FakePortal, users: int) -> None:
    """Generate the lazily built calendars of days -35..+42 (every case's window).

    Straight through the state, not through a request: nothing gets printed or cached by
    the handler, so the first round of a cold case prints every entry.
    """
    first, last = ANCHOR - dt.timedelta(days=35), ANCHOR + dt.timedelta(days=42)
    for user in range(1, users + 1):
        portal.state.events_of(user, first, last)


async def run_case(case: Case, rounds: int, *, profile: bool) -> dict[str, Any]:
    """Best-of-``rounds`` portal CPU of one case."""
    portal = FakePortal(users=case.users, anchor=ANCHOR, rate=1e6, burst=10**9)
    async with portal, aiohttp.ClientSession() as session:
        url = portal.webhook_url
        if "availability" in case.name or "fan_in" in case.name:
            _warm(portal, case.users)
        meter = _Meter(portal)
        if not case.cold:  # the warm-up request of a warm case is not measured
            async with session.post(url + case.method, json=case.body(0)) as reply:
                await reply.read()
            meter.samples.clear()
        if profile:
            meter.profile = cProfile.Profile()
        for round_ in range(rounds):
            async with session.post(url + case.method, json=case.body(round_)) as reply:
                body = await reply.read()
                assert reply.status == 200, body[:300]
                assert b'"result_error":[]' in body or case.method != "batch", body[-300:]
    best = min(spent for spent, _size in meter.samples)
    result = {
        "case": case.name,
        "best_cpu_s": round(best, 4),
        "first_cpu_s": round(meter.samples[0][0], 4),
        "cpu_s": [round(spent, 4) for spent, _size in meter.samples],
        "body_bytes": meter.samples[-1][1],
    }
    if meter.profile is not None:
        stats = pstats.Stats(meter.profile)
        stats.sort_stats("tottime").print_stats(25)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cases", default="", help="comma-separated case names (default: all)")
    parser.add_argument("--cprofile", metavar="CASE", default="", help="profile this case")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    chosen = {name for name in args.cases.split(",") if name}
    if args.cprofile:
        chosen = {args.cprofile}
    results = []
    for case in _cases():
        if chosen and case.name not in chosen:
            continue
        result = asyncio.run(run_case(case, args.rounds, profile=bool(args.cprofile)))
        results.append(result)
        print(json.dumps(result), flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
