"""Several worker processes, one real Redis, one FakePortal: what they share holds for all."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from b24async import Bitrix24
from b24async.testing import FakePortal

WORKER = Path(__file__).with_name("worker.py")
REPO = Path(__file__).resolve().parents[2]
# A scaled-down bucket so that a few hundred requests bind it within seconds. The clients are
# told a bucket half the portal's: their safety margin then absorbs 0.45 s of one process being
# late to send a reserved slot while another is on time (not 0.25 s), as on a loaded CI machine;
# without sharing, four processes would still overfill it several times over.
RATE, BURST = 100.0, 60
CLIENT_BURST = 30
WORKERS = 4


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def start_worker(task: dict[str, Any]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), json.dumps(task)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )


def finish(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = process.communicate(timeout=90)
    assert process.returncode == 0, err
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def run_workers(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    processes = [start_worker(task) for task in tasks]
    return [finish(process) for process in processes]


def split_users(count: int, per_worker: int) -> list[list[int]]:
    users = list(range(2, 2 + count * per_worker))
    return [users[i * per_worker : (i + 1) * per_worker] for i in range(count)]


def test_four_processes_share_one_bucket(redis_url: str) -> None:
    per_worker = 60
    shares = split_users(WORKERS, per_worker)
    with FakePortal.running(users=300, rate=RATE, burst=BURST) as portal:
        tasks = [
            {
                "mode": "writes",
                "name": f"w{index}",
                "webhook": portal.webhook_url,
                "redis": redis_url,
                "rate": RATE,
                "burst": CLIENT_BURST,
                "users": users,
                "concurrency": 8,
            }
            for index, users in enumerate(shares)
        ]
        results = run_workers(tasks)
        stats, ledger = portal.stats, portal.ledger

    assert stats.by_code["QUERY_LIMIT_EXCEEDED"] == 0, results
    assert stats.by_status[503] == 0
    assert all(result["errors"] == {} for result in results)
    assert sum(result["query_limit_hits"] for result in results) == 0
    # The ledger is exact: every write applied once, none lost, none doubled.
    written = Counter(entry.change["WORK_POSITION"] for entry in ledger)
    expected = {f"w{index}:{user}" for index, users in enumerate(shares) for user in users}
    assert set(written) == expected
    assert set(written.values()) == {1}
    # One reservation per request (plus the start check and a few hold reads).
    assert all(result["round_trips"] >= result["requests"] for result in results)


def test_one_refresh_across_four_processes(redis_url: str) -> None:
    with FakePortal.running(users=5, rate=RATE, burst=BURST) as portal:
        tokens = portal.issue_tokens(1)
        portal.expire_access_tokens()
        base = {
            "mode": "oauth",
            "portal": portal.url,
            "access": tokens.access_token,
            "refresh": tokens.refresh_token,
            "client_id": portal.client_id,
            "client_secret": portal.client_secret,
            "oauth_url": portal.oauth_url,
            "redis": redis_url,
            "rate": 1000.0,  # the bucket is not what this test is about
            "burst": 1000,
            "calls": 100,
        }
        results = run_workers([dict(base) for _ in range(WORKERS)])
        refreshes = portal.stats.refreshes

    assert refreshes == 1  # one refresh per expiry, whatever the number of processes
    assert [r["errors"] for r in results] == [{}] * WORKERS
    assert sum(r["callbacks"] for r in results) == 1  # on_token_refresh called once in all
    assert sum(r["refreshes"] for r in results) == 1


async def test_a_method_held_in_one_process_is_held_in_all(redis_url: str) -> None:
    async with FakePortal(users=5) as portal:
        task = {
            "mode": "holds",
            "webhook": portal.webhook_url,
            "redis": redis_url,
            "rate": 2.0,
            "burst": 50,
            "method": "user.update",
        }
        process = start_worker(task)
        try:
            assert process.stdout is not None
            line = await _readline(process)
            assert line.strip() == "ready"
            async with Bitrix24(portal.webhook_url, shared=redis_url) as b24:
                assert b24._shared is not None
                await b24._shared.link.start()
                wait = b24._shared.throttle.on_operation_limit("user.update")  # a 429 here
                assert wait > 0
                result = await _finish_async(process)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        requests = portal.stats.requests

    assert 0 < result["held"] <= wait
    assert result["admissible"] == 0
    assert result["hold"] > 0
    assert result["other"] == 0  # only the refused key is held
    assert requests == 0


async def _readline(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    return await asyncio.to_thread(process.stdout.readline)


async def _finish_async(process: subprocess.Popen[str]) -> dict[str, Any]:
    return await asyncio.to_thread(finish, process)
