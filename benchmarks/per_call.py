"""Client CPU per call of the fan-in (issue #15): 5,000 coroutines, one typed call each.

Usage::

    python benchmarks/per_call.py                      # 5,000 callers, one week, best of 7
    python benchmarks/per_call.py --days 1 --repeat 5  # small answers: mostly per-call cost
    python benchmarks/per_call.py --cprofile           # + top functions of one replay
    python benchmarks/per_call.py --out results/per_call.stdlib.json

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
* ``overhead``: the rest (``total - decode``): the per-call cost of the client itself.

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
    """Answers each request with the recorded bytes; an unknown request is an error."""

    def __init__(self, answers: dict[tuple[str, bytes | None], RawResponse]) -> None:
        self.answers = answers
        self.sent = 0

    async def send(self, request: HttpRequest) -> RawResponse:
        self.sent += 1
        try:
            return self.answers[(request.url, request.body)]
        except KeyError:
            raise SystemExit("replay: the client sent a request that was not recorded") from None

    async def close(self) -> None:
        pass


async def fan_in(
    url: str, transport: Any, users: int, start: dt.date, end: dt.date
) -> tuple[int, int]:
    """The fan-in; returns (intervals the callers read, requests sent)."""
    async with Bitrix24(url, limits=RateLimits(rate=2, burst=50), transport=transport) as b24:

        async def one(user: int) -> int:
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


def decode_cpu(answers: list[RawResponse], start: dt.date, end: dt.date) -> float:
    """CPU seconds to parse the recorded answers and type each command's result once."""
    began = time.process_time()
    for raw in answers:
        body = jsonio.loads(raw.body)
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
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args()
    start, end = ANCHOR, ANCHOR + dt.timedelta(days=args.days - 1)

    url, recording, intervals, requests = asyncio.run(record(args.users, start, end))
    answers = list(recording.answers.values())
    runs: list[float] = []
    for _ in range(args.repeat):
        replay = Replay(recording.answers)
        gc.collect()
        began = time.process_time()
        got = asyncio.run(fan_in(url, replay, args.users, start, end))
        runs.append(time.process_time() - began)
        if got != (intervals, requests) or replay.sent != requests:
            raise SystemExit(f"replay read {got}, recorded {(intervals, requests)}")
    decodes = []
    for _ in range(args.repeat):
        gc.collect()
        decodes.append(decode_cpu(answers, start, end))
    total, decode = min(runs), min(decodes)
    result = {
        "users": args.users,
        "days": args.days,
        "intervals": intervals,
        "requests": requests,
        "json": jsonio.BACKEND,
        "python": platform.python_version(),
        "repeat": args.repeat,
        "cpu_total_s": round(total, 4),
        "cpu_decode_s": round(decode, 4),
        "us_per_call_total": round(total / args.users * 1e6, 1),
        "us_per_call_decode": round(decode / args.users * 1e6, 1),
        "us_per_call_overhead": round((total - decode) / args.users * 1e6, 1),
        "runs_s": [round(r, 4) for r in runs],
    }
    print(
        f"fan-in {args.users} calls, {args.days} days, {intervals:,} intervals, "
        f"{requests} requests, JSON {jsonio.BACKEND}: client CPU {total:.3f} s "
        f"(best of {args.repeat}) = {result['us_per_call_total']} µs/call: "
        f"decode {result['us_per_call_decode']} + overhead {result['us_per_call_overhead']}"
    )
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    if args.cprofile:
        profile = cProfile.Profile()
        profile.enable()
        asyncio.run(fan_in(url, Replay(recording.answers), args.users, start, end))
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
