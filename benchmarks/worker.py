"""Run one (client, job) in this process and measure the client's own cost.

Usage: ``python benchmarks/worker.py TASK.json`` (written by run.py). The portal runs in
another process, so this process's CPU time (``time.process_time``: every thread) and peak RSS
(``ru_maxrss``) are the client's alone. The job is cut off at the task's ``cap`` seconds; the
result is written to the task's ``out`` path as JSON either way, then the process exits at once
(a capped client may still have threads or tasks running).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import statistics
import sys
import threading
import time
import traceback
from typing import Any

from adapters import Adapter, Env, Outcome, load

_HARD_GRACE = 60.0  # seconds past the cap after which the process exits whatever it is doing


def _rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


class Clock:
    """Completion events relative to the job's start, for the throughput chart."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.start_unix = time.time()
        self.events: list[tuple[float, int]] = []
        self.total = 0

    def restart(self) -> None:
        self.start = time.perf_counter()
        self.start_unix = time.time()

    def done(self, count: int) -> None:
        if count:
            self.total += count
            self.events.append((time.perf_counter() - self.start, count))

    def binned(self, width: float = 0.05) -> list[list[float]]:
        bins: dict[int, int] = {}
        for at, count in self.events:
            key = int(at / width)
            bins[key] = bins.get(key, 0) + count
        return [[round(key * width, 3), bins[key]] for key in sorted(bins)]


class Probes:
    """A second caller inside the same client: one cheap call every ``interval`` seconds."""

    def __init__(self, adapter: Adapter, method: str, clock: Clock) -> None:
        self.adapter = adapter
        self.method = method
        self.clock = clock
        self.samples: list[list[float]] = []  # [start relative to the job, latency or -1]
        self.errors: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def one(self) -> float | None:
        started = time.perf_counter()
        try:
            await self.adapter.probe(self.method)
        except Exception as exc:
            name = type(exc).__name__
            self.errors[name] = self.errors.get(name, 0) + 1
            return None
        return time.perf_counter() - started

    async def baseline(self, count: int) -> list[float]:
        latencies = []
        for _ in range(count):
            latency = await self.one()
            if latency is not None:
                latencies.append(latency)
            await asyncio.sleep(0.2)
        return latencies

    async def _record(self) -> None:
        start = time.perf_counter() - self.clock.start
        latency = await self.one()
        self.samples.append([start, -1.0 if latency is None else latency])

    async def run(self, interval: float) -> None:
        while True:
            task = asyncio.create_task(self._record())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            await asyncio.sleep(interval)

    async def drain(self, timeout: float) -> None:
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=timeout)


def _summary(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "n": len(ordered),
        "p50": statistics.median(ordered),
        "p95": p95,
        "max": ordered[-1],
    }


async def _job(adapter: Adapter, task: dict[str, Any], clock: Clock) -> Outcome:
    job = task["job"]
    params = job["params"]
    name = job["name"]
    if name == "fan_in":
        users = list(range(1, params["users"] + 1))
        return await adapter.fan_in(users, params["from"], params["to"], clock.done)
    if name in ("bulk_read", "bulk_read_small"):
        return await adapter.bulk_read(clock.done)
    updates = [(user, "N") for user in range(2, params["writes"] + 2)]
    return await adapter.bulk_write(updates, clock.done)


async def measure(task: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {"client": task["client"], "job": task["job"]["name"]}
    try:
        adapter = load(task["client"])
    except ImportError as exc:
        result.update(status="missing", reason=f"not installed ({exc.name or exc})")
        return result
    result["label"] = adapter.label
    result["usage"] = adapter.usage
    reason = adapter.unsupported(task["job"]["name"])
    if reason is not None:
        result.update(status="unsupported", reason=reason)
        return result
    env = Env(**task["env"])
    await adapter.open(env)
    clock = Clock()
    probes: Probes | None = None
    params = task["job"]["params"]
    if "probe_method" in params:
        probes = Probes(adapter, params["probe_method"], clock)
        result["probe_baseline"] = _summary(await probes.baseline(params["baseline_probes"]))
    rss_base = _rss_kb()
    cpu_start = time.process_time()
    clock.restart()
    probe_task = (
        asyncio.create_task(probes.run(params["probe_interval"])) if probes is not None else None
    )
    cap = float(task["cap"])
    outcome: Outcome | None = None
    try:
        outcome = await asyncio.wait_for(_job(adapter, task, clock), cap)
        status = "ok"
    except asyncio.TimeoutError:
        status = "capped"
    except Exception as exc:
        status = "error"
        result["reason"] = f"{type(exc).__name__}: {exc}"[:500]
        result["traceback"] = traceback.format_exc()[-2000:]
    wall = time.perf_counter() - clock.start
    cpu = time.process_time() - cpu_start
    if probe_task is not None and probes is not None:
        probe_task.cancel()
        await probes.drain(timeout=5.0)
        result["probes"] = probes.samples
        result["probe_errors"] = probes.errors
    result.update(
        status=status,
        wall=wall,
        cpu=cpu,
        rss_base_kb=rss_base,
        rss_peak_kb=_rss_kb(),
        start_unix=clock.start_unix,
        completed=clock.total,
        series=clock.binned(),
    )
    if outcome is not None:
        result["outcome"] = {
            "ok": outcome.ok,
            "errors": outcome.errors,
            "raised": outcome.raised,
            "rows": outcome.rows,
            "unique_ids": outcome.unique_ids,
            "notes": outcome.notes,
        }
    if status == "ok":
        try:
            await asyncio.wait_for(adapter.close(), 10.0)
        except Exception as exc:  # closing is not measured; note it and move on
            result.setdefault("notes", []).append(f"close failed: {type(exc).__name__}")
    return result


def _write(task: dict[str, Any], result: dict[str, Any]) -> None:
    with open(task["out"], "w", encoding="utf-8") as handle:
        json.dump(result, handle)


async def _measure_and_exit(task: dict[str, Any]) -> None:
    """Measure, write the result, and leave at once: a capped client's threads (b24pysdk runs
    in ``asyncio.to_thread``) would otherwise keep ``asyncio.run`` waiting for them."""
    try:
        result = await measure(task)
    except BaseException as exc:  # never leave the driver without a result file
        result = {
            "client": task["client"],
            "job": task["job"]["name"],
            "status": "error",
            "reason": f"{type(exc).__name__}: {exc}"[:500],
            "traceback": traceback.format_exc()[-2000:],
        }
    _write(task, result)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as handle:
        task = json.load(handle)
    hard = threading.Timer(float(task["cap"]) + _HARD_GRACE, os._exit, args=(3,))
    hard.daemon = True
    hard.start()
    asyncio.run(_measure_and_exit(task))
    return 0


if __name__ == "__main__":
    sys.exit(main())
