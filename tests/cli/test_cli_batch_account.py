"""``b24async batch`` keeps its account: outcomes stream with --jsonl, and Ctrl-C mid-batch still
prints every outcome known so far plus a summary of unknown and unsent commands."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from b24async.testing import FakePortal

CliEnv = Callable[[Mapping[str, str] | None], dict[str, str]]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child needs POSIX")
def test_ctrl_c_mid_batch_prints_the_outcomes_so_far(cli_env: CliEnv, tmp_path: Path) -> None:
    names = [f"c{i}" for i in range(3000)]
    (tmp_path / "cmds.jsonl").write_text(
        "\n".join(
            json.dumps({"name": n, "method": "user.get", "params": {"ID": i % 50 + 1}})
            for i, n in enumerate(names)
        ),
        encoding="utf-8",
    )
    # The client's standard bucket sends 50 requests at once, then 2 a second: 60 requests of
    # 50 commands take several seconds, so the interrupt lands mid-batch.
    with (
        FakePortal.running(users=50, latency=0.2) as portal,
        (tmp_path / "stderr.txt").open("w+", encoding="utf-8") as stderr,
    ):
        proc = subprocess.Popen(
            [sys.executable, "-m", "b24async", "batch", "cmds.jsonl", "--jsonl"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            encoding="utf-8",
            env=cli_env({"B24_WEBHOOK_URL": portal.webhook_url}),
            cwd=tmp_path,
        )
        assert proc.stdout is not None
        first = proc.stdout.readline()  # the first outcome is out: the batch is running
        proc.send_signal(signal.SIGINT)
        # Read on through the same buffered reader (communicate() would skip what it holds).
        rest = proc.stdout.read()
        proc.stdout.close()
        proc.wait(timeout=60)
        stderr.seek(0)
        err = stderr.read()
    assert proc.returncode == 130, err
    lines = [json.loads(line) for line in (first + rest).splitlines()]
    *outcomes, last = lines
    summary = last["summary"]
    reported = [o["name"] for o in outcomes]
    assert reported and all("result" in o for o in outcomes)
    assert len(reported) == len(set(reported)) == summary["reported"] < 3000
    # Every command is accounted for exactly once: reported, unknown (sent, no answer), unsent.
    accounted = reported + summary["unknown"] + summary["not_sent"]
    assert sorted(accounted) == sorted(names)
    assert summary["commands"] == 3000 and summary["not_sent"]
    assert "stopped early" in err and "interrupted" in err
