"""Run the CLI as a user would: ``b24async.cli.main(argv)`` in this process, or ``python -m
b24async`` in a subprocess for the tests marked ``cli_subprocess``.

Both runners give the command the same world: no ``B24_*`` variables but the test's, the test's
``tmp_path`` as the working directory, stdin from ``input`` (empty when not given), stdout and
stderr captured as text and not terminals (a pipe's behaviour), and 80 columns for help text
unless ``COLUMNS`` is set (what a child process writing to a pipe gets). In-process runs save an
interpreter start-up per command (~0.3 s of CPU); the subprocess ones keep the real entry
point, exit statuses through ``sys.exit`` and the process's own streams under test.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from b24async.cli import main
from b24async.testing import FakePortal

REPO = Path(__file__).resolve().parents[2]

RunCli = Callable[..., subprocess.CompletedProcess[str]]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "cli_subprocess: run_cli starts `python -m b24async` instead of calling main()"
    )


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


def _run_in_a_subprocess(
    tmp_path: Path, args: tuple[str, ...], env: Mapping[str, str] | None, input: str | None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "b24async", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=clean_env(env),
        input="" if input is None else input,
        cwd=tmp_path,
        timeout=60,
    )


def run_in_process(
    args: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """``b24async ARGS`` as ``main(args)`` in this process (or a thread of it: the portal may be
    serving from the test's event loop), in the world described at the top of this module."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        for name in [name for name in os.environ if name.startswith("B24_")]:
            patch.delenv(name)
        if "COLUMNS" not in os.environ:
            patch.setenv("COLUMNS", "80")
        for name, value in (env or {}).items():
            patch.setenv(name, value)
        patch.chdir(cwd)
        patch.setattr(sys, "stdin", io.StringIO("" if input is None else input))
        patch.setattr(sys, "stdout", stdout)
        patch.setattr(sys, "stderr", stderr)
        code = main(list(args))
    return subprocess.CompletedProcess(
        ["b24async", *args], code, stdout.getvalue(), stderr.getvalue()
    )


@pytest.fixture
def run_cli(request: pytest.FixtureRequest, tmp_path: Path) -> RunCli:
    """``run_cli(*args, env={...}, input="...")`` -> the finished command (text output)."""
    in_a_subprocess = request.node.get_closest_marker("cli_subprocess") is not None

    def run(
        *args: str, env: Mapping[str, str] | None = None, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        if in_a_subprocess:
            return _run_in_a_subprocess(tmp_path, args, env, input)
        return run_in_process(args, cwd=tmp_path, env=env, input=input)

    return run


@pytest.fixture
def portal() -> Iterator[FakePortal]:
    """A running fake portal (50 users, seed 0) served from a background thread."""
    with FakePortal.running(users=50, seed=0) as running:
        yield running
