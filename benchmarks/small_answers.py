"""Client CPU of typed availability reads whose answers are under 2 MiB: whole decode vs walk.

Usage::

    python benchmarks/small_answers.py                       # 60..400 users, 4 weeks, 7 rounds
    python benchmarks/small_answers.py --users 60 100 --days 7 --rounds 5

The spread's parts (``b24async.spreading``) are batches of a few coalesced 50-user commands:
answers under ``batchstream.STREAM_MIN_BYTES`` (2 MiB), decoded whole unless a consumer reads
the commands' text (``batchstream.TEXT_MIN_BYTES``). One typed call for ``k`` users (more than
50) goes as one batch of ``ceil(k / 50)`` commands. Each read is timed with
``time.process_time`` (this process only: the FakePortal runs in its own process,
``profile_speed.warmed_portal``). Each round runs every mode for every ``k`` in turn, in one
client, 0.6 s apart (the portal's bucket never refuses, so no read is retried):

* ``whole``: the answer decoded whole (``orjson`` when installed), then the typed build;
* ``text``: walked, each command's text read by ``msgspec`` (needs the ``speed`` extra);
* ``walk``: walked with the stdlib's scanner, msgspec off (``orjson`` alone installed);
* ``whole-stdlib`` / ``walk-stdlib``: without the extra's decoders (``jsonio`` on the stdlib,
  msgspec off): the whole decode, and the walk with the stdlib's scanner.

Printed per user count: the answer's size, the median CPU per read and per interval of each
mode, and ``text/whole``, ``walk/whole`` and ``walk-stdlib/whole-stdlib`` as medians of the
per-round ratios. The CPU holds the whole read (its request too, the same in every mode).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import time
from typing import Any

import aiohttp
from profile_speed import warmed_portal

from b24async import Bitrix24, batchstream, jsonio
from b24async.batchcodec import Command, batch_params
from b24async.methods import GetAccessibility
from b24async.models import _calendar_msgspec as fast

NEVER = 1 << 60
METHOD = "calendar.accessibility.get"


def configure(mode: str) -> None:
    """Set the thresholds and decoders for ``mode`` (see the module docs)."""
    stdlib = mode.endswith("stdlib")
    jsonio.use("stdlib" if stdlib else "auto")
    fast.use(fast.AVAILABLE and mode == "text")
    batchstream.STREAM_MIN_BYTES = 0 if mode.startswith("walk") else NEVER
    batchstream.TEXT_MIN_BYTES = 0 if mode == "text" else NEVER


async def run(url: str, start: Any, end: Any, ks: list[int], modes: list[str], rounds: int) -> Any:
    cpu: dict[tuple[int, str], list[float]] = {(k, m): [] for k in ks for m in modes}
    sizes: dict[int, int] = {}
    intervals: dict[int, int] = {}
    for k in ks:  # the answer's size, fetched first (while the portal's bucket has room)
        sizes[k] = await answer_bytes(url, k, start, end)
    await asyncio.sleep(len(ks) / 2 + 1)  # the portal's bucket (2 per second) drains them
    async with Bitrix24(url) as b24:
        for k in ks:  # warm every path once (and learn each answer's size)
            for mode in modes:
                configure(mode)
                query = GetAccessibility(users=range(1, k + 1), start=start, end=end)
                result = await b24(query)
                intervals[k] = sum(len(v) for v in result.values())
        for _ in range(rounds):
            for k in ks:
                query = GetAccessibility(users=range(1, k + 1), start=start, end=end)
                for mode in modes:
                    configure(mode)
                    await asyncio.sleep(0.6)  # within the portal's 2 per second: no 503, no retry
                    gc.collect()
                    before = b24.stats.requests
                    used = time.process_time()
                    result = await b24(query)
                    cpu[k, mode].append(time.process_time() - used)
                    assert b24.stats.requests == before + 1, (b24.stats, k, mode)
                    assert sum(len(v) for v in result.values()) == intervals[k]
                    del result
    return cpu, sizes, intervals


async def answer_bytes(url: str, k: int, start: Any, end: Any) -> int:
    """The size in bytes of the portal's batch answer for ``k`` users, 50 per command."""
    users = range(1, k + 1)
    chunk = [
        Command(str(i), METHOD, GetAccessibility(users=part, start=start, end=end).to_params())
        for i, part in enumerate(users[at : at + 50] for at in range(0, k, 50))
    ]
    async with (
        aiohttp.ClientSession() as session,
        session.post(url + "batch", json=batch_params(chunk, halt=False)) as reply,
    ):
        reply.raise_for_status()
        return len(await reply.read())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="+", default=[60, 100, 150, 200, 300, 400])
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--processing", type=float, default=0.005)
    args = parser.parse_args()
    modes = ["whole", "text", "walk", "whole-stdlib", "walk-stdlib"]
    if not fast.AVAILABLE:
        modes.remove("text")
    ks = sorted(args.users)
    with warmed_portal(max(ks), args.processing, args.days) as (url, start, end):
        time.sleep(1.0)
        cpu, sizes, intervals = asyncio.run(run(url, start, end, ks, modes, args.rounds))
    print(
        f"availability, {args.days} days, 50 users per command, {args.rounds} rounds; "
        f"msgspec {'installed' if fast.AVAILABLE else 'not installed'}; "
        "CPU per read in ms (µs per interval)"
    )
    print("users answer MB  intervals  " + "  ".join(f"{m:>18}" for m in modes) + "  ratios")
    for k in ks:
        cells = []
        for mode in modes:
            median = statistics.median(cpu[k, mode])
            cells.append(f"{median * 1e3:8.1f} ({median / intervals[k] * 1e6:5.2f})")
        ratios = []
        for new, old in (("text", "whole"), ("walk", "whole"), ("walk-stdlib", "whole-stdlib")):
            if (k, new) in cpu:
                per_round = [a / b for a, b in zip(cpu[k, new], cpu[k, old], strict=True)]
                ratios.append(f"{new}/{old} {statistics.median(per_round):.2f}")
        print(
            f"{k:<5} {sizes[k] / 1e6:9.2f}  {intervals[k]:9,}  "
            + "  ".join(f"{c:>18}" for c in cells)
            + "  "
            + ", ".join(ratios)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
