"""Developer tasks.

``nox -s tests`` runs the suite on every supported Python (3.10-3.13) it can find: on ``PATH``,
or installed by pyenv but not selected (``$(pyenv root)/versions/3.1x.y``). Locally a missing
version is skipped with a message; under ``CI=true`` nox treats it as an error, so CI proves all
four. ``nox -s tests-3.12`` (or ``-p 3.12``) runs one. The other sessions run on the interpreter
nox itself runs on.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

import nox

# dependency_groups() needs 2025.2.9; download_python, and pbs-installer being optional (so that
# "auto" cannot fetch an interpreter from the internet behind our back), need 2025.10.16.
nox.needs_version = ">=2025.10.16"
nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests", "lint", "typecheck"]

# nox looks for uv even for venv sessions and says so at every session start: not our concern.
logging.getLogger("nox").addFilter(lambda record: record.getMessage() != "uv binary not found.")

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]  # keep in step with the classifiers in pyproject.toml
PYPROJECT = nox.project.load_toml("pyproject.toml")


def _group(name: str) -> list[str]:
    return list(nox.project.dependency_groups(PYPROJECT, name))


def _runs(command: str) -> bool:
    """Whether ``command`` on PATH starts (a pyenv shim of an unselected version does not)."""
    found = shutil.which(command)
    if found is None:
        return False
    try:
        done = subprocess.run([found, "-c", ""], capture_output=True, check=False, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def _pyenv_root() -> Path | None:
    if root := os.environ.get("PYENV_ROOT"):
        return Path(root)
    if pyenv := shutil.which("pyenv"):
        done = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False)
        if done.returncode == 0 and done.stdout.strip():
            return Path(done.stdout.strip())
    default = Path.home() / ".pyenv"
    return default if default.is_dir() else None


def _pyenv_bin(root: Path, minor: str) -> Path | None:
    """The bin folder of pyenv's newest final release of ``minor`` (3.12 -> versions/3.12.1)."""
    releases = []
    for bin_dir in root.glob(f"versions/{minor}.*/bin"):
        match = re.fullmatch(re.escape(minor) + r"\.(\d+)", bin_dir.parent.name)
        if match and (bin_dir / f"python{minor}").exists():
            releases.append((int(match.group(1)), bin_dir))
    return max(releases)[1] if releases else None


def _find_pyenv_pythons(versions: Iterable[str]) -> None:
    """Make pyenv's installed interpreters findable when PATH does not run them.

    pyenv only exposes the versions that are selected (``pyenv global``); the shims of the others
    fail. Their bin folders go at the *end* of PATH, so nothing already on PATH is shadowed.
    """
    missing = [v for v in versions if not _runs(f"python{v}")]
    root = _pyenv_root() if missing else None
    if root is None:
        return
    extra = [str(path) for v in missing if (path := _pyenv_bin(root, v)) is not None]
    if extra:
        os.environ["PATH"] = os.pathsep.join([os.environ.get("PATH", ""), *extra])


_find_pyenv_pythons(PYTHONS)


@nox.session(python=PYTHONS, download_python="never")
def tests(session: nox.Session) -> None:
    """Run the test suite against the embedded fake portal (no network), on every core.

    pytest-xdist spreads the tests over the machine's cores (``-n auto``); ``-- -n0`` runs them
    in one process (for ``--pdb`` or ``-s``). Other arguments go to pytest.
    """
    # The speed extra (orjson, msgspec) is installed so that every JSON path is tested: each
    # test that depends on the decoder switches between them at run time (jsonio.use,
    # _calendar_msgspec.use), as a user's B24ASYNC_JSON=stdlib does.
    session.install("-e", ".[progress,redis,speed]", *_group("test"), *_group("package"))
    # Bytecode caches are the venv's and the work tree's own (both ignored by git); an
    # inherited PYTHONDONTWRITEBYTECODE made every run, and every child Python the tests start,
    # compile everything again (~a quarter of the suite's time).
    env = {"PYTHONDONTWRITEBYTECODE": ""}
    session.run("pytest", "-n", "auto", "--dist", "worksteal", *session.posargs, env=env)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install(*_group("lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package (and the typing tests), without and with the speed extra.

    The optional decoders are imported behind guards that must type-check both ways.
    """
    session.install("-e", ".[progress,redis]", *_group("typecheck"))
    session.run("python", "-m", "pip", "uninstall", "--yes", "--quiet", "orjson", "msgspec")
    session.run("mypy", "b24async", "tests/typing")
    session.install("-e", ".[progress,redis,speed]")
    session.run("mypy", "b24async", "tests/typing")


@nox.session
def coverage(session: nox.Session) -> None:
    """The test suite under coverage, subprocesses included; fails below ``fail_under`` (92%).

    Settings are in pyproject's ``[tool.coverage.*]``: line and branch coverage of ``b24async``,
    measured from before pytest starts (``pytest --cov`` starts after our pytest plugin has
    imported the package) and in every Python subprocess (``patch = ["subprocess"]``, 7.10+).
    """
    session.install(
        "-e", ".[progress,redis,speed]", *_group("test"), *_group("package"), "coverage>=7.10.3"
    )
    session.run("coverage", "erase")
    session.run("coverage", "run", "-m", "pytest", *session.posargs)
    session.run("coverage", "combine", "--quiet")
    session.run("coverage", "report")


@nox.session
def demo(session: nox.Session) -> None:
    """Run the main example end to end against the embedded fake portal."""
    session.install("-e", ".[progress]")
    session.run("python", "examples/find_meeting_slot.py", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks: b24async and its peers against one FakePortal (``-- --quick`` for a smoke run).

    The peers (fast-bitrix24, b24pysdk) and matplotlib are installed here only: they are never
    runtime or test dependencies. Results go to benchmarks/results/ (see benchmarks/README.md).
    """
    session.install("-e", ".[speed]", "fast-bitrix24", "b24pysdk", "matplotlib")
    session.run("python", "benchmarks/run.py", *session.posargs)
