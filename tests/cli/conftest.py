"""Run the CLI as a user would: ``python -m b24async ...`` in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from b24async.testing import FakePortal

REPO = Path(__file__).resolve().parents[2]

RunCli = Callable[..., subprocess.CompletedProcess[str]]


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test process's environment without any B24_* credentials, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("B24_")}
    # Run from this checkout whether or not the package is installed.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env["PYTHONIOENCODING"] = "utf-8"
    env.update(extra or {})
    return env


@pytest.fixture
def cli_env() -> Callable[[Mapping[str, str] | None], dict[str, str]]:
    """:func:`clean_env`, for tests that start the CLI themselves."""
    return clean_env


@pytest.fixture
def run_cli(tmp_path: Path) -> RunCli:
    """``run_cli(*args, env={...}, input="...")`` -> the finished process (text output)."""

    def run(
        *args: str, env: Mapping[str, str] | None = None, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "b24async", *args],
            capture_output=True,
            text=True,
            encoding="utf-8",
            env=clean_env(env),
            input=input,
            cwd=tmp_path,
            timeout=60,
        )

    return run


@pytest.fixture
def portal() -> Iterator[FakePortal]:
    """A running fake portal (50 users, seed 0) served from a background thread."""
    with FakePortal.running(users=50, seed=0) as running:
        yield running
