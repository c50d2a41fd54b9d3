"""A list's pages take a lean path: each page's result only, the time blocks settled raw.

``run_batch(results_only=True)`` (offset paging) decodes each command's ``result`` alone
(``decode_results``) and hands the throttle the answer's raw ``time`` blocks (``WireTimes``),
which ``settle_wire`` reads as ``Timing.from_wire`` would, without building a ``Timing``. These
tests hold the lean path to the full one: the same results, errors and exceptions, the same
reports, and the same throttle state afterwards.
"""

from __future__ import annotations

import asyncio
import json
import types
from collections.abc import Mapping
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from b24async.auth import WebhookCredentials
from b24async.batch import BatchResult, Command, run_batch
from b24async.batchanswer import command_timings, decode_batch, decode_results
from b24async.batchcodec import page_commands
from b24async.engine import Engine
from b24async.operating import OperatingBudget
from b24async.operating_mirror import BATCH_KEY, in_batch
from b24async.protocol import HttpRequest, RawResponse, Timing, WireTimes
from b24async.results import BatchAccount
from b24async.retry import RetryPolicy
from b24async.stats import Counters
from b24async.throttle import Throttle
from tests.client.test_batch_stream import ODD, answers
from tests.client.test_settle_all import (
    NAMES,
    UNIX,
    Clock,
    assert_same_budgets,
    maybe,
    play,
    state,
    steps_with,
    timings,
)

FIELDS = ("start", "finish", "duration", "processing", "operating", "operating_reset_at")
ODD_NUMBERS = ("", "soon", [1], {}, True, None)


@st.composite
def wire_blocks(draw: st.DrawFn) -> Any:
    """A ``time`` block as it may come off the wire: the usual floats, or ints, numeric
    strings, odd values, keys left out; or no block at all, or something that is not one."""
    timing = draw(maybe(timings))
    if timing is None:
        return draw(st.sampled_from([None, [], "", "x", 0, [1.5]]))
    block: dict[str, Any] = {}
    for field in FIELDS:
        value = getattr(timing, field)
        how = draw(st.sampled_from(["float", "float", "float", "int", "str", "odd", "missing"]))
        if how == "missing":
            continue
        if value is None or how == "float":
            block[field] = value
        elif how == "int":
            block[field] = int(value)
        elif how == "str":
            block[field] = repr(value)
        else:
            block[field] = draw(st.sampled_from(ODD_NUMBERS))
    if draw(st.booleans()):
        block["date_start"] = block["date_finish"] = "2026-11-29T20:26:40+03:00"
    if draw(st.booleans()):
        return types.MappingProxyType(block)  # a mapping that is not a dict reads the same
    return block


wire_reports = st.lists(st.tuples(st.sampled_from(NAMES), wire_blocks()), max_size=60)
wire_steps = steps_with(wire_reports)


def settle_as_timings(budget: OperatingBudget, reports: Any) -> None:
    budget.settle_all([(name, Timing.from_wire(block)) for name, block in reports])


def settle_raw(budget: OperatingBudget, reports: Any) -> None:
    budget.settle_wire(WireTimes(reports))


@settings(max_examples=400, deadline=None)
@given(
    script=st.lists(wire_steps, max_size=25),
    apart=st.booleans(),
    budget=st.sampled_from([6.0, 480.0]),
)
def test_raw_blocks_settle_as_their_timings_would(
    script: list[Any], apart: bool, budget: float
) -> None:
    clocks = Clock(), Clock()
    read, raw = (OperatingBudget(budget, 600.0, apart=apart, clock=c) for c in clocks)
    play(read, clocks[0], script, settle_as_timings)
    play(raw, clocks[1], script, settle_raw)
    assert_same_budgets(raw, read)


def test_wire_times_read_as_timings() -> None:
    block = {"start": 1, "finish": "2.5", "processing": 0.25, "operating": ""}
    reports = WireTimes([("user.get", block), (BATCH_KEY, None), ("x", [1])])
    assert reports.timings() == [
        ("user.get", Timing(start=1.0, finish=2.5, processing=0.25)),
        (BATCH_KEY, None),
        ("x", None),
    ]


def test_a_throttle_that_watches_each_settle_gets_timings() -> None:
    # A subclass overriding settle (SharedThrottle publishes holds there) sees every report,
    # read as Timing.from_wire reads it.
    seen: list[tuple[str, Timing | None]] = []

    class Watching(Throttle):
        def settle(self, method: str, timing: Timing | None) -> None:
            seen.append((method, timing))
            super().settle(method, timing)

    block = {"start": UNIX, "finish": UNIX + 0.5, "processing": 0.5, "operating": 1.0}
    reports = WireTimes([(in_batch("user.get"), block), (BATCH_KEY, None)])
    Watching().settle_wire(reports)
    assert seen == reports.timings()
    assert isinstance(seen[0][1], Timing)


class Policy:
    """A policy of the caller's own, without settle_wire (and without settle_all)."""

    def __init__(self, inner: Throttle) -> None:
        self.inner = inner
        self.reports: list[tuple[str, Timing | None]] = []

    def __getattr__(self, name: str) -> Any:
        if name in ("settle_all", "settle_wire"):
            raise AttributeError(name)
        return getattr(self.inner, name)

    def settle(self, method: str, timing: Timing | None) -> None:
        self.reports.append((method, timing))
        self.inner.settle(method, timing)


# -- the lean decode against the full one ---------------------------------------------------


def outcome_of(decode: Any, body: bytes, chunk: list[Command]) -> Any:
    """The outcome as comparable values, or the exception (class, text)."""
    try:
        outcome = decode(RawResponse(200, {}, body), chunk)
    except Exception as exc:
        return (type(exc), str(exc))
    errors = {
        n: (type(e), e.code, e.description, e.status, e.method) for n, e in outcome.errors.items()
    }
    results = {n: (r.method, r.result) for n, r in outcome.responses.items()}
    return results, errors, outcome.skipped


def lean(raw: RawResponse, chunk: list[Command]) -> Any:
    return decode_results(raw, chunk)[0]


def reports_of(body: bytes, chunk: list[Command]) -> tuple[Any, Any]:
    full = decode_batch(RawResponse(200, {}, body), chunk)
    _, reports = decode_results(RawResponse(200, {}, body), chunk)
    assert type(reports) is WireTimes
    return reports.timings(), command_timings(full, chunk)


@settings(max_examples=300, deadline=None)
@given(answers())
def test_a_lean_decode_gives_the_full_decodes_results_errors_and_reports(
    answer: tuple[bytes, list[Command]],
) -> None:
    body, chunk = answer
    full = outcome_of(decode_batch, body, chunk)
    assert repr(outcome_of(lean, body, chunk)) == repr(full)  # repr: NaN is not equal to itself
    if isinstance(full[0], dict):
        read, expected = reports_of(body, chunk)
        assert read == expected
        outcome, _ = decode_results(RawResponse(200, {}, body), chunk)
        for response in outcome.responses.values():  # the result alone
            assert (response.time, response.total, response.next) == (None, None, None)


@pytest.mark.parametrize("body", ODD)
def test_odd_answers_give_the_full_decodes_outcome_or_error(body: bytes) -> None:
    chunk = [Command(name, "user.get", {}) for name in ("a", "b", "0", "1")]
    full = outcome_of(decode_batch, body, chunk)
    assert repr(outcome_of(lean, body, chunk)) == repr(full)
    if isinstance(full[0], dict):
        read, expected = reports_of(body, chunk)
        assert repr(read) == repr(expected)


def test_results_only_refuses_commands_that_refer_to_each_other() -> None:
    commands = [
        Command("a", "user.get", {}),
        Command("b", "user.get", {"ID": "$result[a][0][ID]"}),
    ]
    engine = Engine(
        WebhookCredentials("https://p.bitrix24.com", "1", "c0de"),
        PageTransport([]),
        Throttle(),
        RetryPolicy(),
        Counters(),
    )
    with pytest.raises(ValueError, match="refer to each other"):
        asyncio.run(run_batch(engine, commands, halt=False, results_only=True))


# -- whole reads of pages: the lean path against the full one --------------------------------


class PageTransport:
    """Answers each batch request of pages from a script, in order (then every page ok).

    Each scripted answer gives, per command in order, its fate (``ok``, an ``error``, left
    ``out``) and its raw time block; then the request's own block. A 503 or a lost answer
    may stand for a whole request.
    """

    def __init__(self, script: list[Any]) -> None:
        self.script = list(script)

    async def send(self, request: HttpRequest) -> RawResponse:
        assert request.body is not None
        cmd: Mapping[str, str] = json.loads(request.body)["cmd"]
        plan = self.script.pop(0) if self.script else "all ok"
        if plan == "503":
            body: Any = {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many"}
            return RawResponse(503, {}, json.dumps(body).encode())
        if plan == "500":
            return RawResponse(500, {}, b"<html>bad gateway</html>")
        fates, blocks, own = plan if plan != "all ok" else ([], [], None)
        result: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        times: dict[str, Any] = {}
        for i, name in enumerate(cmd):
            fate = fates[i] if i < len(fates) else "ok"
            if fate == "ok":
                start = int(cmd[name].rsplit("=", 1)[1])
                result[name] = [{"ID": str(start + j)} for j in range(2)]
                if i < len(blocks):
                    times[name] = blocks[i]
            elif fate == "error":
                errors[name] = {"error": "ERROR_CORE", "error_description": "page failed"}
        inner = {"result": result, "result_error": errors, "result_time": times}
        body = {"result": inner}
        if own is not None:
            body["time"] = own
        return RawResponse(200, {}, json.dumps(body, default=dict).encode())

    async def close(self) -> None:
        pass


class StepClock(Clock):
    """The settle tests' clock, also sleeping (a backoff moves it on at once)."""

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)


def roomy(block: Any) -> bool:
    """Whether a block leaves the budget room enough that no request waits on a real timer."""
    timing = Timing.from_wire(block)
    if timing is None:
        return True
    return (timing.operating or 0.0) < 60 and (timing.processing or 0.0) <= 1.0


page_blocks = wire_blocks().filter(roomy)
answer_plans = st.one_of(
    st.tuples(
        st.lists(st.sampled_from(["ok", "ok", "ok", "error", "out"]), max_size=12),
        st.lists(page_blocks, max_size=12),
        page_blocks,
    ),
    st.sampled_from(["503", "500"]),
)


async def read_pages(script: list[Any], reads: list[int], results_only: bool) -> Any:
    clock = StepClock()
    throttle = Throttle(clock=clock)
    counters = Counters()
    engine = Engine(
        WebhookCredentials("https://p.bitrix24.com", "1", "c0de"),
        PageTransport(script),
        throttle,
        RetryPolicy(backoff=0.0, attempts=2),  # (no jitter: the runs must agree)
        counters,
        clock=clock,
    )
    seen: list[Any] = []
    for pages in reads:
        commands = page_commands("user.get", {"FILTER": {"ACTIVE": "Y"}}, range(0, pages * 50, 50))
        result: BatchResult[Any] = await run_batch(
            engine, commands, halt=False, results_only=results_only
        )
        errors = {n: (type(e), str(e)) for n, e in result.errors.items()}
        seen.append(({n: r.result for n, r in result.responses.items()}, errors, result.skipped))
    return seen, state(throttle.operating), clock.now, attrs.asdict(counters)


@settings(max_examples=150, deadline=None)
@given(
    script=st.lists(answer_plans, max_size=6),
    reads=st.lists(st.integers(1, 12), min_size=1, max_size=3),
)
def test_lean_pages_read_the_same_rows_and_settle_the_same_budgets(
    script: list[Any], reads: list[int]
) -> None:
    full = asyncio.run(read_pages(script, reads, results_only=False))
    leaner = asyncio.run(read_pages(script, reads, results_only=True))
    assert leaner == full


async def test_a_policy_without_settle_wire_gets_the_same_timings() -> None:
    script = [
        (
            ["ok", "error", "ok"],
            [{"start": UNIX, "finish": UNIX + 1, "processing": 0.5, "operating": 2}, "x"],
            {"start": UNIX, "finish": UNIX + 1.5, "operating": 1.0, "operating_reset_at": 7},
        )
    ]
    runs = []
    for results_only in (False, True):
        clock = StepClock()
        policy = Policy(Throttle(clock=clock))
        engine = Engine(
            WebhookCredentials("https://p.bitrix24.com", "1", "c0de"),
            PageTransport(script),
            policy,  # type: ignore[arg-type]  # a duck-typed ThrottlePolicy
            RetryPolicy(),
            Counters(),
            clock=clock,
        )
        commands = page_commands("user.get", {}, [0, 50, 100])
        await run_batch(engine, commands, halt=False, results_only=results_only)
        runs.append(policy.reports)
    assert runs[1] == runs[0]
    assert [name for name, _ in runs[0]] == [in_batch("user.get")] * 3 + [BATCH_KEY]
    assert isinstance(runs[0][0][1], Timing)


async def test_an_account_sees_every_outcome_a_run_without_one_gives() -> None:
    script = [(["ok", "error", "out", "ok"], [], None)]
    results = []
    account = BatchAccount()
    for followed in (None, account):
        clock = StepClock()
        engine = Engine(
            WebhookCredentials("https://p.bitrix24.com", "1", "c0de"),
            PageTransport(script),
            Throttle(clock=clock),
            RetryPolicy(),
            Counters(),
            clock=clock,
        )
        commands = page_commands("user.get", {}, [0, 50, 100, 150])
        result = await run_batch(engine, commands, halt=False, account=followed)
        results.append((dict(result.responses), set(result.errors), result.skipped))
    assert results[0][0].keys() == results[1][0].keys() == {"p0", "p150"}
    assert results[0][1] == results[1][1] == {"p50", "p100"}  # p100: left out, unknown
    assert set(account.outcomes) == {"p0", "p50", "p100", "p150"}
    assert account.in_flight == account.unsent == ()
