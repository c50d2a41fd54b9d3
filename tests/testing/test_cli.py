"""``python -m b24async.testing`` serves a portal and prints how to reach it.

Serving runs the real command in a subprocess (until SIGTERM); the refusals call its ``main``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

import b24async.testing
from b24async.testing.__main__ import main

ROOT = Path(b24async.testing.__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def test_cli_serves_until_terminated() -> None:
    command = [sys.executable, "-m", "b24async.testing", "--port", "0", "--users", "7"]
    with subprocess.Popen(
        [
            *command,
            *("--seed", "2", "--rate", "5", "--burst", "250"),
            *("--method-processing", "user.current=0.5", "--time-scale", "0.01"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    ) as process:
        assert process.stdout is not None
        try:
            lines = dict(process.stdout.readline().rstrip("\n").split("=", 1) for _ in range(9))
            webhook = lines["B24_WEBHOOK_URL"]
            assert webhook.startswith("http://127.0.0.1:")
            assert not webhook.startswith("http://127.0.0.1:0/")
            with urllib.request.urlopen(webhook + "user.current.json", timeout=10) as response:
                body = json.loads(response.read())
            assert body["result"]["ID"] == "1"
            assert "operating_reset_at" in body["time"]
            assert body["time"]["operating"] > 0  # --method-processing took effect
            assert lines["B24_URL"] == lines["B24_PORTAL_URL"]
            assert lines["B24_TOKEN"] == lines["B24_ACCESS_TOKEN"]
            token = lines["B24_ACCESS_TOKEN"]
            url = f"{lines['B24_PORTAL_URL']}/rest/user.get.json?auth={token}&start=0"
            with urllib.request.urlopen(url, timeout=10) as response:
                assert json.loads(response.read())["total"] == 7
            assert lines["B24_OAUTH_URL"].endswith("/oauth/token/")
            assert lines["B24_CLIENT_ID"].startswith("local.")
            assert lines["B24_CLIENT_SECRET"]
            assert lines["B24_REFRESH_TOKEN"]
        finally:
            process.send_signal(signal.SIGTERM)
            _, errors = process.communicate(timeout=10)
        assert process.returncode == 0, errors


def _run_in_process(*args: str) -> int:
    """``main(args)`` of ``python -m b24async.testing``: its exit status (argparse's too)."""
    try:
        return main(list(args))
    except SystemExit as exit_:  # argparse's usage errors
        return exit_.code if isinstance(exit_.code, int) else -1


# Refusals happen before any portal starts: in-process (no interpreter start-up per check).


def test_cli_refuses_non_loopback_hosts(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run_in_process("--host", "0.0.0.0") == 2
    assert "loopback" in capsys.readouterr().err


def test_cli_rejects_a_malformed_method_cost(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run_in_process("--method-processing", "user.get") == 2
    assert "METHOD=SECONDS" in capsys.readouterr().err


def test_cli_says_when_the_port_is_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "b24async.testing", "--port", str(port)],
            capture_output=True,
            text=True,
            env=_env(),
            timeout=30,
        )
    assert result.returncode == 2
    assert (
        result.stderr
        == f"error: port {port} is in use on 127.0.0.1; try another --port, or --port 0\n"
    )
    assert result.stdout == ""
