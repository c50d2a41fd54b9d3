"""Event benchmarks: a verifying receiver under a slow handler, and the offline drain rate.

    python benchmarks/events.py            # ~1 minute; writes results/events.{json,md}
    python benchmarks/events.py --quick    # smaller sizes

1. **Receiver throughput.** ``EventReceiver`` on 127.0.0.1 (parse, constant-time token check,
   queue) with an ``on_event`` that sleeps 50 ms, against a bare aiohttp handler that only
   reads the body and answers 200, both hit by the same sender (64 concurrent POSTs of a
   real-sized ``ONCALENDARENTRYUPDATE`` form) in this process. Reported: events/s of each and
   their ratio, and the answer latency p50/p95 against the handler's 50 ms (answers do not
   wait for handlers).
2. **Offline drain vs the portal's limits.** A FakePortal with the standard limits (bucket 50,
   2 req/s, 30 ms round trip) holds N offline rows; ``b24.offline_events(follow=False)``
   drains them (reserve, yield, clear). Reported: the requests used, events/s, and the time
   against the least time the leaky bucket allows for those requests
   (``max(0, requests - 50) / 2`` s, plus one round trip per request in sequence).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from b24async import Bitrix24, RateLimits
from b24async.events import Event, EventReceiver, MemoryTokenStore
from b24async.methods import BindEvent
from b24async.testing import FakePortal
from b24async.testing.events import Cause
from b24async.testing.phpquery import build_query_php

RESULTS = Path(__file__).parent / "results"
MEMBER = "a223c6b3710f85df22e9377d6c4f7553"
TOKEN = "51856fefc120afa4b628cc82d3935cce"
HANDLER_SECONDS = 0.2
WORKERS = 8  # on_event capacity: 40 events/s, far below the arrival rate
SENDERS = 16


def _body(i: int) -> bytes:
    auth = {
        "access_token": "a" * 70, "expires": "1721289727", "expires_in": "3600",
        "scope": "calendar,user", "domain": "x.bitrix24.com",
        "server_endpoint": "https://oauth.bitrix.info/rest/", "status": "L",
        "client_endpoint": "https://x.bitrix24.com/rest/", "member_id": MEMBER, "user_id": "1",
        "refresh_token": "r" * 70, "application_token": TOKEN,
    }  # fmt: skip
    form = {"event": "ONCALENDARENTRYUPDATE", "event_handler_id": "3", "data": {"id": i},
            "ts": "1721286127", "auth": auth}  # fmt: skip
    return build_query_php(form).encode()


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/"


async def _send(url: str, count: int, concurrency: int) -> tuple[float, list[float]]:
    bodies = [_body(i) for i in range(count)]
    latencies: list[float] = []
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        queue = iter(bodies)

        async def worker() -> None:
            for body in queue:
                start = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    assert response.status == 200, response.status
                latencies.append(time.perf_counter() - start)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started, latencies


async def _bare_run(count: int) -> tuple[float, list[float]]:
    async def bare(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(text="OK")

    plain = web.Application()
    plain.router.add_post("/", bare)
    runner, url = await _serve(plain)
    try:
        return await _send(url, count, SENDERS)
    finally:
        await runner.cleanup()


async def _receiver_run(count: int) -> tuple[float, list[float], int, int]:
    handled = 0

    async def slow(event: Event) -> None:
        nonlocal handled
        await asyncio.sleep(HANDLER_SECONDS)
        handled += 1

    receiver = EventReceiver(
        slow,
        tokens=MemoryTokenStore({MEMBER: TOKEN}),
        concurrency=WORKERS,
        queue_size=count,
        shutdown_timeout=0.0,
    )
    runner, url = await _serve(receiver.app)
    seconds, latencies = await _send(url, count, SENDERS)
    handled_at_last_answer = handled
    await runner.cleanup()  # no grace: what is still queued is counted as dropped
    return seconds, latencies, handled_at_last_answer, receiver.stats.accepted


async def receiver_bench(count: int, rounds: int = 2) -> dict[str, Any]:
    """Bare and receiver runs interleaved ``rounds`` times; the best run of each counts."""
    bare_runs, runs = [], []
    for _ in range(rounds):
        bare_runs.append(await _bare_run(count))
        runs.append(await _receiver_run(count))
    bare_seconds, bare_latencies = min(bare_runs, key=lambda run: run[0])
    seconds, latencies, handled_at_last_answer, accepted = min(runs, key=lambda run: run[0])
    assert accepted == count
    latencies.sort()
    bare_latencies.sort()
    p95 = latencies[int(len(latencies) * 0.95)]
    bare_p95 = bare_latencies[int(len(bare_latencies) * 0.95)]
    return {
        "events": count,
        "rounds": rounds,
        "events_per_second": round(count / seconds),
        "bare_events_per_second": round(count / bare_seconds),
        "throughput_vs_bare": round(bare_seconds / seconds, 3),
        "answer_p50_ms": round(statistics.median(latencies) * 1000, 2),
        "answer_p95_ms": round(p95 * 1000, 2),
        "bare_answer_p95_ms": round(bare_p95 * 1000, 2),
        "p95_vs_bare_p95": round(p95 / bare_p95, 3),
        "handler_ms": HANDLER_SECONDS * 1000,
        "p95_vs_handler": round(p95 / HANDLER_SECONDS, 3),
        "handled_when_last_answer_sent": handled_at_last_answer,
    }


async def drain_bench(rows: int, limit: int) -> dict[str, Any]:
    async with FakePortal(users=10, latency=0.03) as portal:
        tokens = portal.issue_tokens(1)
        async with Bitrix24(
            portal.url, token=tokens.access_token, limits=RateLimits.STANDARD
        ) as b24:
            assert await b24(BindEvent("ONCALENDARENTRYUPDATE", offline=True))
            hub = portal.state.events  # fill the queue without spending the bucket
            assert hub is not None
            for i in range(rows):
                hub.fire("ONCALENDARENTRYUPDATE", {"id": 100_000 + i}, Cause(2))
            hub.end_hit()
            portal.reset_stats()
            started = time.perf_counter()
            seen = 0
            async with b24.offline_events(limit=limit, follow=False) as events:
                async for _event in events:
                    seen += 1
            seconds = time.perf_counter() - started
            requests = portal.stats.requests
        assert seen == rows
        assert portal.offline_queue() == []
    least = max(max(0, requests - 50) / 2.0, requests * 0.03)
    return {
        "rows": rows,
        "limit": limit,
        "requests": requests,
        "seconds": round(seconds, 2),
        "events_per_second": round(rows / seconds),
        "bucket_least_seconds": least,
        "vs_least": round(seconds / least, 3),
    }


async def main(quick: bool) -> dict[str, Any]:
    count = 2000 if quick else 10_000
    receiver = await receiver_bench(count)
    print("receiver:", json.dumps(receiver))
    drains = []
    for rows, limit in ((1000, 50), (1000, 200)) if quick else ((4000, 50), (4000, 500)):
        drains.append(await drain_bench(rows, limit))
        print("drain:", json.dumps(drains[-1]))
    return {"receiver": receiver, "drain": drains, "quick": quick}


def report(results: dict[str, Any]) -> str:
    r = results["receiver"]
    lines = [
        "# Event benchmarks (one run, this machine)",
        "",
        f"`python benchmarks/events.py{' --quick' if results['quick'] else ''}`",
        "",
        f"## Receiver with verification, on_event sleeping {r['handler_ms']:.0f} ms",
        "",
        f"- {r['events']} deliveries from {SENDERS} concurrent senders, {WORKERS} handler "
        f"workers: **{r['events_per_second']} events/s** parsed, verified and queued; a bare "
        f"aiohttp handler that only reads the body: {r['bare_events_per_second']}/s "
        f"(ratio **{r['throughput_vs_bare']}**; best of {r['rounds']} interleaved runs each, "
        "sender and server share this process and the machine's 2 cores).",
        f"- Answer latency p50 {r['answer_p50_ms']} ms, **p95 {r['answer_p95_ms']} ms**: "
        f"**{r['p95_vs_bare_p95']} x** the bare handler's p95 ({r['bare_answer_p95_ms']} ms) "
        f"and **{r['p95_vs_handler']} x** the handler's {r['handler_ms']:.0f} ms.",
        f"- Handlers finished when the last answer went out: "
        f"{r['handled_when_last_answer_sent']} of {r['events']} (the answers did not wait "
        f"for them).",
        "",
        "## Offline drain vs the portal's limits (bucket 50, 2 req/s, 30 ms round trip)",
        "",
        "| rows | limit | requests | events/s | time / least time the limits allow |",
        "|---|---|---|---|---|",
    ]
    for d in results["drain"]:
        lines.append(
            f"| {d['rows']} | {d['limit']} | {d['requests']} | {d['events_per_second']} "
            f"| {d['vs_least']} |"
        )
    lines += [
        "",
        "The least time is `max((requests - 50) / 2, requests x 0.03)` s: the leaky bucket, or "
        "one round trip per request when the reads go one after another (each batch is read, "
        "yielded, then cleared). Each batch costs two requests (reserve, clear) plus a few per "
        "run (failed rows, stranded batches, the final empty read).",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    results = asyncio.run(main(parser.parse_args().quick))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "events.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (RESULTS / "events.md").write_text(report(results), encoding="utf-8")
    sys.exit(0)
