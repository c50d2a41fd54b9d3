"""One worker process of the multi-process tests: its own client, one shared Redis.

Usage: ``python worker.py '<JSON task>'``; prints one JSON line with what it did. Modes:

* ``writes``: ``user.update`` (one request each, ``coalesce=False``) for ``users``, each with a
  value naming this worker, ``concurrency`` at a time;
* ``oauth``: ``calls`` concurrent ``user.current`` calls with the given OAuth pair (the test
  expires it first), counting ``on_token_refresh`` calls;
* ``holds``: waits until ``method`` is held by the shared holds (another process got a 429),
  then reports how long it is held and the portal requests it made meanwhile (none).
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from b24async import Bitrix24, RateLimits, TokenPair


def _limits(task: dict[str, Any]) -> RateLimits:
    return RateLimits(rate=float(task["rate"]), burst=int(task["burst"]))


async def writes(task: dict[str, Any]) -> dict[str, Any]:
    shared = task.get("redis")
    gate = asyncio.Semaphore(int(task.get("concurrency", 8)))
    errors: dict[str, int] = {}
    async with Bitrix24(
        task["webhook"], limits=_limits(task), shared=shared, coalesce=False
    ) as b24:

        async def one(user: int) -> None:
            async with gate:
                try:
                    await b24.call(
                        "user.update", {"ID": user, "WORK_POSITION": f"{task['name']}:{user}"}
                    )
                except Exception as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1

        await asyncio.gather(*(one(user) for user in task["users"]))
        stats = b24.stats
        round_trips = b24._shared.link.round_trips if b24._shared is not None else 0
        outages = b24._shared.link.outages if b24._shared is not None else 0
    return {
        "outages": outages,
        "errors": errors,
        "requests": stats.requests,
        "query_limit_hits": stats.query_limit_hits,
        "round_trips": round_trips,
    }


async def oauth(task: dict[str, Any]) -> dict[str, Any]:
    seen: list[TokenPair] = []
    errors: dict[str, int] = {}
    async with Bitrix24(
        task["portal"],
        token=task["access"],
        refresh_token=task["refresh"],
        client_id=task["client_id"],
        client_secret=task["client_secret"],
        oauth_url=task["oauth_url"],
        on_token_refresh=seen.append,
        limits=_limits(task),
        shared=task["redis"],
    ) as b24:

        async def one() -> None:
            try:
                await b24.call("user.current")
            except Exception as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1

        await asyncio.gather(*(one() for _ in range(int(task["calls"]))))
        refreshes = b24.stats.token_refreshes
    return {"errors": errors, "callbacks": len(seen), "refreshes": refreshes}


async def holds(task: dict[str, Any]) -> dict[str, Any]:
    async with Bitrix24(task["webhook"], limits=_limits(task), shared=task["redis"]) as b24:
        assert b24._shared is not None
        throttle = b24._shared.throttle
        await b24._shared.link.start()
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        while True:  # the test's other client publishes the hold after "ready"
            await throttle.holds.refresh()
            held = throttle.holds.remaining(task["method"])
            if held > 0:
                break
            await asyncio.sleep(0.02)
        admissible = throttle.admissible(task["method"])
        hold = throttle.hold_remaining(task["method"])
        other = throttle.hold_remaining("user.get")
    return {"held": held, "admissible": admissible, "hold": hold, "other": other}


def main() -> None:
    task = json.loads(sys.argv[1])
    runner = {"writes": writes, "oauth": oauth, "holds": holds}[task["mode"]]
    result = asyncio.run(runner(task))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
