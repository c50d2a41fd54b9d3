"""examples/distributed_sync.py runs as a user would run it, with the session's Redis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_distributed_sync_splits_the_users_between_workers(redis_url: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("B24_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env["B24_REDIS_URL"] = redis_url
    out = tmp_path / "users.jsonl"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "examples" / "distributed_sync.py"),
            "--workers",
            "2",
            "--users",
            "120",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "120 of 120 users written" in proc.stdout
    assert proc.stdout.count("0 refused (503)") == 2
    ids = [int(json.loads(line)["ID"]) for line in out.read_text().splitlines()]
    assert sorted(ids) == list(range(1, 121))  # each user once, none lost or doubled
