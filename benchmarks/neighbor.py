"""The contention job's second client: cheap requests at a steady rate, in its own process.

Usage: ``python benchmarks/neighbor.py WEBHOOK_URL RATE``. Wants ``server.time`` answered
``RATE`` times a second, on a fixed schedule, from the moment it starts until SIGTERM: a request
the portal refuses (503) is tried again 0.1 s later until it is accepted, so the neighbour
really consumes its share of the bucket (a refused request consumes nothing). Then it prints
one JSON line with every attempt and what the portal answered, so the driver can tell the
measured client's requests from its own.
It talks to 127.0.0.1 only (the fake portal's address).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import signal
import sys
import time

import aiohttp


async def run(webhook_url: str, rate: float) -> dict[str, object]:
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopped.set)
    statuses: collections.Counter[int] = collections.Counter()
    failures = 0
    attempts = 0
    interval = 1.0 / rate
    pending: set[asyncio.Task[None]] = set()
    async with aiohttp.ClientSession() as session:

        async def one() -> None:
            nonlocal failures, attempts
            while True:
                attempts += 1
                try:
                    async with session.post(webhook_url + "server.time.json", json={}) as reply:
                        await reply.read()
                        statuses[reply.status] += 1
                        if reply.status != 503 or stopped.is_set():
                            return
                except aiohttp.ClientError:
                    failures += 1
                    return
                await asyncio.sleep(0.1)

        sys.stdout.write(json.dumps({"ready": True}) + "\n")
        sys.stdout.flush()
        start = time.monotonic()
        sent = 0
        while not stopped.is_set():
            task = asyncio.create_task(one())
            pending.add(task)
            task.add_done_callback(pending.discard)
            sent += 1
            delay = start + sent * interval - time.monotonic()
            if delay > 0:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stopped.wait(), delay)
        if pending:
            await asyncio.wait(pending, timeout=5.0)
    return {
        "sent": attempts,
        "wanted": sent,
        "by_status": {str(code): count for code, count in statuses.items()},
        "failures": failures,
        "seconds": time.monotonic() - start,
    }


def main() -> int:
    result = asyncio.run(run(sys.argv[1], float(sys.argv[2])))
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
