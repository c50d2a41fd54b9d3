"""Profile b24async on the fan-in and availability jobs (issue #15's recipe).

Usage::

    python benchmarks/profile_speed.py fan_in 5000                 # wall, client CPU, requests
    python benchmarks/profile_speed.py fan_in 5000 --cprofile      # + top functions
    python benchmarks/profile_speed.py availability 2000 --tracemalloc
    python -m pyinstrument benchmarks/profile_speed.py fan_in 5000  # if pyinstrument is installed
    python benchmarks/profile_speed.py list_all 50000 --processing 0.02 --cprofile
    python benchmarks/profile_speed.py waiting 5000                # bytes per waiting call

The portal runs in its own process (``portal_proc.py``: 30 ms round trip, ``--processing`` s per
command), warmed for the window first, so the profile holds the client's work only. ``fan_in``:
one coroutine per user awaits ``b24(GetAccessibility(users=[user], ...))`` and reads its
result; ``availability``: one typed call for all users; ``list_all``: ``b24.list_all("user.get")``
(every row read, as in ``speed.py``). ``--days`` sets the window (28: four
weeks, the issue's interval counts). ``B24ASYNC_JSON=stdlib`` forces the stdlib JSON decoder.
``waiting``: the fan-in's callers all queued, nothing sent yet (an in-process FakePortal: no
request leaves): tracemalloc's bytes per waiting call, by the line that allocated them (the
client's own, asyncio's, the caller's coroutine and request); the callers are then cancelled.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import datetime as dt
import json
import os
import pstats
import subprocess
import sys
import time
import tracemalloc
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from b24async import Bitrix24, jsonio
from b24async.methods import GetAccessibility

HERE = Path(__file__).resolve().parent


async def job(name: str, url: str, users: int, start: dt.date, end: dt.date) -> tuple[int, int]:
    """Run the job; returns (intervals the callers read, HTTP requests sent)."""
    async with Bitrix24(url) as b24:
        if name == "list_all":
            rows = await b24.list_all("user.get")
            return len({row["ID"] for row in rows}), b24.stats.requests
        if name == "fan_in":

            async def one(user: int) -> int:
                return len((await b24(GetAccessibility(users=[user], start=start, end=end)))[user])

            counts = await asyncio.gather(*(one(u) for u in range(1, users + 1)))
            return sum(counts), b24.stats.requests
        result = await b24(GetAccessibility(users=range(1, users + 1), start=start, end=end))
        return sum(len(v) for v in result.values()), b24.stats.requests


@contextlib.contextmanager
def warmed_portal(
    users: int, processing: float, days: int, *, calendars: bool = True
) -> Iterator[tuple[str, dt.date, dt.date]]:
    """A FakePortal in its own process (standard limits, 30 ms round trip, ``processing`` s per
    command); with ``calendars``, every user's calendar generated for the ``days``-day window
    from this Monday. Yields (webhook URL, first day, last day); stops the portal after."""
    config = {
        "users": users,
        "rate": 2.0,
        "burst": 50,
        "latency": 0.03,
        "processing": processing,
        "method_processing": {},
        "time_scale": 1.0,
        "operating_budget": 480.0,
    }
    portal = subprocess.Popen(
        [sys.executable, str(HERE / "portal_proc.py"), json.dumps(config)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert portal.stdout is not None
        url = json.loads(portal.stdout.readline())["webhook_url"]
        start = dt.date.today() - dt.timedelta(days=dt.date.today().weekday())
        end = start + dt.timedelta(days=days - 1)
        for first in range(1, users + 1 if calendars else 1, 500):  # warm the lazy calendars
            body = {"users": list(range(first, min(first + 500, users + 1)))}
            body.update({"from": start.isoformat(), "to": end.isoformat()})
            request = urllib.request.Request(
                url + "calendar.accessibility.get",
                json.dumps(body).encode(),
                {"Content-Type": "application/json"},
            )
            urllib.request.urlopen(request, timeout=300).read()  # 127.0.0.1 only
        yield url, start, end
    finally:
        portal.terminate()
        portal.wait(timeout=30)


async def waiting(callers: int, days: int) -> None:
    """Print the bytes each of ``callers`` queued fan-in calls holds, by allocating line."""
    import gc
    import linecache

    from b24async.testing import FakePortal

    start = dt.date(2026, 1, 5)
    end = start + dt.timedelta(days=days - 1)
    async with FakePortal(users=10) as fake, Bitrix24(fake.webhook_url) as b24:
        await b24.call("server.time")  # the client's one-time state, before counting

        async def one(user: int) -> int:
            return len((await b24(GetAccessibility(users=[user], start=start, end=end)))[user])

        gc.collect()
        tracemalloc.start(1)
        base, before = tracemalloc.take_snapshot(), tracemalloc.get_traced_memory()[0]
        tasks = [asyncio.ensure_future(one(u)) for u in range(1, callers + 1)]
        await asyncio.sleep(0)  # every caller has run up to its await: all are queued
        held, snapshot = tracemalloc.get_traced_memory()[0], tracemalloc.take_snapshot()
        tracemalloc.stop()
        print(f"{callers} waiting calls: {(held - before) / callers:.0f} B per waiting call")
        for stat in snapshot.compare_to(base, "lineno"):
            if stat.size_diff / callers >= 1:
                frame = stat.traceback[0]
                line = linecache.getline(frame.filename, frame.lineno).strip()[:70]
                print(
                    f"{stat.size_diff / callers:7.1f} B {stat.count_diff / callers:5.2f} objects"
                    f"  {frame.filename}:{frame.lineno}  {line}"
                )
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("job", choices=("fan_in", "availability", "list_all", "waiting"))
    parser.add_argument("users", type=int)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--processing", type=float, default=0.005)
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--tracemalloc", action="store_true")
    args = parser.parse_args()
    if args.job == "waiting":
        asyncio.run(waiting(args.users, args.days))
        return 0
    calendars = args.job != "list_all"
    with warmed_portal(args.users, args.processing, args.days, calendars=calendars) as served:
        url, start, end = served
        time.sleep(1.0)
        profile = cProfile.Profile() if args.cprofile else None
        if args.tracemalloc:
            tracemalloc.start()
        cpu, wall = time.process_time(), time.perf_counter()
        if profile is not None:
            profile.enable()
        intervals, requests = asyncio.run(job(args.job, url, args.users, start, end))
        if profile is not None:
            profile.disable()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(
            f"{args.job} {args.users} users, {args.days} days, JSON {jsonio.BACKEND}: "
            f"{intervals:,} intervals/rows, {requests} requests, wall {wall:.2f} s, "
            f"client CPU {cpu:.2f} s"
        )
        if args.tracemalloc:
            print(f"tracemalloc peak {tracemalloc.get_traced_memory()[1] / 1e6:.1f} MB")
        if profile is not None:
            pstats.Stats(profile).sort_stats(os.environ.get("B24_SORT", "tottime")).print_stats(
                int(os.environ.get("B24_TOP", "25"))
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
