"""Every example runs as a user would run it, and does what it says.

Each runs as ``python examples/NAME.py`` would run it, with no ``B24_*`` variables, so it starts
its embedded fake portal; some runs point ``B24_WEBHOOK_URL`` (or the OAuth variables) at a
portal served by the test, to check the "talk to that portal" path and the portal-side effects.
Most run in this process (the script as ``__main__``, see :func:`run_example`: an interpreter
start-up saved per run, and a warning is an error here); the runs with ``process=True`` are
real subprocesses (one or more per example), for the script's own start and exit status.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import runpy
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import closing
from pathlib import Path

import pytest

from b24async import Bitrix24
from b24async.testing import FakePortal

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


def run_example(
    name: str,
    *args: str,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    process: bool = False,
) -> subprocess.CompletedProcess[str]:
    """``python examples/NAME ARGS`` in ``cwd``, with no ``B24_*`` variables but ``env``.

    In this process unless ``process``: the script runs as ``__main__`` with the same argv,
    environment, working directory, ``sys.path[0]`` (the examples folder) and an empty stdin,
    its text output captured from non-terminal streams, its exit status from ``SystemExit``.
    """
    if not process:
        return _run_in_process(name, args, cwd, env)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("B24_")}
    environment["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO), environment.get("PYTHONPATH")) if p
    )
    environment["PYTHONIOENCODING"] = "utf-8"
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=environment,
        cwd=cwd,
        timeout=120,
    )


def _run_in_process(
    name: str, args: tuple[str, ...], cwd: Path, env: Mapping[str, str] | None
) -> subprocess.CompletedProcess[str]:
    script = str(EXAMPLES / name)
    stdout, stderr = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        for variable in [v for v in os.environ if v.startswith("B24_")]:
            patch.delenv(variable)
        for variable, value in (env or {}).items():
            patch.setenv(variable, value)
        patch.chdir(cwd)
        patch.syspath_prepend(str(EXAMPLES))  # what python puts first: the script's folder
        patch.setattr(sys, "argv", [script, *args])
        patch.setattr(sys, "stdin", io.StringIO(""))
        patch.setattr(sys, "stdout", stdout)
        patch.setattr(sys, "stderr", stderr)
        try:
            runpy.run_path(script, run_name="__main__")
            code = 0
        except SystemExit as exit_:
            if exit_.code is None or isinstance(exit_.code, int):
                code = exit_.code or 0
            else:  # sys.exit("message"): printed to stderr, status 1
                print(exit_.code, file=stderr)
                code = 1
    return subprocess.CompletedProcess(
        [sys.executable, script, *args], code, stdout.getvalue(), stderr.getvalue()
    )


@pytest.fixture
def portal() -> Iterator[FakePortal]:
    with FakePortal.running(users=50, seed=0) as running:
        yield running


def test_every_example_is_tested() -> None:
    tested = {
        "find_meeting_slot.py",
        "bulk_deactivate.py",
        "sync_users.py",
        "oauth_app.py",
        "calendar_cache.py",
        "distributed_sync.py",  # in tests/shared (it needs a Redis server)
    }
    assert {p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_")} == tested


# --- find_meeting_slot --------------------------------------------------------------------------

SLOT = re.compile(r"^  \w{3} \d{2} \w{3}  (\d{2}:\d{2})-(\d{2}:\d{2})  \(.+ free\)$", re.MULTILINE)


def test_find_meeting_slot_runs_as_is(tmp_path: Path) -> None:
    proc = run_example("find_meeting_slot.py", cwd=tmp_path, process=True)
    assert proc.returncode == 0, proc.stderr
    assert "embedded fake portal" in proc.stdout
    assert "Team: " in proc.stdout
    assert "Common free slots" in proc.stdout
    assert SLOT.search(proc.stdout)


def test_find_meeting_slot_slots_fit_the_working_hours(tmp_path: Path, portal: FakePortal) -> None:
    proc = run_example(
        "find_meeting_slot.py",
        "--users",
        "1,2,3",
        "--tz",
        "Europe/Moscow",
        "--hours",
        "10-17",
        "--duration",
        "45",
        cwd=tmp_path,
        env={"B24_WEBHOOK_URL": portal.webhook_url},
    )
    assert proc.returncode == 0, proc.stderr
    assert "embedded" not in proc.stdout  # it talked to the portal it was given
    assert "Team: Mark Johnson (1), Steven Moore (2), Thomas Harris (3)" in proc.stdout
    slots = SLOT.findall(proc.stdout)
    assert slots
    for start, end in slots:
        assert "10:00" <= start < end <= "17:00"
    assert portal.stats.commands["calendar.accessibility.get"] >= 1


def test_find_meeting_slot_says_who_it_left_out(tmp_path: Path, portal: FakePortal) -> None:
    assert not portal.state.is_active(34)  # fired in the seed data
    proc = run_example(
        "find_meeting_slot.py",
        "--users",
        "1,2,34,4242",
        cwd=tmp_path,
        env={"B24_WEBHOOK_URL": portal.webhook_url},
    )
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^Left out, not active \(fired\): .+ \(34\)\.$", proc.stdout, re.MULTILINE)
    assert "Left out, no such user: 4242." in proc.stdout
    team = next(line for line in proc.stdout.splitlines() if line.startswith("Team: "))
    assert "(1)" in team and "(2)" in team and "(34)" not in team


# --- bulk_deactivate ----------------------------------------------------------------------------

CSV_ROWS = """\
user_id,action,comment
5,fire,
7,deactivate,
17,activate,fired in the seed data
20,activate,already active
4242,fire,no such user
abc,fire,not an ID
9,promote,unknown action
1,fire,the webhook's own user
"""


def read_report(path: Path) -> dict[int, tuple[str, str, str]]:
    """CSV line number -> (user_id, outcome, detail)."""
    with path.open(newline="", encoding="utf-8") as file:
        return {
            int(row["line"]): (row["user_id"], row["outcome"], row["detail"])
            for row in csv.DictReader(file)
        }


def test_bulk_deactivate_reports_changes_and_failures(tmp_path: Path) -> None:
    (tmp_path / "leavers.csv").write_text(CSV_ROWS, encoding="utf-8")
    proc = run_example("bulk_deactivate.py", "leavers.csv", "--report", "report.csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Summary: changed 3, unchanged 1, failed 4" in proc.stdout
    assert "The fake portal's ledger holds 3 user.update write(s)." in proc.stdout
    report = read_report(tmp_path / "report.csv")
    assert report[2] == ("5", "changed", "fired")
    assert report[3] == ("7", "changed", "fired")
    assert report[4] == ("17", "changed", "re-activated")
    assert report[5] == ("20", "unchanged", "already active")
    assert report[6] == ("4242", "failed", "no user 4242 on this portal")
    assert report[7] == ("", "failed", "'abc' is not a user ID")
    assert report[8][1:] == ("failed", "unknown action 'promote' (use fire or activate)")
    assert report[9][:2] == ("1", "failed") and "locks an admin out" in report[9][2]
    strict = run_example(
        "bulk_deactivate.py", "leavers.csv", "--strict", cwd=tmp_path, process=True
    )
    assert strict.returncode == 1
    # Re-activating oneself is harmless: only firing oneself is refused.
    (tmp_path / "me.csv").write_text("user_id,action\n1,activate\n", encoding="utf-8")
    me = run_example("bulk_deactivate.py", "me.csv", "--report", "me-report.csv", cwd=tmp_path)
    assert me.returncode == 0, me.stderr
    assert read_report(tmp_path / "me-report.csv")[2] == ("1", "unchanged", "already active")


def test_bulk_deactivate_against_a_portal_changes_it(tmp_path: Path, portal: FakePortal) -> None:
    (tmp_path / "leavers.csv").write_text("user_id,action\n5,fire\n6,fire\n", encoding="utf-8")
    env = {"B24_WEBHOOK_URL": portal.webhook_url}
    dry = run_example("bulk_deactivate.py", "leavers.csv", "--dry-run", cwd=tmp_path, env=env)
    assert dry.returncode == 0, dry.stderr
    assert "would be sent (dry run)" in dry.stdout
    assert not portal.ledger
    proc = run_example("bulk_deactivate.py", "leavers.csv", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "Summary: changed 2, unchanged 0, failed 0" in proc.stdout
    assert [(e.target, dict(e.change)) for e in portal.ledger] == [
        ("user:5", {"ACTIVE": "N"}),
        ("user:6", {"ACTIVE": "N"}),
    ]
    again = run_example("bulk_deactivate.py", "leavers.csv", cwd=tmp_path, env=env)
    assert "Summary: changed 0, unchanged 2, failed 0" in again.stdout


def test_bulk_deactivate_reports_the_portals_refusal(tmp_path: Path, portal: FakePortal) -> None:
    (tmp_path / "leavers.csv").write_text("user_id,action\n7,fire\n", encoding="utf-8")
    not_admin = portal.add_webhook(5)  # user 5 may not edit other users
    proc = run_example(
        "bulk_deactivate.py",
        "leavers.csv",
        "--report",
        "r.csv",
        cwd=tmp_path,
        env={"B24_WEBHOOK_URL": not_admin},
    )
    assert proc.returncode == 0, proc.stderr
    assert "Summary: changed 0, unchanged 0, failed 1" in proc.stdout
    assert read_report(tmp_path / "r.csv")[2] == ("7", "failed", "ERROR_CORE: access_denied")
    assert not portal.ledger


# --- sync_users ---------------------------------------------------------------------------------


def stored_ids(db: Path) -> list[int]:
    # A connection's context manager only commits: closing() closes it (Python 3.13 warns
    # about an unclosed database, and the suite turns warnings into errors).
    with closing(sqlite3.connect(db)) as conn:
        return [row[0] for row in conn.execute("SELECT id FROM users ORDER BY id")]


def test_sync_users_resumes_without_duplicates(tmp_path: Path) -> None:
    db = tmp_path / "users.sqlite"
    args = ("--db", str(db), "--fake-users", "230")
    first = run_example("sync_users.py", *args, "--stop-after", "120", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "Stopped after 120 users" in first.stdout
    assert stored_ids(db) == list(range(1, 121))

    second = run_example("sync_users.py", *args, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "Resuming the interrupted sync after user 120." in second.stdout
    assert "Synced 110 users" in second.stdout and "110 new" in second.stdout
    assert stored_ids(db) == list(range(1, 231))

    third = run_example("sync_users.py", *args, cwd=tmp_path)
    assert "Starting a full pass (230 users stored so far)." in third.stdout
    assert "0 new, 230 refreshed" in third.stdout
    assert stored_ids(db) == list(range(1, 231))
    with closing(sqlite3.connect(db)) as conn:
        row = conn.execute("SELECT name, departments, active FROM users WHERE id = 1").fetchone()
        state = dict(conn.execute("SELECT key, value FROM sync_state").fetchall())
    assert row[0] == "Mark" and json.loads(row[1]) == [1] and row[2] == 1
    assert "cursor" not in state and "last_complete" in state


def test_sync_users_from_a_given_portal(tmp_path: Path, portal: FakePortal) -> None:
    proc = run_example(
        "sync_users.py", cwd=tmp_path, env={"B24_WEBHOOK_URL": portal.webhook_url}, process=True
    )
    assert proc.returncode == 0, proc.stderr
    assert stored_ids(tmp_path / "users.sqlite") == list(range(1, 51))  # default --db


# --- oauth_app ----------------------------------------------------------------------------------


def test_oauth_app_refreshes_once_and_persists_the_pair(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.json"
    proc = run_example("oauth_app.py", "--tokens", str(tokens), cwd=tmp_path, process=True)
    assert proc.returncode == 0, proc.stderr
    assert "Token refreshes: 1. Token file writes: 2." in proc.stdout
    assert "5 concurrent calls after that: all answered" in proc.stdout
    # The embedded portal ends with the run: it must not promise that the next run resumes.
    assert "the next run installs the app afresh" in proc.stdout
    assert "the next run starts from it" not in proc.stdout
    saved = json.loads(tokens.read_text(encoding="utf-8"))
    assert set(saved) == {"access_token", "refresh_token", "expires_at", "saved_at"}
    for secret in (saved["access_token"], saved["refresh_token"]):
        assert secret not in proc.stdout + proc.stderr
    if os.name == "posix":
        assert tokens.stat().st_mode & 0o077 == 0  # owner-only


async def test_oauth_app_against_a_portal_saves_a_working_pair(tmp_path: Path) -> None:
    async with FakePortal(users=5) as portal:
        issued = portal.issue_tokens(1)
        portal.expire_access_tokens()  # the app was installed an hour ago
        env = {
            "B24_URL": portal.url,
            "B24_CLIENT_ID": portal.client_id,
            "B24_CLIENT_SECRET": portal.client_secret,
            "B24_OAUTH_URL": portal.oauth_url,
            "B24_ACCESS_TOKEN": issued.access_token,
            "B24_REFRESH_TOKEN": issued.refresh_token,
        }
        tokens = tmp_path / "tokens.json"
        proc = await _run_in_thread("oauth_app.py", "--tokens", str(tokens), cwd=tmp_path, env=env)
        assert proc.returncode == 0, proc.stderr
        assert "embedded" not in proc.stdout
        assert "Token refreshes: 1." in proc.stdout
        assert "the next run starts from it." in proc.stdout
        saved = json.loads(tokens.read_text(encoding="utf-8"))
        assert saved["access_token"] != issued.access_token
        assert saved["refresh_token"] != issued.refresh_token
        for secret in (*saved.values(), issued.access_token, portal.client_secret):
            assert str(secret) not in proc.stdout + proc.stderr
        async with Bitrix24(portal.url, token=saved["access_token"]) as b24:
            assert (await b24.call("user.current")).result["ID"] == "1"
        # The next run starts from the file (the variables are not needed any more).
        again_env = {k: v for k, v in env.items() if "TOKEN" not in k}
        again = await _run_in_thread(
            "oauth_app.py", "--tokens", str(tokens), cwd=tmp_path, env=again_env
        )
        assert again.returncode == 0, again.stderr
        assert "Token refreshes: 0." in again.stdout


# --- calendar_cache -----------------------------------------------------------------------------


def test_calendar_cache_embedded_syncs_and_matches_the_portal(tmp_path: Path) -> None:
    db = tmp_path / "cache.sqlite"
    proc = run_example("calendar_cache.py", "--db", str(db), cwd=tmp_path, process=True)
    assert proc.returncode == 0, proc.stderr
    assert "Synced 8 offline events" in proc.stdout
    assert "The cache matches the portal: yes." in proc.stdout
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT owner FROM entries WHERE name = 'Launch review (room 2)'")
        assert sorted(owner for (owner,) in rows) == [2, 3, 4]  # one copy per attendee
        assert not conn.execute("SELECT 1 FROM entries WHERE name = 'Dentist'").fetchall()


async def test_calendar_cache_against_a_portal_across_runs(tmp_path: Path) -> None:
    async with FakePortal(users=5) as portal:
        env = {"B24_URL": portal.url, "B24_ACCESS_TOKEN": portal.issue_tokens(1).access_token}
        db = tmp_path / "cache.sqlite"
        first = await _run_in_thread(
            "calendar_cache.py", "--db", str(db), "--users", "2", cwd=tmp_path, env=env
        )
        assert first.returncode == 0, first.stderr
        assert "embedded" not in first.stdout and "Synced 0 offline events" in first.stdout
        async with Bitrix24(portal.webhook_url) as other:  # changes made between two runs
            day = "2026-03-03"
            params = {"type": "user", "ownerId": 2, "name": "Between runs",
                      "from": f"{day}T09:00:00", "to": f"{day}T10:00:00"}  # fmt: skip
            entry = (await other.call("calendar.event.add", params)).result
        second = await _run_in_thread("calendar_cache.py", "--db", str(db), cwd=tmp_path, env=env)
        assert second.returncode == 0, second.stderr
        assert "Synced 1 offline events" in second.stdout
        with closing(sqlite3.connect(db)) as conn:
            (name,) = conn.execute("SELECT name FROM entries WHERE id = ?", (entry,)).fetchone()
        assert name == "Between runs"
        assert portal.offline_queue() == []
        assert env["B24_ACCESS_TOKEN"] not in first.stdout + second.stdout


async def _run_in_thread(
    name: str, *args: str, cwd: Path, env: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    # The portal serves from this event loop: wait for the example without blocking it.
    import asyncio

    return await asyncio.to_thread(run_example, name, *args, cwd=cwd, env=env)
