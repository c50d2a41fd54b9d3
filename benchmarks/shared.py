"""Benchmark: N worker processes against one portal, with the Redis-shared throttle and without.

Usage: ``python benchmarks/shared.py [--quick] [--workers 4,8]`` (needs ``redis-server`` on
PATH, or ``B24ASYNC_REDIS_SERVER``). Each worker has its own client and sends one request per
command (``coalesce=False``), so the portal's request bucket is what binds. Results:
``benchmarks/results/shared.json`` and ``shared.md``. See benchmarks/README.md, "Shared
throttle".

The portal's ceiling over the job: it accepts at most ``burst + rate * W`` requests in a window
of ``W`` seconds (the bucket starts empty). The aggregate efficiency is the requests it accepted
divided by that ceiling, ``W`` running from the first arrival to the last.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

PORTAL = {
    "users": 0,  # set per run
    "rate": 20.0,
    "burst": 50,
    "latency": 0.03,
    "processing": 0.02,
    "method_processing": {},
    "time_scale": 1.0,
    "operating_budget": 480.0,
}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE.parent), env.get("PYTHONPATH")]))
    return env


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_redis(workdir: str) -> tuple[subprocess.Popen[bytes], str]:
    binary = os.environ.get("B24ASYNC_REDIS_SERVER") or shutil.which("redis-server")
    if not binary:
        raise SystemExit("no redis-server on PATH (apt-get install redis-server)")
    port = _free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", workdir],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    import socket

    for _ in range(500):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(8).startswith(b"+PONG"):
                    break
        except OSError:
            time.sleep(0.02)
    return process, f"redis://127.0.0.1:{port}/0"


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as reply:
        return json.loads(reply.read())


def run_one(workers: int, writes: int, shared: bool, redis_url: str) -> dict[str, Any]:
    config = dict(PORTAL, users=writes + 2)
    portal = subprocess.Popen(
        [sys.executable, str(HERE / "portal_proc.py"), json.dumps(config)],
        stdout=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        assert portal.stdout is not None
        ready = json.loads(portal.stdout.readline())
        users = list(range(2, writes + 2))
        share = [users[i::workers] for i in range(workers)]
        procs = []
        for index, mine in enumerate(share):
            task = {
                "name": f"w{index}",
                "webhook_url": ready["webhook_url"],
                "redis": redis_url if shared else None,
                "rate": PORTAL["rate"],
                "burst": PORTAL["burst"],
                "concurrency": 16,
                "users": mine,
            }
            procs.append(
                subprocess.Popen(
                    [sys.executable, str(HERE / "shared_worker.py"), json.dumps(task)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                    env=_env(),
                )
            )
        time.sleep(3.0)  # imports and connections; the workers wait for the signal
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outcomes = []
        for proc in procs:
            out, _ = proc.communicate(timeout=3600)
            outcomes.append(json.loads(out.strip().splitlines()[-1]))
        stats = _get(ready["url"] + "/_portal/stats")
        ledger = _get(ready["url"] + "/_portal/ledger")
    finally:
        portal.terminate()
        portal.wait(timeout=30)
    arrivals = sorted(stats["arrivals"])
    window = arrivals[-1] - arrivals[0] if arrivals else 0.0
    accepted = int(stats["by_status"].get("200", 0))
    ceiling = PORTAL["burst"] + PORTAL["rate"] * window
    entries = ledger if isinstance(ledger, list) else ledger.get("ledger", ledger.get("entries"))
    written = Counter(e["change"]["WORK_POSITION"] for e in entries)
    expected = {f"w{i}:{u}" for i, mine in enumerate(share) for u in mine}
    requests = sum(o["requests"] for o in outcomes)
    return {
        "workers": workers,
        "shared": shared,
        "writes": writes,
        "window_s": round(window, 3),
        "accepted": accepted,
        "efficiency": round(accepted / ceiling, 4) if ceiling else None,
        "portal_503": int(stats["by_status"].get("503", 0)),
        "ledger_exact": set(written) == expected and set(written.values()) == {1},
        "errors": sum(sum(o["errors"].values()) for o in outcomes),
        "client_requests": requests,
        "cpu_ms_per_request": round(1000 * sum(o["cpu"] for o in outcomes) / requests, 3),
        "redis_round_trips_per_request": round(
            sum(o["round_trips"] for o in outcomes) / requests, 3
        ),
    }


def report(rows: list[dict[str, Any]]) -> str:
    lines = [
        "# Shared throttle: N processes against one portal",
        "",
        f"Portal: leaky bucket {PORTAL['burst']} draining {PORTAL['rate']:g}/s, "
        f"{PORTAL['latency'] * 1000:g} ms round trip + {PORTAL['processing'] * 1000:g} ms "
        "processing per request; one `user.update` per request (`coalesce=False`), 16 in flight "
        "per worker. Efficiency = accepted / (burst + rate x window), window from the first "
        "arrival to the last. Targets with sharing: efficiency >= 0.95, 0 x 503, ledger exact. "
        "CPU per request counts every request sent (refused ones too); per write, the total "
        "over the writes.",
        "",
        "| workers | shared | writes | window s | efficiency | portal 503s | ledger exact "
        "| client CPU ms/request | client CPU ms/write | Redis round trips/request |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['workers']} | {'yes' if r['shared'] else 'no'} | {r['writes']} "
            f"| {r['window_s']} | {r['efficiency']} | {r['portal_503']} "
            f"| {'yes' if r['ledger_exact'] else 'NO'} | {r['cpu_ms_per_request']} "
            f"| {r['cpu_ms_per_request'] * r['client_requests'] / r['writes']:.3f} "
            f"| {r['redis_round_trips_per_request']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller job (a smoke run)")
    parser.add_argument("--workers", default="4,8", help="comma-separated worker counts")
    parser.add_argument("--out", default=str(RESULTS), help="where results go")
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite shared.md from shared.json"
    )
    args = parser.parse_args()
    out = Path(args.out)
    if args.report_only:
        rows = json.loads((out / "shared.json").read_text())["runs"]
        (out / "shared.md").write_text(report(rows))
        return 0
    writes = 400 if args.quick else 1500
    rows = []
    with tempfile.TemporaryDirectory(prefix="b24async-bench-redis-") as workdir:
        redis_proc, redis_url = start_redis(workdir)
        try:
            for workers in (int(w) for w in args.workers.split(",")):
                for shared in (True, False):
                    row = run_one(workers, writes, shared, redis_url)
                    print(json.dumps(row), flush=True)
                    rows.append(row)
        finally:
            redis_proc.terminate()
            redis_proc.wait(timeout=30)
    out.mkdir(parents=True, exist_ok=True)
    (out / "shared.json").write_text(json.dumps({"portal": PORTAL, "runs": rows}, indent=2) + "\n")
    (out / "shared.md").write_text(report(rows))
    print(report(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
