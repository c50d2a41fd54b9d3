"""The CLI's pure parts, in process: option types, batch files, credentials, JSON, redaction."""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import inspect
import io
import json

import pytest

from b24async import Availability, ParticipationStatus, UserStatus
from b24async.cli import ExitCode, main
from b24async.cli.batchfile import parse_commands
from b24async.cli.commands import set_param
from b24async.cli.connect import is_webhook_url, resolve_target
from b24async.cli.exits import UsageError, error_body, exit_code_for
from b24async.cli.output import Output, Redactor, jsonable
from b24async.cli.parser import build_parser
from b24async.cli.values import parse_day, parse_flag, parse_ids, positive_id, positive_int
from b24async.errors import (
    AccessDenied,
    AuthError,
    DecodeError,
    InvalidToken,
    MethodError,
    RedirectError,
    TransportError,
)

WEBHOOK = "https://b24-xxx.bitrix24.by/rest/1/abcdef0123456789/"


# --- option types ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ids"),
    [("1", (1,)), ("1,2,34", (1, 2, 34)), ("1 2, 34", (1, 2, 34)), ("[1, 2, 34]", (1, 2, 34))],
)
def test_parse_ids(text: str, ids: tuple[int, ...]) -> None:
    assert parse_ids(text) == ids


@pytest.mark.parametrize("text", ["", "a", "1,x", "[]", "1_000", "١٢", "1.0", "true"])
def test_parse_ids_rejects(text: str) -> None:
    # IDs are read by the codec's integer reader: no underscores, non-ASCII digits or floats.
    with pytest.raises(argparse.ArgumentTypeError):
        parse_ids(text)


@pytest.mark.parametrize(("text", "number"), [("1058", 1058), ('"1058"', 1058), (" 7 ", 7)])
def test_positive_id(text: str, number: int) -> None:
    assert positive_id(text) == number


@pytest.mark.parametrize(
    ("text", "match"), [("x", "numeric ID"), ("1_0", "numeric ID"), ("0", "positive ID")]
)
def test_positive_id_rejects(text: str, match: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=match):
        positive_id(text)


def test_positive_int() -> None:
    assert positive_int("3") == 3
    with pytest.raises(argparse.ArgumentTypeError, match="whole number"):
        positive_int("2.5")
    with pytest.raises(argparse.ArgumentTypeError, match="at least 1"):
        positive_int("0")


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("2025-09-10", dt.date(2025, 9, 10)),
        ("2025-09-10T18:33:57.885176", dt.date(2025, 9, 10)),  # OPI's naive datetime
        ("2025-09-10T18:33:57.8", dt.date(2025, 9, 10)),  # odd fractions (Python 3.10)
        ('"2025-09-10T18:33:57"', dt.date(2025, 9, 10)),  # OPI's doubled quotes, unquoted
        ("2025-09-10 23:30:00+03:00", dt.date(2025, 9, 10)),  # its own zone's date
        ("2025-09-10T22:00:00Z", dt.date(2025, 9, 10)),
    ],
)
def test_parse_day(text: str, day: dt.date) -> None:
    assert parse_day(text) == day


@pytest.mark.parametrize("text", ["10.09.2025", "tomorrow", "2025-13-01"])
def test_parse_day_rejects(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="YYYY-MM-DD"):
        parse_day(text)


@pytest.mark.parametrize(
    ("text", "flag"), [("true", True), ("False", False), ("Y", True), ("n", False), ("1", True)]
)
def test_parse_flag(text: str, flag: bool) -> None:
    assert parse_flag(text) is flag


def test_param_values_are_json_when_they_parse_as_json() -> None:
    args = build_parser().parse_args(
        ["call", "m", "-p", "a=5", "-p", "b=true", "-p", "c=text", "-p", "d=NaN", "-p", "e=[1]"]
    )
    assert args.param == [("a", 5), ("b", True), ("c", "text"), ("d", "NaN"), ("e", [1])]


def test_set_param_nests_like_php() -> None:
    params: dict[str, object] = {}
    set_param(params, "FILTER[>ID]", 100)
    set_param(params, "FILTER[ACTIVE]", True)
    set_param(params, "users[]", 1)
    set_param(params, "users[]", 2)
    set_param(params, "fields[EMAIL][][VALUE]", "a@b.c")
    assert params == {
        "FILTER": {">ID": 100, "ACTIVE": True},
        "users": [1, 2],
        "fields": {"EMAIL": [{"VALUE": "a@b.c"}]},
    }
    with pytest.raises(UsageError, match="conflicts"):
        set_param(params, "users[x]", 3)
    with pytest.raises(UsageError, match="invalid key"):
        set_param(params, "[x]", 3)


def test_options_may_come_before_or_after_the_command() -> None:
    parser = build_parser()
    before = parser.parse_args(["--url", WEBHOOK, "--compact", "im", "status"])
    after = parser.parse_args(["im", "status", "--url", WEBHOOK, "--compact"])
    assert before.url == after.url == WEBHOOK
    assert before.pretty is after.pretty is False
    neither = parser.parse_args(["im", "status"])
    assert not hasattr(neither, "url")  # so that env vars apply


# --- batch files ----------------------------------------------------------------------------


def test_batch_file_shapes() -> None:
    expected = {"0": ("user.current", {}), "1": ("user.get", {"ID": 1})}
    assert parse_commands('["user.current", ["user.get", {"ID": 1}]]') == expected
    assert (
        parse_commands('{"method": "user.current"}\n{"method": "user.get", "params": {"ID": 1}}')
        == expected
    )
    named = parse_commands('{"me": "user.current", "dep": {"method": "department.get"}}')
    assert named == {"me": ("user.current", {}), "dep": ("department.get", {})}
    jsonl = parse_commands('# a comment\n\n{"name": "me", "method": "user.current"}\n')
    assert jsonl == {"me": ("user.current", {})}
    assert parse_commands('{"method": "user.get", "params": null}') == {"0": ("user.get", {})}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("[1]", "a command is"),
        ('{"method": ""}', "non-empty string"),
        ('{"method": "x", "param": {}}', "unknown keys"),
        ('{"method": "x", "params": [1]}', "must be an object"),
        ('{"method": "x"}\n{"method": ', "line 2: invalid JSON"),
        ('{"method": "x", ', "invalid JSON"),
        ('{"name": "a", "method": "x"}\n{"name": "a", "method": "y"}', "duplicate"),
        ("5", "expected a list or an object"),
    ],
)
def test_batch_file_errors_name_the_place(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_commands(text)


# --- credentials ----------------------------------------------------------------------------


def _args(**values: str) -> argparse.Namespace:
    return argparse.Namespace(**values)


def test_webhook_shape() -> None:
    assert is_webhook_url(WEBHOOK)
    assert is_webhook_url("b24-xxx.bitrix24.by/rest/1/code")
    assert not is_webhook_url("b24-xxx.bitrix24.by")
    assert not is_webhook_url("https://b24-xxx.bitrix24.by/rest/")
    assert not is_webhook_url("FILTER[>ID]=5")


def test_credentials_precedence() -> None:
    env = {"B24_WEBHOOK_URL": WEBHOOK, "B24_URL": "portal.by", "B24_TOKEN": "tok"}
    assert resolve_target(_args(), env).url == WEBHOOK
    assert resolve_target(_args(), env).token is None
    # --token alone means the OAuth portal of B24_URL, not the webhook.
    oauth = resolve_target(_args(token="mine"), env)
    assert (oauth.url, oauth.token) == ("portal.by", "mine")
    # --url wins; a portal address takes its token from B24_TOKEN.
    other = resolve_target(_args(url="other.by"), env)
    assert (other.url, other.token) == ("other.by", "tok")
    assert resolve_target(_args(url=WEBHOOK), env).token is None
    env_oauth = resolve_target(_args(), {"B24_URL": "portal.by", "B24_TOKEN": "tok"})
    assert (env_oauth.url, env_oauth.token) == ("portal.by", "tok")
    assert "tok" not in repr(env_oauth)


@pytest.mark.parametrize(
    ("values", "env", "message"),
    [
        ({}, {}, "no credentials"),
        ({"url": "portal.by"}, {}, "give an OAuth access token"),
        ({"url": WEBHOOK, "token": "t"}, {}, "drop --token"),
    ],
)
def test_credential_mistakes(values: dict[str, str], env: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        resolve_target(_args(**values), env)


# --- output, errors, secrets ----------------------------------------------------------------


def test_jsonable_turns_typed_results_into_json() -> None:
    availability = Availability.from_wire(
        {
            "7": [
                {
                    "ID": "31",
                    "NAME": "Standup",
                    "DATE_FROM_TS_UTC": "1767769200",
                    "DATE_TO_TS_UTC": "1767771000",
                    "ACCESSIBILITY": "busy",
                }
            ]
        },
        users=[7, 9],
    )
    data = jsonable({"result": availability})
    assert data["result"]["9"] == []
    entry = data["result"]["7"][0]
    assert entry["id"] == 31 and entry["accessibility"] == "busy"
    assert entry["start"] == "2026-01-07T07:00:00+00:00"
    assert jsonable(ParticipationStatus.HOST) == "H"
    assert jsonable(UserStatus.DND) == "dnd"
    assert jsonable(dt.timedelta(minutes=1)) == 60.0
    assert jsonable(float("nan")) is None
    json.dumps(data)


def test_redactor_hides_webhook_codes_and_tokens() -> None:
    redact = Redactor([WEBHOOK, "tok-123456", None, "ab"])
    text = f"failed {WEBHOOK}user.get and abcdef0123456789 with tok-123456; ab stays"
    assert redact(text) == "failed ***user.get and *** with ***; ab stays"


def test_error_output_is_redacted_json() -> None:
    stdout, stderr = io.StringIO(), io.StringIO()
    out = Output(stdout, stderr, redact=Redactor([WEBHOOK]))
    out.error(error_body(TransportError(f"cannot reach {WEBHOOK}", method="user.get")))
    body = json.loads(stderr.getvalue())
    assert body["error"] == "TRANSPORT_ERROR"
    assert "abcdef0123456789" not in stderr.getvalue()


def test_output_falls_back_to_escapes_on_a_narrow_encoding() -> None:
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="cp1252")
    Output(stream, io.StringIO(), pretty=False).result({"NAME": "Анна"})
    stream.flush()
    assert json.loads(raw.getvalue().decode("cp1252")) == {"NAME": "Анна"}


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (InvalidToken("invalid_token", "", status=401), ExitCode.AUTH),
        (AuthError("INVALID_CREDENTIALS", "", status=401), ExitCode.AUTH),
        (AccessDenied("ACCESS_DENIED", "", status=403), ExitCode.API),
        (MethodError("", "bad", status=400), ExitCode.API),
        (TransportError("down"), ExitCode.NETWORK),
        (DecodeError("html", raw=b"<html>", status=502), ExitCode.NETWORK),
        (RedirectError("too many redirects", location="https://x", status=302), ExitCode.NETWORK),
        (UsageError("x"), ExitCode.USAGE),
        (RuntimeError("bug"), ExitCode.FAILURE),
    ],
)
def test_exit_codes(error: BaseException, code: ExitCode) -> None:
    assert exit_code_for(error) == code


def test_decode_error_body_keeps_status() -> None:
    body = error_body(DecodeError("not JSON", raw=b"<html>502</html>", status=502, method="x"))
    assert body["error"] == "DECODE_ERROR" and body["status"] == 502


def test_redirect_error_body() -> None:
    error = RedirectError(
        "redirect not followed", location="http://a.example", status=301, method="x"
    )
    body = error_body(error)
    assert body["error"] == "REDIRECT_ERROR" and body["status"] == 301 and body["method"] == "x"


# --- entry points ---------------------------------------------------------------------------


def test_main_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert "b24async" in capsys.readouterr().out
    assert main(["calendar"]) == ExitCode.USAGE
    assert main(["im", "status", "--url", "portal.by"]) == ExitCode.USAGE  # no token


@pytest.mark.parametrize(
    "name",
    [
        "b24async.cli",
        "b24async.cli.commands",
        "b24async.cli.parser",
        "b24async.cli.output",
        "b24async.cli.exits",
        "b24async.cli.connect",
        "b24async.cli.batchfile",
        "b24async.cli.batchreport",
        "b24async.cli.helptext",
        "b24async.cli.values",
        "b24async.progress",
    ],
)
def test_public_names_are_documented(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__doc__
    for public in module.__all__:
        obj = getattr(module, public)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), f"{name}.{public} has no docstring"


def test_console_script_points_at_main() -> None:
    from importlib.metadata import entry_points

    scripts = [ep for ep in entry_points(group="console_scripts") if ep.name == "b24async"]
    if not scripts:
        pytest.skip("b24async is not installed here (nox installs it)")
    assert scripts[0].value == "b24async.cli:main"
    assert scripts[0].load() is main
