"""Every CLI command against a fake portal: output, effects, exit status.

The portal runs in this process (the ``portal`` fixture: 50 users, seed 0); the CLI gets
its credentials from the environment or from ``--url``/``--token``, like a user's shell. The
CLI runs in-process (``main(argv)``, see conftest.py), except in the tests marked
``cli_subprocess``: success, a usage error and an API error (exit 0, 2, 3) through ``python -m
b24async`` and real pipes; the other statuses take the API error's path out of ``main``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from b24async.cli import ExitCode
from b24async.testing import FakePortal

RunCli = Callable[..., subprocess.CompletedProcess[str]]


def webhook(portal: FakePortal) -> dict[str, str]:
    return {"B24_WEBHOOK_URL": portal.webhook_url}


def webhook_code(portal: FakePortal) -> str:
    return portal.webhook_url.rstrip("/").rsplit("/", 1)[1]


def assert_no_secret(output: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in output


def meeting(portal: FakePortal, hosted: bool) -> int:
    """An event of user 1 (the webhook's user): one they host, or one they are invited to."""
    for view in portal.state.meetings_of(1):
        if (view.status == "H") == hosted:
            return view.event_id
    raise AssertionError("the seeded calendar has no such meeting for user 1")


def ledger_changes(portal: FakePortal, target: str) -> list[dict[str, Any]]:
    return [dict(entry.change) for entry in portal.ledger if entry.target == target]


# --- call ---------------------------------------------------------------------------------------


@pytest.mark.cli_subprocess  # the real entry point and exit status
def test_call_prints_the_envelope_compact_when_piped(portal: FakePortal, run_cli: RunCli) -> None:
    proc = run_cli("call", "user.current", env=webhook(portal))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.count("\n") == 1  # one compact line: stdout is a pipe
    body = json.loads(proc.stdout)
    assert body["result"]["ID"] == "1"
    assert body["time"]["operating_reset_at"] > 0
    assert_no_secret(proc.stdout, webhook_code(portal))


def test_call_params_nest_with_brackets_and_pretty_indents(
    portal: FakePortal, run_cli: RunCli
) -> None:
    proc = run_cli(
        "call",
        "user.get",
        "--param",
        "FILTER[>ID]=45",
        "-p",
        "FILTER[ACTIVE]=true",
        "--pretty",
        env=webhook(portal),
    )
    assert proc.returncode == 0, proc.stderr
    assert '\n  "result": [' in proc.stdout
    body = json.loads(proc.stdout)
    ids = [int(row["ID"]) for row in body["result"]]
    assert ids and all(i > 45 for i in ids)
    assert all(row["ACTIVE"] is True for row in body["result"])


def test_call_false_is_sent_as_n(portal: FakePortal, run_cli: RunCli) -> None:
    # The trap the facts file warns about: the string "false" re-activates. Parsed as JSON,
    # false goes out as "N" and fires the user, as the user meant.
    proc = run_cli(
        "call", "user.update", "--param", "ID=5", "--param", "ACTIVE=false", env=webhook(portal)
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["result"] is True
    assert ledger_changes(portal, "user:5") == [{"ACTIVE": "N"}]


def test_call_all_streams_every_row_as_jsonl(portal: FakePortal, run_cli: RunCli) -> None:
    proc = run_cli(
        "call",
        "user.get",
        "--json",
        '{"FILTER": {"UF_DEPARTMENT": 11}}',
        "--all",
        "--jsonl",
        env=webhook(portal),
    )
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    expected = [u["ID"] for u in portal.state.users if 11 in u["UF_DEPARTMENT"]]
    assert [row["ID"] for row in rows] == expected
    assert proc.stderr == ""  # no progress bar when stderr is not a terminal


def test_call_all_keyset_collects_one_document(portal: FakePortal, run_cli: RunCli) -> None:
    proc = run_cli("call", "user.get", "--all", "--keyset", env=webhook(portal))
    assert proc.returncode == 0, proc.stderr
    body = json.loads(proc.stdout)
    assert body["total"] == 50
    assert [int(row["ID"]) for row in body["result"]] == list(range(1, 51))


# --- batch --------------------------------------------------------------------------------------


def test_batch_json_object_with_references(
    portal: FakePortal, run_cli: RunCli, tmp_path: Path
) -> None:
    commands = {
        "me": {"method": "user.current"},
        "dep": ["department.get", {"ID": "$result[me][UF_DEPARTMENT][0]"}],
        "status": "im.user.status.get",
    }
    (tmp_path / "cmds.json").write_text(json.dumps(commands), encoding="utf-8")
    proc = run_cli("batch", "cmds.json", env=webhook(portal))
    assert proc.returncode == 0, proc.stderr
    body = json.loads(proc.stdout)
    assert set(body["result"]) == {"me", "dep", "status"}
    assert body["result"]["dep"][0]["ID"] == "1"
    assert body["result_error"] == {} and body["skipped"] == []


def test_batch_jsonl_from_stdin_many_commands_one_failure(
    portal: FakePortal, run_cli: RunCli
) -> None:
    lines = [json.dumps({"method": "user.get", "params": {"ID": i}}) for i in range(1, 61)]
    lines.insert(30, json.dumps({"name": "bad", "method": "user.update", "params": {"ID": 9999}}))
    lines.insert(0, "# comments and blank lines are skipped")
    proc = run_cli("batch", "-", "--jsonl", input="\n".join(lines) + "\n\n", env=webhook(portal))
    assert proc.returncode == 3, proc.stderr  # one command failed
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(out) == 61
    bad = next(item for item in out if item["name"] == "bad")
    assert bad["error"]["error"] == "ERROR_CORE"
    assert bad["error"]["method"] == "user.update"
    ok = {item["name"]: item for item in out if "result" in item}
    assert len(ok) == 60
    # Lines come as outcomes are known (requests finish in any order); names say which is which.
    assert ok["50"]["result"][0]["ID"] == "50" and ok["60"]["result"] == []  # no user 60
    # 61 commands travelled in 2 batch requests, not 61 calls.
    assert portal.stats.requests <= 3


def test_batch_halt_skips_the_rest(portal: FakePortal, run_cli: RunCli, tmp_path: Path) -> None:
    commands = [
        {"method": "user.update", "params": {"ID": 9999, "NAME": "x"}},
        {"method": "user.update", "params": {"ID": 6, "NAME": "y"}},
    ]
    (tmp_path / "cmds.json").write_text(json.dumps(commands), encoding="utf-8")
    proc = run_cli("batch", "cmds.json", "--halt", env=webhook(portal))
    assert proc.returncode == 3
    body = json.loads(proc.stdout)
    assert list(body["result_error"]) == ["0"]
    assert body["skipped"] == ["1"]
    assert ledger_changes(portal, "user:6") == []


def test_batch_progress_bar_only_when_asked_off_a_terminal(
    portal: FakePortal, run_cli: RunCli
) -> None:
    commands = "\n".join(json.dumps(["user.get", {"ID": i}]) for i in range(1, 6))
    quiet = run_cli("batch", "-", input=commands, env=webhook(portal))
    assert quiet.returncode == 0 and quiet.stderr == ""
    shown = run_cli("batch", "-", "--progress", input=commands, env=webhook(portal))
    assert shown.returncode == 0
    assert "batch" in shown.stderr and "5/5" in shown.stderr
    assert json.loads(shown.stdout) == json.loads(quiet.stdout) | {
        "result": json.loads(shown.stdout)["result"]
    }


def test_batch_bad_file_is_a_usage_error(run_cli: RunCli, portal: FakePortal) -> None:
    missing = run_cli("batch", "nope.json", env=webhook(portal))
    assert missing.returncode == 2
    assert "cannot read nope.json" in missing.stderr
    broken = run_cli("batch", "-", input='{"method": "user.get"\n{"x": 1}', env=webhook(portal))
    assert broken.returncode == 2
    assert "invalid JSON" in broken.stderr
    assert portal.stats.requests == 0


# --- typed endpoints ----------------------------------------------------------------------------


def test_calendar_busy_takes_opi_datetimes(portal: FakePortal, run_cli: RunCli) -> None:
    monday = portal.state.anchor
    sunday = monday + dt.timedelta(days=6)
    proc = run_cli(
        "calendar",
        "busy",
        "--users",
        "1,2,34",
        "--from",
        f"{monday}T18:33:57.885176",  # what OPI passes: the date part counts
        "--to",
        sunday.isoformat(),
        env=webhook(portal),
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)["result"]
    assert set(result) == {"1", "2", "34"}
    first = result["1"][0]
    assert dt.datetime.fromisoformat(first["start"]).tzinfo is not None
    assert first["accessibility"] in {"busy", "absent", "quest", "free"}
    assert all(monday <= dt.date.fromisoformat(e["start"][:10]) <= sunday for e in result["2"])


def test_calendar_busy_gives_all_day_entries_an_exclusive_end(
    portal: FakePortal, run_cli: RunCli
) -> None:
    monday = portal.state.anchor
    sunday = monday + dt.timedelta(days=6)
    owners = [
        user
        for user in range(1, 51)
        if any(e.all_day for e in portal.state.events_of(user, monday, sunday))
    ]
    assert owners, "the seeded week has no all-day event"
    users = ",".join(map(str, owners))
    proc = run_cli(
        "calendar",
        "busy",
        "--users",
        users,
        "--from",
        str(monday),
        "--to",
        str(sunday),
        env=webhook(portal),
    )
    assert proc.returncode == 0, proc.stderr
    entries = [e for rows in json.loads(proc.stdout)["result"].values() for e in rows]
    all_day = [e for e in entries if e["all_day"]]
    assert all_day
    for entry in all_day:  # the wire's end is the start of the last day; span covers that day
        start, end = (dt.datetime.fromisoformat(entry[k]) for k in ("start", "end"))
        span_end = dt.datetime.fromisoformat(entry["span"]["end"])
        assert span_end == end + dt.timedelta(days=1) > start
    for entry in entries:
        if not entry["all_day"]:
            assert entry["span"] == {"start": entry["start"], "end": entry["end"]}


def test_calendar_participation_get_and_set(portal: FakePortal, run_cli: RunCli) -> None:
    hosted, invited = meeting(portal, hosted=True), meeting(portal, hosted=False)
    env = webhook(portal)
    host = run_cli("calendar", "participation", "--event", str(hosted), env=env)
    assert host.returncode == 0, host.stderr
    assert json.loads(host.stdout) == {"result": "H"}
    answer = run_cli(
        "calendar", "participation-set", "--event", str(invited), "--status", "n", env=env
    )
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout) == {"result": True}
    assert ledger_changes(portal, f"event:{invited}")[-1]["MEETING_STATUS"] == "N"
    again = run_cli("calendar", "participation", "--event", str(invited), env=env)
    assert json.loads(again.stdout) == {"result": "N"}


def test_im_status_set_then_get(portal: FakePortal, run_cli: RunCli) -> None:
    env = webhook(portal)
    done = run_cli("im", "status-set", "--status", "DND", env=env)  # any case on the CLI
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"result": True}
    now = run_cli("im", "status", env=env)
    assert json.loads(now.stdout) == {"result": "dnd"}


def test_user_fire_activate_and_change_status(portal: FakePortal, run_cli: RunCli) -> None:
    env = webhook(portal)
    for args in (
        ("user", "fire", "--userid", "7"),
        ("user", "activate", "--userid", "7"),
        ("user", "change-status", "--userid", "8"),  # --fire defaults to true, as in OPI
        ("ChangeUserStatus", "--userid", "8", "--fire", "false"),
    ):
        proc = run_cli(*args, env=env)
        assert proc.returncode == 0, (args, proc.stderr)
        assert json.loads(proc.stdout) == {"result": True}
    assert ledger_changes(portal, "user:7") == [{"ACTIVE": "N"}, {"ACTIVE": "Y"}]
    assert ledger_changes(portal, "user:8") == [{"ACTIVE": "N"}, {"ACTIVE": "Y"}]


@pytest.mark.parametrize(
    "args",
    [
        ("user", "fire", "--userid", "1"),
        ("user", "change-status", "--userid", "1", "--fire", "true"),
        ("user", "change-status", "--userid", "1"),
        ("ChangeUserStatus", "--userid", "1"),
    ],
)
def test_firing_the_webhooks_own_user_is_refused(
    portal: FakePortal, run_cli: RunCli, args: tuple[str, ...]
) -> None:
    proc = run_cli(*args, env=webhook(portal))  # the webhook acts as user 1, an admin
    assert proc.returncode == 2, proc.stderr
    assert "refusing to fire user 1" in proc.stderr and "locked out" in proc.stderr
    assert "--force" in proc.stderr
    assert not portal.ledger
    assert portal.state.is_active(1)


def test_firing_oneself_with_force_locks_the_admin_out(portal: FakePortal, run_cli: RunCli) -> None:
    env = webhook(portal)
    other = run_cli("user", "fire", "--userid", "2", env=env)  # someone else: no --force needed
    assert other.returncode == 0, other.stderr
    forced = run_cli("user", "fire", "--userid", "1", "--force", env=env)
    assert forced.returncode == 0, forced.stderr
    assert ledger_changes(portal, "user:1") == [{"ACTIVE": "N"}]
    after = run_cli("call", "user.current", env=env)  # what the guard was for
    assert after.returncode == 5, after.stderr


async def test_firing_the_tokens_own_user_is_refused(
    tmp_path: Path, cli_env: Callable[[Mapping[str, str] | None], dict[str, str]]
) -> None:
    async with FakePortal(users=5) as portal:
        token = portal.issue_tokens(3).access_token
        env = cli_env({"B24_URL": portal.url, "B24_TOKEN": token})
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "b24async",
            "user",
            "fire",
            "--userid",
            "3",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=tmp_path,
        )
        _, stderr = await proc.communicate()
        assert proc.returncode == 2, stderr
        assert b"refusing to fire user 3" in stderr
        assert not portal.ledger


def test_user_list_typed_rows(portal: FakePortal, run_cli: RunCli) -> None:
    proc = run_cli("user", "list", "--active", "false", "--jsonl", env=webhook(portal))
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    fired = [int(u["ID"]) for u in portal.state.users if not u["ACTIVE"]]
    assert [row["id"] for row in rows] == fired
    assert all(row["active"] is False and "email" in row for row in rows)


def test_opi_function_names_and_options_after_the_command(
    portal: FakePortal, run_cli: RunCli
) -> None:
    # oint bitrix24 GetUserParticipationStatus --url ... --event 1058, with b24async instead.
    proc = run_cli(
        "GetUserParticipationStatus",
        "--url",
        portal.webhook_url,
        "--event",
        str(meeting(portal, hosted=True)),
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"result": "H"}


def test_oauth_portal_and_token_from_the_environment(portal: FakePortal, run_cli: RunCli) -> None:
    tokens = portal.issue_tokens(1)
    host = portal.url.removeprefix("http://")  # OPI style: no scheme (loopback: http)
    env = {"B24_URL": portal.url, "B24_TOKEN": tokens.access_token}
    proc = run_cli("im", "status", env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"result": "online"}
    opi = run_cli("GetUserStatus", "--url", f"http://{host}", "--token", tokens.access_token)
    assert opi.returncode == 0, opi.stderr


# --- errors -------------------------------------------------------------------------------------


def test_wrong_token_is_an_auth_error_and_never_printed(
    portal: FakePortal, run_cli: RunCli
) -> None:
    token = "0123456789abcdef-not-a-token"
    proc = run_cli("im", "status", "--url", portal.url, "--token", token)
    assert proc.returncode == 5
    error = json.loads(proc.stderr)
    assert error["error"] == "invalid_token"
    assert error["exception"] == "InvalidToken"
    assert error["method"] == "im.user.status.get"
    assert_no_secret(proc.stdout + proc.stderr, token)


def test_wrong_webhook_code_is_an_auth_error(portal: FakePortal, run_cli: RunCli) -> None:
    code = "wrongcode0000000"
    url = portal.webhook_url.replace(webhook_code(portal), code)
    proc = run_cli("calendar", "participation", "--event", "1", env={"B24_WEBHOOK_URL": url})
    assert proc.returncode == 5
    assert json.loads(proc.stderr)["error"] == "INVALID_CREDENTIALS"
    assert_no_secret(proc.stdout + proc.stderr, code, url)


def test_expired_token_without_refresh_is_an_auth_error(
    portal: FakePortal, run_cli: RunCli
) -> None:
    tokens = portal.issue_tokens(1)
    portal.expire_access_tokens()
    proc = run_cli("im", "status", env={"B24_URL": portal.url, "B24_TOKEN": tokens.access_token})
    assert proc.returncode == 5
    assert json.loads(proc.stderr)["error"] == "expired_token"
    assert_no_secret(proc.stdout + proc.stderr, tokens.access_token)


@pytest.mark.cli_subprocess  # the real entry point and exit status
def test_api_error_exit_3_with_the_portal_error_on_stderr(
    portal: FakePortal, run_cli: RunCli
) -> None:
    proc = run_cli("calendar", "participation", "--event", "999999", env=webhook(portal))
    assert proc.returncode == 3
    assert proc.stdout == ""
    error = json.loads(proc.stderr)
    assert error == {
        "error": "",
        "error_description": "An error occurred while retrieving the status",
        "method": "calendar.meeting.status.get",
        "status": 400,
        "exception": "MethodError",
    }
    unknown = run_cli("call", "no.such.method", env=webhook(portal))
    assert unknown.returncode == 3
    assert json.loads(unknown.stderr)["exception"] == "MethodNotFound"


def test_network_error_exit_4(run_cli: RunCli) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code = "closedport000000"
    url = f"http://127.0.0.1:{port}/rest/1/{code}/"
    proc = run_cli("im", "status", "--retries", "2", env={"B24_WEBHOOK_URL": url})
    assert proc.returncode == 4
    error = json.loads(proc.stderr.splitlines()[-1])
    assert error["error"] == "TRANSPORT_ERROR"
    assert error["exception"] == "TransportError"
    assert "retry 1" in proc.stderr  # the retry is logged
    assert_no_secret(proc.stdout + proc.stderr, code)


@pytest.mark.cli_subprocess  # the real entry point and exit status
def test_missing_option_is_a_usage_error(portal: FakePortal, run_cli: RunCli) -> None:
    proc = run_cli("calendar", "busy", "--users", "1", "--from", "2025-09-10", env=webhook(portal))
    assert proc.returncode == 2
    assert "the following arguments are required: --to" in proc.stderr
    assert proc.stdout == ""
    assert portal.stats.requests == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("im", "status-set", "--status", "bogus"), "invalid choice: 'bogus'"),
        (("calendar", "participation-set", "--event", "5", "--status", "H"), "but not set"),
        (
            ("calendar", "busy", "--users", "1", "--from", "2025-09-17", "--to", "2025-09-10"),
            "is before start",
        ),
        (("calendar", "busy", "--users", "a,b", "--from", "x", "--to", "y"), "expected user IDs"),
        (("user", "change-status", "--userid", "5", "--fire", "maybe"), "expected true or false"),
        (("call", "user.get", "--param", "noequals"), "expected KEY=VALUE"),
    ],
)
def test_bad_values_are_usage_errors_and_nothing_is_sent(
    portal: FakePortal, run_cli: RunCli, args: tuple[str, ...], message: str
) -> None:
    proc = run_cli(*args, env=webhook(portal))
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert portal.stats.requests == 0


def test_no_credentials(run_cli: RunCli) -> None:
    proc = run_cli("im", "status")
    assert proc.returncode == 2
    assert "no credentials" in proc.stderr and "B24_WEBHOOK_URL" in proc.stderr
    portal_only = run_cli("im", "status", "--url", "b24-xxx.bitrix24.by")
    assert portal_only.returncode == 2
    assert "--token" in portal_only.stderr


def test_a_webhook_url_given_without_url_is_not_echoed(run_cli: RunCli) -> None:
    url = "https://b24-xxx.bitrix24.by/rest/1/s3cr3tc0de9876/"
    proc = run_cli("im", "status", url)  # forgot --url: argparse reports the stray argument
    assert proc.returncode == 2
    assert "unrecognized arguments" in proc.stderr
    assert_no_secret(proc.stderr, "s3cr3tc0de9876")


def test_help_explains_options_env_and_exit_codes(run_cli: RunCli) -> None:
    top = run_cli("--help")
    assert top.returncode == 0
    for text in ("B24_WEBHOOK_URL", "B24_TOKEN", "exit status", "GetUserBusy", "calendar"):
        assert text in top.stdout
    busy = run_cli("calendar", "busy", "--help")
    assert busy.returncode == 0
    for text in ("--users", "--from", "--to", "date part", "--url", "--token", "exit status"):
        assert text in busy.stdout
    for code in ExitCode:  # every status the CLI can return is explained, as in the README
        assert re.search(rf"^ +{int(code)}  \S", top.stdout, re.MULTILINE), code
        assert re.search(rf"^ +{int(code)}  \S", busy.stdout, re.MULTILINE), code
    batch = run_cli("batch", "--help")
    for text in ("JSON Lines", "--halt", "--jsonl", "exit status is 3"):
        assert text in batch.stdout


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_on_a_terminal_output_is_indented_and_a_progress_bar_is_drawn(
    portal: FakePortal,
    tmp_path: Path,
    cli_env: Callable[[Mapping[str, str] | None], dict[str, str]],
) -> None:
    import fcntl
    import pty
    import select
    import struct
    import termios

    (tmp_path / "cmds.jsonl").write_text(
        "\n".join(json.dumps(["user.get", {"ID": i}]) for i in range(1, 8)), encoding="utf-8"
    )
    main_fd, sub_fd = pty.openpty()
    # A new pseudo-terminal has 0 columns; a real one has a size that bars are fitted to.
    fcntl.ioctl(sub_fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "b24async", "batch", "cmds.jsonl"],
        stdin=subprocess.DEVNULL,
        stdout=sub_fd,
        stderr=sub_fd,
        env=cli_env(webhook(portal)),
        cwd=tmp_path,
    )
    os.close(sub_fd)
    screen = b""
    try:
        while True:
            ready, _, _ = select.select([main_fd], [], [], 30)
            if not ready:
                raise AssertionError("the CLI wrote nothing for 30 s")
            try:
                chunk = os.read(main_fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            screen += chunk
    finally:
        os.close(main_fd)
        assert proc.wait(timeout=30) == 0
    text = screen.decode("utf-8", "replace")
    assert "batch" in text and "7/7" in text  # the bar, on stderr
    assert '\n  "result": {' in text.replace("\r\n", "\n")  # indented JSON, on stdout
