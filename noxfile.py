"""Developer tasks. Every session runs on the interpreter nox itself runs on.

CI has one Python (3.11); pinning sessions to a list of versions would make nox fail there
under ``CI=true``. Running on the current interpreter keeps ``nox -s tests`` true everywhere.
"""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests", "lint", "typecheck"]

PYPROJECT = nox.project.load_toml("pyproject.toml")


def _group(name: str) -> list[str]:
    return list(nox.project.dependency_groups(PYPROJECT, name))


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite against the embedded fake portal (no network)."""
    # The speed extra (orjson) is installed so that both JSON decoders are tested.
    session.install("-e", ".[progress,redis,speed]", *_group("test"))
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install(*_group("lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package (and the typing tests)."""
    session.install("-e", ".[progress,redis]", *_group("typecheck"))
    session.run("mypy", "b24async", "tests/typing")


@nox.session
def coverage(session: nox.Session) -> None:
    """The test suite under coverage, subprocesses included; fails below ``fail_under`` (92%).

    Settings are in pyproject's ``[tool.coverage.*]``: line and branch coverage of ``b24async``,
    measured from before pytest starts (``pytest --cov`` starts after our pytest plugin has
    imported the package) and in every Python subprocess (``patch = ["subprocess"]``, 7.10+).
    """
    session.install("-e", ".[progress,speed]", *_group("test"), "coverage>=7.10.3")
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
