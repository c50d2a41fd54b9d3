"""Several worker processes read one portal's users, sharing its limits through Redis.

Run it as is (an embedded fake portal and a local ``redis-server`` on a free port), or against
your portal and your Redis::

    python examples/distributed_sync.py --workers 4 --out users.jsonl
    B24_WEBHOOK_URL=https://b24-xxx.bitrix24.com/rest/1/<code>/ \\
        B24_REDIS_URL=redis://localhost:6379/0 python examples/distributed_sync.py

The parent lists the user IDs, splits them between ``--workers`` processes, and each worker
fetches its users' records with its own ``Bitrix24(..., shared=REDIS)`` client. Because every
worker names the same Redis, they draw on one request bucket (the portal's, keyed by its host),
so together they never overfill it: the summary shows no 503. Only reads are sent.
Needs ``pip install 'b24async[redis]'``.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import json
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from b24async import Bitrix24


async def fetch(webhook: str, redis_url: str, ids: list[int]) -> dict[str, Any]:
    """One worker: fetch each user (coalesced into batches) through the shared throttle."""
    async with Bitrix24(webhook, shared=redis_url) as b24:
        rows = await asyncio.gather(*(b24.call("user.get", {"ID": user}) for user in ids))
        stats = b24.stats
    records = [row.result[0] for row in rows if row.result]
    return {"records": records, "requests": stats.requests, "refused": stats.query_limit_hits}


def worker(webhook: str, redis_url: str, ids: list[int]) -> dict[str, Any]:
    """The entry point of a worker process."""
    return asyncio.run(fetch(webhook, redis_url, ids))


async def list_ids(webhook: str, redis_url: str) -> list[int]:
    """Every user ID of the portal (the parent's share of the bucket comes from Redis too)."""
    async with Bitrix24(webhook, shared=redis_url) as b24:
        users = await b24.list_all("user.get", {"select": ["ID"]})
    return sorted(int(user["ID"]) for user in users)


@contextlib.contextmanager
def local_redis() -> Iterator[str]:
    """A throwaway ``redis-server`` on a free loopback port (persistence off)."""
    binary = shutil.which("redis-server") or shutil.which("valkey-server")
    if binary is None:
        raise SystemExit("no redis-server on PATH: install one, or set B24_REDIS_URL")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as workdir:
        args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", workdir]
        server = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        try:
            for _ in range(500):
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                    break
                time.sleep(0.02)
            print(f"B24_REDIS_URL is not set: using a local redis-server on port {port}.")
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            server.terminate()
            server.wait()


def run(webhook: str, redis_url: str, workers: int, out: Path) -> int:
    ids = asyncio.run(list_ids(webhook, redis_url))
    shares = [ids[index::workers] for index in range(workers)]
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        futures = [pool.submit(worker, webhook, redis_url, share) for share in shares]
        results = [future.result() for future in futures]
    elapsed = time.perf_counter() - started
    with out.open("w", encoding="utf-8") as file:
        for result in results:
            for record in result["records"]:
                file.write(json.dumps(record, ensure_ascii=False) + "\n")
    stored = sum(len(result["records"]) for result in results)
    for index, result in enumerate(results):
        print(
            f"worker {index}: {len(result['records'])} users in {result['requests']} requests, "
            f"{result['refused']} refused (503)"
        )
    print(f"{stored} of {len(ids)} users written to {out} by {workers} workers in {elapsed:.1f}s")
    return 0 if stored == len(ids) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=4, help="worker processes (default 4)")
    parser.add_argument("--users", type=int, default=600, help="users of the fake portal")
    parser.add_argument("--out", type=Path, default=Path("users.jsonl"), help="output file")
    args = parser.parse_args(argv)
    webhook = os.environ.get("B24_WEBHOOK_URL")
    with contextlib.ExitStack() as stack:
        redis_url = os.environ.get("B24_REDIS_URL") or stack.enter_context(local_redis())
        if not webhook:
            from b24async.testing import FakePortal

            print(
                f"B24_WEBHOOK_URL is not set: using an embedded fake portal ({args.users} users)."
            )
            portal = stack.enter_context(FakePortal.running(users=args.users))
            webhook = portal.webhook_url
        return run(webhook, redis_url, args.workers, args.out)


if __name__ == "__main__":
    sys.exit(main())
