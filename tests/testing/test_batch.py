"""batch: parsing, the 50-command cap, halt, references and the PHP-shaped reply (facts §4)."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from b24async.testing import FakePortal
from b24async.testing.batch import run_batch, split_command, substitute
from b24async.testing.commands import CommandDone, Outcome
from b24async.testing.jsontext import PrintedMap, json_bytes
from b24async.testing.methods import MethodResult
from b24async.testing.phpquery import build_query_php
from b24async.testing.replies import RestError, encode_json

from .conftest import call

MAPS: dict[str, Any] = {
    "result": {
        "me": {"ID": "7", "UF_DEPARTMENT": [3, 5], "NAME": "Ann", "FLAG": True, "N": None},
        "list": [{"ID": "11"}, {"ID": "12"}],
        "n": 42,
        "f": 1.5,
    },
    "next": {"list": 50},
    "total": {"list": 120},
    "time": {},
    "error": {"bad": {"error": "X", "error_description": "y"}},
}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("$result[me][ID]", "7"),
        ("$result[me][UF_DEPARTMENT]", [3, 5]),  # a whole-value reference inserts arrays
        ("$result[me][UF_DEPARTMENT][1]", 5),
        ("$result[list][1][ID]", "12"),
        ("$result[me][NOPE][x]", MAPS["result"]["me"]),  # the walk stops at the missing key
        ("$result[me][N]", MAPS["result"]["me"]),  # null is not set
        ("$result[me][NAME][0]", "A"),  # PHP string offsets
        ("$next[list]", 50),
        ("$total[list]", 120),
        ("$error[bad][error]", "X"),
        ("id=$result[me][ID] ok", "id=7 ok"),
        ("n$result[n]", "n42"),
        ("f $result[f]", "f 1.5"),
        ("x $result[me][UF_DEPARTMENT]", "x $result[me][UF_DEPARTMENT]"),  # arrays only whole
        ("x $result[me][FLAG]", "x $result[me][FLAG]"),  # booleans are not substituted
        ("$RESULT[me][ID]", None),  # the pattern ignores case, the lookup does not
        ("$result", "$result"),  # no path: left alone
        ("$result[me][ID],tail", "7"),  # CORE's reference runs to the next whitespace
        ("plain", "plain"),
    ],
)
def test_substitute_value(value: str, expected: Any) -> None:
    assert substitute(value, MAPS) == expected


def test_substitute_walks_nested_params() -> None:
    params = {"filter": {">ID": "$result[list][1][ID]"}, "ids": ["$result[me][ID]", "x"]}
    assert substitute(params, MAPS) == {"filter": {">ID": "12"}, "ids": ["7", "x"]}


def test_split_command() -> None:
    assert split_command("user.get?ID=1&x=%26") == ("user.get", "ID=1&x=%26")
    assert split_command("user.current") == ("user.current", "")
    assert split_command("user.get?ID=1#frag") == ("user.get", "ID=1")


class Recorder:
    """A fake executor: fails methods starting with "fail", echoes params otherwise."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, method: str, params: dict[str, Any]) -> Outcome:
        self.calls.append((method, params))
        if method.startswith("fail"):
            return RestError(400, "ERROR_CORE", method)
        total = 100 if method == "list" else None
        result = MethodResult(result=params, total=total, next=50 if total else None)
        return CommandDone(result, {"processing": 0.25}, 0.25)


async def test_commands_run_in_order_with_references() -> None:
    execute = Recorder()
    cmd = {"a": "echo?ID=1", "b": "echo?X=$result[a][ID]", "l": "list", "c": "Echo?start=5"}
    run = await run_batch({"cmd": cmd}, execute)
    assert [method for method, _ in execute.calls] == ["echo", "echo", "list", "echo"]
    assert execute.calls[1][1] == {"X": "1"}
    assert execute.calls[3][1] == {"start": "5"}  # start is the runner's business
    assert run.result["result"]["b"] == {"X": "1"}
    assert run.result["result_total"] == {"l": 100}
    assert run.result["result_next"] == {"l": 50}
    assert list(run.result["result_time"]) == ["a", "b", "l", "c"]
    assert run.processing == 1.0


@pytest.mark.parametrize("key", ["halt", "HALT", "Halt"])
@pytest.mark.parametrize(
    ("halt", "stops"),
    [(1, True), ("1", True), ("false", True), (True, True), (0, False), ("0", False), ("", False)],
)
async def test_halt_is_a_php_bool(key: str, halt: Any, stops: bool) -> None:
    execute = Recorder()
    cmd = {"a": "echo", "b": "fail.one", "c": "echo"}
    run = await run_batch({key: halt, "CMD": cmd}, execute)
    assert run.result["result_error"] == {
        "b": {"error": "ERROR_CORE", "error_description": "fail.one"}
    }
    if stops:
        assert list(run.result["result"]) == ["a"]
        assert "c" not in run.result["result_time"]
    else:
        assert list(run.result["result"]) == ["a", "c"]


async def test_length_cap_and_skipped_entries() -> None:
    execute = Recorder()
    cmd: list[Any] = ["echo"] * 49 + [{"not": "a string"}] + ["echo", "echo"]
    run = await run_batch({"cmd": cmd}, execute)
    assert len(execute.calls) == 49  # the non-string entry counted as one of the 50
    exceeded = {
        "error": "ERROR_BATCH_LENGTH_EXCEEDED",
        "error_description": "Max batch length exceeded",
    }
    assert run.result["result_error"] == {"50": exceeded, "51": exceeded}
    halted = await run_batch({"cmd": cmd, "halt": 1}, Recorder())
    assert halted.result["result_error"] == {"50": exceeded}


async def test_not_allowed_methods_and_missing_cmd() -> None:
    execute = Recorder()
    run = await run_batch(
        {"cmd": {"b": "batch?cmd[x]=echo", "u": "UPLOAD", "d": "download"}}, execute
    )
    assert execute.calls == []
    assert set(run.result["result_error"]) == {"b", "u", "d"}
    assert run.result["result_error"]["b"]["error"] == "ERROR_BATCH_METHOD_NOT_ALLOWED"
    empty = await run_batch({"halt": 0}, execute)
    assert encode_json(empty.result) == (
        b'{"result":[],"result_error":[],"result_total":[],"result_next":[],"result_time":[]}'
    )
    scalar = await run_batch({"cmd": "user.current"}, execute)
    assert scalar.result["result"] == {}


async def test_over_http_json_and_form(session: aiohttp.ClientSession) -> None:
    async with FakePortal(users=10) as portal:
        url = portal.webhook_url + "batch"
        cmd = {
            "me": "user.current",
            "same": "user.get?ID=$result[me][ID]",
            "page": "user.get?start=5",
            "nope": "no.such.method",
            "nested": "batch?cmd[x]=user.current",
        }
        for kwargs in ({"json": {"cmd": cmd}}, {"data": build_query_php({"cmd": cmd})}):
            status, body = await call(session, url, **kwargs)
            assert status == 200
            result = body["result"]
            assert result["result"]["same"][0]["ID"] == result["result"]["me"]["ID"] == "1"
            assert [row["ID"] for row in result["result"]["page"]][:2] == ["6", "7"]
            assert result["result_total"] == {"same": 1, "page": 10}
            assert result["result_next"] == []  # the page of 5 is the last one
            assert result["result_error"] == {
                "nope": {
                    "error": "ERROR_METHOD_NOT_FOUND",
                    "error_description": "Method not found!",
                },
                "nested": {
                    "error": "ERROR_BATCH_METHOD_NOT_ALLOWED",
                    "error_description": "Method is not allowed for batch usage",
                },
            }
            assert set(result["result_time"]) == {"me", "same", "page"}
            assert set(body["time"]) == {
                "start", "finish", "duration", "processing", "date_start", "date_finish",
                "operating_reset_at", "operating",
            }  # fmt: skip
        assert portal.stats.batches == 2
        assert portal.stats.batch_errors["ERROR_METHOD_NOT_FOUND"] == 2


async def test_list_cmd_gives_json_arrays(session: aiohttp.ClientSession) -> None:
    async with FakePortal(users=3) as portal:
        cmd = ["user.current", "server.time", "no.such"]
        status, body = await call(session, portal.webhook_url + "batch", json={"cmd": cmd})
        assert status == 200
        assert isinstance(body["result"]["result"], list)
        assert body["result"]["result"][0]["ID"] == "1"
        assert body["result"]["result_error"] == {
            "2": {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"}
        }
        cmd = ["no.such", "user.current"]
        status, body = await call(session, portal.webhook_url + "batch", json={"cmd": cmd})
        assert body["result"]["result"]["1"]["ID"] == "1"  # key 0 is missing: an object
        assert isinstance(body["result"]["result_error"], list)


async def test_all_failing_batch_is_still_200(session: aiohttp.ClientSession) -> None:
    async with FakePortal(users=3) as portal:
        cmd = {"a": "no.such", "b": "batch"}
        status, body = await call(session, portal.webhook_url + "batch", json={"cmd": cmd})
        assert status == 200
        assert body["result"]["result"] == []
        assert set(body["result"]["result_error"]) == {"a", "b"}


async def test_writes_inside_batch_reach_the_ledger(session: aiohttp.ClientSession) -> None:
    async with FakePortal(users=5) as portal:
        cmd = {"fire": "user.update?ID=4&ACTIVE=N", "check": "user.get?ID=4&ADMIN_MODE=Y"}
        status, body = await call(session, portal.webhook_url + "batch", json={"cmd": cmd})
        assert status == 200, body
        assert body["result"]["result"]["fire"] is True
        assert [(entry.method, entry.target) for entry in portal.ledger] == [
            ("user.update", "user:4")
        ]


async def test_references_into_printed_results_insert_plain_values() -> None:
    """A result kept printed (calendar.accessibility.get) reads as the dict it stands for."""
    plain = {"5": [{"ID": "31", "FROM_HR": True}], "6": []}
    printed = PrintedMap({key: json_bytes(value) for key, value in plain.items()})
    calls: list[dict[str, Any]] = []

    async def execute(method: str, arguments: dict[str, Any]) -> Outcome:
        calls.append(arguments)
        if method == "acc":
            return CommandDone(MethodResult(printed, printed=printed.pieces), {}, 0.0)
        return CommandDone(MethodResult(True), {}, 0.0)

    cmd = {
        "a": "acc",
        "id": "echo?X=$result[a][5][0][ID]&H=$result[a][5][0][FROM_HR]",
        "whole": "echo?X=$result[a]",
        "all": "echo?X=$result[zz]",  # a missing first key: the map of every result so far
    }
    run = await run_batch({"cmd": cmd}, execute)
    assert calls[1] == {"X": "31", "H": True}
    assert type(calls[2]["X"]) is dict and calls[2]["X"] == plain
    everything = calls[3]["X"]
    assert type(everything["a"]) is dict and everything["a"] == plain
    assert encode_json(run.result) == b"".join(run.pieces())
