"""Every CLI example in the README runs, as written, against ``python -m b24async.testing``.

The examples are read from the README itself (its ``sh`` blocks and the Open Integration Package
table), so an example that stops working, or a new one that never did, fails here. The portal
is the one the README tells a new user to start; ``b24async`` is this checkout's CLI.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
Env = Callable[[Mapping[str, str] | None], dict[str, str]]


def _sh_blocks(text: str) -> list[list[str]]:
    return [block.splitlines() for block in re.findall(r"```sh\n(.*?)```", text, re.DOTALL)]


def readme_cli_examples() -> list[str]:
    """The ``b24async ...`` command lines of the README (and the ``printf`` lines they need)."""
    text = README.read_text(encoding="utf-8")
    lines: list[str] = []
    for block in _sh_blocks(text):
        commands = [line.strip() for line in block if line.strip()]
        if not any(line.startswith("b24async ") for line in commands):
            continue
        for line in commands:
            if line.startswith("export B24_WEBHOOK_URL="):
                continue  # the test points it at the fake portal
            assert line.startswith(("b24async ", "printf ")), f"unexpected README line: {line}"
            lines.append(line)
    opi = text.split("## Coming from the Open Integration Package", 1)[1].split("\n## ", 1)[0]
    for row in opi.splitlines():
        if row.startswith("|"):
            lines.extend(re.findall(r"`(b24async [^`]+)`", row))
    return list(dict.fromkeys(lines))  # each once, in README order


def test_the_readme_has_cli_examples() -> None:
    examples = readme_cli_examples()
    commands = {" ".join(line.split()[1:3]) for line in examples if line.startswith("b24async")}
    for expected in ("calendar busy", "calendar participation-set", "user fire", "batch commands"):
        assert any(c.startswith(expected) for c in commands), expected


@pytest.fixture
def served_portal(cli_env: Env) -> Iterator[dict[str, str]]:
    """``python -m b24async.testing --port 0``, as the README starts it: its ``KEY=value`` lines."""
    with subprocess.Popen(
        [sys.executable, "-m", "b24async.testing", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(None),
    ) as process:
        assert process.stdout is not None
        try:
            yield dict(process.stdout.readline().rstrip("\n").split("=", 1) for _ in range(9))
        finally:
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=30)


def test_every_readme_cli_example_runs_against_the_fake_portal(
    served_portal: dict[str, str], cli_env: Env, tmp_path: Path
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "b24async"  # what `pip install .` would put on PATH
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m b24async "$@"\n', encoding="utf-8")
    wrapper.chmod(0o755)
    env = cli_env({"B24_WEBHOOK_URL": served_portal["B24_WEBHOOK_URL"]})
    env["PATH"] = os.pathsep.join([str(bin_dir), env.get("PATH", "")])
    failures = []
    for line in readme_cli_examples():
        proc = subprocess.run(
            ["bash", "-o", "pipefail", "-c", line],
            capture_output=True,
            text=True,
            encoding="utf-8",
            env=env,
            cwd=tmp_path,
            timeout=120,
        )
        if proc.returncode != 0 or (line.startswith("b24async") and not proc.stdout.strip()):
            failures.append(f"{line}\n  exit {proc.returncode}: {proc.stderr.strip()[:300]}")
    assert not failures, "README CLI examples that fail:\n" + "\n".join(failures)


def test_the_readme_pytest_example_passes_without_asyncio_mode_auto(
    cli_env: Env, tmp_path: Path
) -> None:
    text = README.read_text(encoding="utf-8")
    (example,) = [
        block
        for block in re.findall(r"```python\n(.*?)```", text, re.DOTALL)
        if "async def test_fire_is_applied_once" in block  # "Testing with FakePortal"
    ]
    (tmp_path / "test_readme_example.py").write_text(example, encoding="utf-8")
    # An empty config file: pytest-asyncio's default (strict) mode, as in a new project.
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=cli_env(None),
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout
