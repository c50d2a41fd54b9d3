"""One worker of the shared-throttle benchmark: its own client, one request per command.

Usage: ``python benchmarks/shared_worker.py '<task JSON>'``; prints one JSON line. The worker
waits for the runner's start signal (a line on stdin) after importing and connecting, so that
every worker starts together and process start-up is not timed.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from b24async import Bitrix24, RateLimits


async def run(task: dict[str, Any]) -> dict[str, Any]:
    limits = RateLimits(rate=float(task["rate"]), burst=int(task["burst"]))
    gate = asyncio.Semaphore(int(task["concurrency"]))
    errors: dict[str, int] = {}
    async with Bitrix24(
        task["webhook_url"], limits=limits, shared=task.get("redis"), coalesce=False
    ) as b24:
        if b24._shared is not None:
            await b24._shared.link.start()
        await asyncio.to_thread(sys.stdin.readline)  # the start signal
        cpu0 = time.process_time()

        async def one(user: int) -> None:
            async with gate:
                try:
                    await b24.call(
                        "user.update", {"ID": user, "WORK_POSITION": f"{task['name']}:{user}"}
                    )
                except Exception as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1

        await asyncio.gather(*(one(user) for user in task["users"]))
        cpu = time.process_time() - cpu0
        stats = b24.stats
        link = b24._shared.link if b24._shared is not None else None
        return {
            "errors": errors,
            "requests": stats.requests,
            "query_limit_hits": stats.query_limit_hits,
            "cpu": cpu,
            "round_trips": link.round_trips if link is not None else 0,
        }


def main() -> None:
    task = json.loads(sys.argv[1])
    sys.stdout.write(json.dumps(asyncio.run(run(task))) + "\n")


if __name__ == "__main__":
    main()
