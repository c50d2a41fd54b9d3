"""Client CPU per call of the fan-in (issue #15): 5,000 coroutines, one typed call each.

Usage::

    python benchmarks/per_call.py                      # 5,000 callers, one week, best of 7
    python benchmarks/per_call.py --days 1 --repeat 5  # small answers: mostly per-call cost
    python benchmarks/per_call.py --cprofile           # + top functions of one replay
    python benchmarks/per_call.py --raw                # b24.call() instead of typed calls
    python benchmarks/per_call.py --out results/per_call.week.json

Each of ``--users`` coroutines awaits ``b24(GetAccessibility(users=[u], start, end))`` on one
``Bitrix24`` client (``RateLimits(rate=2, burst=50)``) and reads ``len(result[u])``, as the
fan-in job of ``speed.py`` does. The answers are recorded once from an in-process
``FakePortal`` (a fixed ``anchor``, so the data is the same every run); every measured run then
replays them through a :class:`~b24async.transport.Transport` that hands back the recorded
bytes of each request. No portal and no socket share the process, so ``time.process_time()``
of a run is the client's CPU alone: building and validating each request, the client's
``__call__``, the coalescer (enqueue, take, merge, deliver), futures and tasks, the JSON parse
and each caller's typed result.

It prints CPU µs per call, best of ``--repeat`` runs, and splits it into

* ``decode``: what the same answers cost to decode at all: ``jsonio.loads`` of each batch body
  and one ``GetAccessibility.parse`` per command (its 50 users at once);
* ``overhead``: the rest (``total - decode``): the per-call cost of the client itself, the
  benchmark's own ``gather`` of 5,000 tasks included (~5 µs per call of asyncio on its own);
* ``gc``: the part of the total spent in the cyclic GC (``gc.callbacks``), with the number of
  collections per generation. A full (generation 2) collection costs ~60 ms here; whether one
  falls inside the run depends on how many objects each waiting call keeps alive.

With ``--raw`` the callers use ``b24.call()`` and ``decode`` is the JSON parse alone.

Every replayed run must send exactly the recorded requests (the same bodies) and read the
recorded number of intervals, or the benchmark stops.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import gc
import json
import platform
import pstats
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from b24async import Bitrix24, RateLimits, jsonio  # noqa: E402
from b24async.methods import GetAccessibility  # noqa: E402
from b24async.protocol import HttpRequest, RawResponse  # noqa: E402
from b24async.transport import AiohttpTransport  # noqa: E402

ANCHOR = dt.date(2026, 3, 2)  # a Monday: the portal's data and the window are fixed


class GcTimer:
    """Time spent in the cyclic GC (gc.callbacks), by generation, while ``on``."""

    def __init__(self) -> None:
        self.on = False
        self.seconds = [0.0, 0.0, 0.0]
        self.counts = [0, 0, 0]
        self._began = 0.0
        gc.callbacks.append(self._callback)

    def reset(self) -> None:
        self.seconds, self.counts = [0.0, 0.0, 0.0], [0, 0, 0]

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if not self.on:
            return
        if phase == "start":
            self._began = time.process_time()
        else:
            self.seconds[info["generation"]] += time.process_time() - self._began
            self.counts[info["generation"]] += 1


class Recording:
    """Wraps the real transport and keeps each request's answer, keyed by URL and body."""

    def __init__(self) -> None:
        self.inner = AiohttpTransport()
        self.answers: dict[tuple[str, bytes | None], RawResponse] = {}

    async def send(self, request: HttpRequest) -> RawResponse:
        raw = await self.inner.send(request)
        self.answers[(request.url, request.body)] = raw
        return raw

    async def close(self) -> None:
        await self.inner.close()


class Replay:
    """Answers each request with (a fresh copy of) the recorded answer; unknown ones fail."""

    def __init__(self, answers: dict[tuple[str, bytes | None], RawResponse]) -> None:
        self.answers = answers
        self.sent = 0

    async def send(self, request: HttpRequest) -> RawResponse:
        self.sent += 1
        try:
            raw = self.answers[(request.url, request.body)]
        except KeyError:
            raise SystemExit("replay: the client sent a request that was not recorded") from None
        return RawResponse(raw.status, dict(raw.headers), bytes(raw.body))

    async def close(self) -> None:
        pass


async def fan_in(
    url: str, transport: Any, users: int, start: dt.date, end: dt.date, raw: bool = False
) -> tuple[int, int]:
    """The fan-in; returns (intervals the callers read, requests sent)."""
    async with Bitrix24(url, limits=RateLimits(rate=2, burst=50), transport=transport) as b24:

        async def one(user: int) -> int:
            if raw:  # the untyped way: b24.call() and the JSON entries
                params = {"users": [user], "from": start, "to": end}
                response = await b24.call("calendar.accessibility.get", params)
                return len(response.result[str(user)]) if response.result else 0
            availability = await b24(GetAccessibility(users=[user], start=start, end=end))
            return len(availability[user])

        counts = await asyncio.gather(*(one(u) for u in range(1, users + 1)))
        return sum(counts), b24.stats.requests


async def record(users: int, start: dt.date, end: dt.date) -> tuple[str, Recording, int, int]:
    from b24async.testing import FakePortal

    async with FakePortal(users=users, anchor=ANCHOR) as portal:
        recording = Recording()
        intervals, requests = await fan_in(portal.webhook_url, recording, users, start, end)
        return portal.webhook_url, recording, intervals, requests


def decode_cpu(answers: list[RawResponse], start: dt.date, end: dt.date, typed: bool) -> float:
    """CPU seconds to parse the recorded answers and (typed) type each command's result once."""
    began = time.process_time()
    for raw in answers:
        body = jsonio.loads(raw.body)
        if not typed:
            continue
        results = body["result"]["result"]  # PHP: a list when the names are 0, 1, ...
        for result in results.values() if isinstance(results, dict) else results:
            users = [int(u) for u in result]
            GetAccessibility(users=users, start=start, end=end).parse(result)
    return time.process_time() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--raw", action="store_true", help="b24.call() instead of typed calls")
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args()
    start, end = ANCHOR, ANCHOR + dt.timedelta(days=args.days - 1)

    url, recording, intervals, requests = asyncio.run(record(args.users, start, end))
    answers = list(recording.answers.values())
    runs: list[float] = []
    gcs: list[tuple[list[float], list[int]]] = []
    timer = GcTimer()
    for _ in range(args.repeat):
        replay = Replay(recording.answers)
        gc.collect()
        timer.reset()
        timer.on = True
        began = time.process_time()
        got = asyncio.run(fan_in(url, replay, args.users, start, end, args.raw))
        runs.append(time.process_time() - began)
        timer.on = False
        gcs.append((timer.seconds, timer.counts))
        if got != (intervals, requests) or replay.sent != requests:
            raise SystemExit(f"replay read {got}, recorded {(intervals, requests)}")
    decodes = []
    for _ in range(args.repeat):
        gc.collect()
        decodes.append(decode_cpu(answers, start, end, not args.raw))
    total, decode = min(runs), min(decodes)
    gc_seconds, gc_counts = gcs[runs.index(total)]
    result = {
        "users": args.users,
        "days": args.days,
        "intervals": intervals,
        "requests": requests,
        "api": "raw" if args.raw else "typed",
        "json": jsonio.BACKEND,
        "python": platform.python_version(),
        "repeat": args.repeat,
        "cpu_total_s": round(total, 4),
        "cpu_decode_s": round(decode, 4),
        "us_per_call_total": round(total / args.users * 1e6, 1),
        "us_per_call_decode": round(decode / args.users * 1e6, 1),
        "us_per_call_overhead": round((total - decode) / args.users * 1e6, 1),
        "us_per_call_gc": round(sum(gc_seconds) / args.users * 1e6, 1),
        "gc_ms_by_generation": [round(s * 1e3, 1) for s in gc_seconds],
        "gc_collections": gc_counts,
        "runs_s": [round(r, 4) for r in runs],
    }
    print(
        f"fan-in {args.users} {result['api']} calls, {args.days} days, {intervals:,} intervals, "
        f"{requests} requests, JSON {jsonio.BACKEND}: client CPU {total:.3f} s "
        f"(best of {args.repeat}) = {result['us_per_call_total']} µs/call: "
        f"decode {result['us_per_call_decode']} + overhead {result['us_per_call_overhead']}; "
        f"cyclic GC {result['us_per_call_gc']} µs/call, collections by generation {gc_counts}, "
        f"ms {result['gc_ms_by_generation']}"
    )
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    if args.cprofile:
        profile = cProfile.Profile()
        profile.enable()
        asyncio.run(fan_in(url, Replay(recording.answers), args.users, start, end, args.raw))
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
