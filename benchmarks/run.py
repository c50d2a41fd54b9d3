"""Run every client through every job against a fresh FakePortal, side by side, in one run.

    python benchmarks/run.py               # the full run (about half an hour on 2 cores)
    python benchmarks/run.py --quick       # smaller sizes, a few minutes (a smoke run)
    python benchmarks/run.py --jobs bulk_write,fan_in --clients b24async --cap 60

For each (client, job): a portal process (benchmarks/portal_proc.py), for the contention job a
second client's process (benchmarks/neighbor.py), and a worker process that runs the client
(benchmarks/worker.py). The portal's counters and write ledger are read over HTTP after the
run; the client's CPU and memory are measured in the worker. Results: benchmarks/results/
(results.json, results.md, throughput.png). See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import jobs
import report
from adapters import CLIENTS

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / ".work"  # scratch files of the current run (git-ignored)
RESULTS = HERE / "results"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(HERE), str(ROOT)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("TQDM_DISABLE", "1")
    return env


def _start(args: list[str], log: Path) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """Start a helper process and read its first stdout line (a JSON object)."""
    process = subprocess.Popen(
        [sys.executable, *args],
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
        env=_env(),
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.wait(timeout=10)
        raise RuntimeError(f"{args[0]} did not start; see {log}")
    return process, json.loads(line)


def _stop(process: subprocess.Popen[str], timeout: float = 15.0) -> str:
    """SIGTERM a helper process we started and return the rest of its stdout."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
    return out or ""


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=60) as reply:  # 127.0.0.1 only
        return json.loads(reply.read())


def run_one(spec: jobs.JobSpec, client: str, cap: float, tag: str) -> dict[str, Any]:
    """One client on one job, each in its own processes; returns the raw measurements."""
    WORK.mkdir(parents=True, exist_ok=True)
    portal_proc, ready = _start(
        [str(HERE / "portal_proc.py"), json.dumps(spec.portal.to_json())],
        WORK / f"{tag}.portal.log",
    )
    neighbor_proc: subprocess.Popen[str] | None = None
    try:
        if spec.neighbor_rate:
            neighbor_proc, _ = _start(
                [str(HERE / "neighbor.py"), ready["webhook_url"], str(spec.neighbor_rate)],
                WORK / f"{tag}.neighbor.log",
            )
        scale = spec.portal.time_scale
        task = {
            "client": client,
            "job": spec.to_json(),
            "cap": cap,
            "out": str(WORK / f"{tag}.result.json"),
            "env": {
                "url": ready["url"],
                "webhook_url": ready["webhook_url"],
                "rate": spec.portal.rate,
                "burst": spec.portal.burst,
                "time_scale": scale,
                "operating_budget": (
                    spec.client_budget
                    if spec.client_budget is not None
                    else spec.portal.operating_budget
                )
                * scale,
                "operating_window": 600.0 * scale,
            },
        }
        task_path = WORK / f"{tag}.task.json"
        task_path.write_text(json.dumps(task))
        Path(task["out"]).unlink(missing_ok=True)
        with (WORK / f"{tag}.worker.log").open("w") as log:
            worker = subprocess.run(
                [sys.executable, str(HERE / "worker.py"), str(task_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=_env(),
                timeout=cap + 180,
                check=False,
            )
        neighbor: dict[str, Any] | None = None
        if neighbor_proc is not None:
            lines = _stop(neighbor_proc).strip().splitlines()
            neighbor = json.loads(lines[-1]) if lines else None
            neighbor_proc = None
        time.sleep(0.5)  # let replies to requests a capped client abandoned finish
        stats = _get(ready["url"] + "/_portal/stats")
        ledger = _get(ready["url"] + "/_portal/ledger")
        try:
            result = json.loads(Path(task["out"]).read_text())
        except FileNotFoundError:
            result = {
                "client": client,
                "job": spec.name,
                "status": "error",
                "reason": f"worker exited {worker.returncode} without a result; see "
                f"{WORK / (tag + '.worker.log')}",
            }
        return {"result": result, "stats": stats, "ledger": ledger, "neighbor": neighbor}
    finally:
        if neighbor_proc is not None:
            _stop(neighbor_proc)
        _stop(portal_proc)


# -- metrics ------------------------------------------------------------------------------------


def _ledger_check(spec: jobs.JobSpec, ledger: list[dict[str, Any]]) -> dict[str, Any]:
    expected = {f"user:{user}" for user in range(2, spec.params["writes"] + 2)}
    counts = Counter(e["target"] for e in ledger if e["method"] == "user.update")
    once = sum(1 for target in expected if counts.get(target) == 1)
    missing = sum(1 for target in expected if target not in counts)
    duplicates = sum(count - 1 for target, count in counts.items() if count > 1)
    stray = sum(count for target, count in counts.items() if target not in expected)
    return {
        "expected": len(expected),
        "exactly_once": once,
        "missing": missing,
        "duplicates": duplicates,
        "stray": stray,
        "ok": once == len(expected) and not duplicates and not stray,
    }


def _throughput(
    spec: jobs.JobSpec, result: dict[str, Any], ledger: list[dict[str, Any]]
) -> tuple[str, list[list[float]]]:
    """Completed commands in 50-ms bins since the job's start: writes from the portal's ledger
    (when they were applied), reads from the caller's side (when results reached it)."""
    width = 0.05
    bins: Counter[int] = Counter()
    if spec.writes and "start_unix" in result:
        start = result["start_unix"]
        for entry in ledger:
            if entry["method"] == "user.update":
                bins[max(0, int((entry["at"] - start) / width))] += 1
        source = "portal ledger (writes applied)"
    else:
        for at, count in result.get("series", []):
            bins[int(at / width + 1e-9)] += int(count)
        source = "caller (results received)"
    return source, [[round(key * width, 3), bins[key]] for key in sorted(bins)]


def _probe_analysis(
    result: dict[str, Any], ledger: list[dict[str, Any]], rate: float
) -> dict[str, Any]:
    """Probe latencies: idle baseline, the whole job, and while user.update was held."""
    samples = result.get("probes") or []
    start = result.get("start_unix", 0.0)
    times = sorted(e["at"] - start for e in ledger if e["method"] == "user.update")
    gap = (0.0, 0.0)
    for before, after in itertools.pairwise(times):
        if after - before > gap[1] - gap[0]:
            gap = (before, after)
    held = [lat for at, lat in samples if gap[0] <= at <= gap[1] and lat >= 0]
    during = [lat for _, lat in samples if lat >= 0]
    baseline = result.get("probe_baseline")
    out: dict[str, Any] = {
        "baseline": baseline,
        "during_job": _summary(during),
        "while_held": _summary(held),
        "held_window": [round(gap[0], 2), round(gap[1], 2)],
        "failed": sum(1 for _, lat in samples if lat < 0),
        "errors": result.get("probe_errors") or {},
    }
    if baseline and out["while_held"]:
        out["held_p95_over_baseline_p95"] = out["while_held"]["p95"] / baseline["p95"]
    if baseline and out["during_job"]:
        out["job_p95_over_baseline_p95"] = out["during_job"]["p95"] / baseline["p95"]
    return out


def _summary(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "p50": ordered[len(ordered) // 2],
        "p95": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
        "max": ordered[-1],
    }


def metrics(spec: jobs.JobSpec, raw: dict[str, Any], cap: float) -> dict[str, Any]:
    """Turn one run's raw measurements into the reported numbers."""
    result, stats, ledger = raw["result"], raw["stats"], raw["ledger"]
    neighbor = raw["neighbor"] or {}
    n_status = neighbor.get("by_status", {})
    by_status = {str(k): int(v) for k, v in stats["by_status"].items()}
    row: dict[str, Any] = {
        "client": result["client"],
        "label": result.get("label", result["client"]),
        "job": spec.name,
        "status": result["status"],
        "reason": result.get("reason"),
        "cap": cap,
    }
    if result["status"] in ("missing", "unsupported"):
        return row
    neighbor_ok = int(n_status.get("200", 0))
    requests = stats["requests"] - int(neighbor.get("sent", 0))
    commands = sum(stats["commands"].values()) - neighbor_ok
    row.update(
        wall=result.get("wall"),
        http_requests=requests,
        http_503=by_status.get("503", 0) - int(n_status.get("503", 0)),
        http_429=by_status.get("429", 0),
        batch_operation_limit=int(stats["batch_errors"].get("OPERATION_TIME_LIMIT", 0)),
        commands=commands,
        cpu=result.get("cpu"),
        rss_peak_mb=(result.get("rss_peak_kb") or 0) / 1024,
        rss_growth_mb=((result.get("rss_peak_kb") or 0) - (result.get("rss_base_kb") or 0)) / 1024,
        outcome=result.get("outcome"),
        usage=(result.get("usage") or {}).get(
            "bulk_write"
            if spec.name in ("contention", "op_pressure") or spec.name in jobs.OP_JOBS
            else spec.name.split("_small")[0]
        ),
    )
    if commands:
        row["cpu_per_1k"] = result["cpu"] / (commands / 1000)
    if spec.writes:
        row["ledger"] = _ledger_check(spec, ledger)
        progress = sum(1 for e in ledger if e["method"] == "user.update")
    elif spec.name == "fan_in":
        progress = int(result.get("completed", 0))
    else:
        progress = int(result.get("completed", 0))
    expected = spec.params.get("writes") or (
        spec.params["users"] if spec.name == "fan_in" else spec.commands
    )
    row["progress"] = [progress, expected]
    if spec.name.startswith("bulk_read"):
        row["rows_expected"] = spec.params["users"]
    outcome = result.get("outcome") or {}
    row["errors_to_caller"] = sum((outcome.get("errors") or {}).values())
    wall = result.get("wall")
    if result["status"] == "ok" and wall:
        row["efficiency"] = spec.t_min / wall
    elif result["status"] == "capped" and wall and progress:
        row["projected_wall"] = wall * expected / progress
        row["efficiency"] = spec.t_min / row["projected_wall"]
        row["projected"] = True
    operating = stats.get("operating") or {}
    row["operating_refusals"] = int(operating.get("refusals", 0))
    row["operating_bans"] = int(operating.get("bans", 0))
    if spec.name == "op_pressure":
        row["probes"] = _probe_analysis(result, ledger, spec.portal.rate)
    if neighbor:
        row["neighbor"] = neighbor
    source, series = _throughput(spec, result, ledger)
    row["throughput_source"] = source
    row["throughput"] = series
    return row


# -- driver -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a few minutes)")
    parser.add_argument(
        "--jobs",
        default=",".join(jobs.JOBS),
        help=f"comma-separated jobs (also: {', '.join(jobs.OP_JOBS)})",
    )
    parser.add_argument("--clients", default=",".join(CLIENTS), help="comma-separated clients")
    parser.add_argument(
        "--cap",
        type=float,
        default=None,
        help="wall-clock cap per run, seconds (default 240, quick 30); a job whose "
        "theoretical minimum is longer gets 1.3x that minimum + 5 s, the same for every client",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    specs = jobs.job_specs(args.quick)
    chosen_jobs = [name.strip() for name in args.jobs.split(",") if name.strip()]
    clients = [name.strip() for name in args.clients.split(",") if name.strip()]
    for name in chosen_jobs:
        if name not in specs:
            raise SystemExit(f"unknown job {name!r}; jobs: {', '.join(specs)}")
    for name in clients:
        if name not in CLIENTS:
            raise SystemExit(f"unknown client {name!r}; clients: {', '.join(CLIENTS)}")
    base_cap = args.cap if args.cap is not None else (30.0 if args.quick else 240.0)
    if WORK.exists():
        shutil.rmtree(WORK)
    started = time.time()
    rows: list[dict[str, Any]] = []
    for name in chosen_jobs:
        spec = specs[name]
        cap = max(base_cap, math.ceil(1.3 * spec.t_min + 5))
        for client in clients:
            tag = f"{name}.{client}"
            print(
                f"[{time.time() - started:7.1f}s] {name} / {client} (cap {cap:.0f} s) ...",
                flush=True,
            )
            raw = run_one(spec, client, cap, tag)
            row = metrics(spec, raw, cap)
            rows.append(row)
            print("           " + report.one_line(row, spec), flush=True)
    results = {
        "meta": {
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "mode": "quick" if args.quick else "full",
            "duration_s": round(time.time() - started, 1),
            "python": platform.python_version(),
            "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
            "limits": {
                "rate": jobs.RATE,
                "burst": jobs.BURST,
                "latency": jobs.LATENCY,
                "processing": jobs.PROCESSING,
                "max_commands": jobs.MAX_COMMANDS,
            },
            "base_cap_s": base_cap,
            "jobs": chosen_jobs,
            "clients": clients,
        },
        "jobs": {name: specs[name].to_json() for name in chosen_jobs},
        "runs": rows,
    }
    results["targets"] = report.targets(results)
    args.out.mkdir(parents=True, exist_ok=True)
    report.write_all(results, args.out)
    print(f"results in {args.out} ({time.time() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
