"""The gaps between sending, batching, coalescing and closing: one rule for what is re-sent,
one retry budget per command, and the account of a batch or a read that close() ends."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import pickle
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from support import calendar_add, redirecting_server

from b24async import (
    BatchAccount,
    Bitrix24,
    ClientClosed,
    CommandOutcome,
    DecodeError,
    MethodError,
    Outcome,
    PageClosed,
    PageError,
    RateLimits,
    RedirectError,
    RetryPolicy,
    ServerError,
    TransportError,
)
from b24async.auth import OAuthCredentials
from b24async.protocol import HttpRequest, RawResponse
from b24async.sending import Raise, SendingFlow, Tries, is_transient
from b24async.testing import FakePortal, FaultKind, Faults, LoopClock

FAST = RateLimits(rate=100.0, burst=100)
RETRY = RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.02)


async def mixed(b24: Bitrix24, coalesce: bool) -> list[Any]:
    """Two reads and a write in one request: a batch(), or three concurrent coalesced calls."""
    commands = [("user.get", {"ID": 1}), ("user.get", {"ID": 2}), calendar_add(0)]
    if coalesce:
        calls = [b24.call(method, params) for method, params in commands]
        answers = await asyncio.gather(*calls, return_exceptions=True)
        return [a if isinstance(a, BaseException) else a.result for a in answers]
    res = await b24.batch(commands)
    return [res[i] if i in res else res.errors[str(i)] for i in range(3)]


# -- one rule: only transient failures are re-sent ---------------------------------------------


@pytest.mark.parametrize("coalesce", [True, False])
async def test_a_redirect_error_is_not_re_sent_for_the_reads_of_a_mixed_request(
    coalesce: bool,
) -> None:
    # Plain http to a host that is not loopback: never followed. Sending again gets the same.
    hits: list[str] = []
    moved = "http://portal.invalid"
    async with redirecting_server(lambda path: moved + path, hits) as origin:
        url = f"{origin}/rest/1/code/"
        async with Bitrix24(url, retry=RETRY, coalesce=coalesce) as b24:
            outcomes = await mixed(b24, coalesce)
    assert all(isinstance(o, RedirectError) for o in outcomes), outcomes
    assert len(hits) == 1, hits  # the reads were not re-sent to get the same answer


@pytest.mark.parametrize("coalesce", [True, False])
@pytest.mark.parametrize("kind", [FaultKind.ERROR_500, FaultKind.DROP])
async def test_reads_of_a_mixed_request_that_failed_transiently_are_re_sent(
    coalesce: bool, kind: FaultKind
) -> None:
    # The first request fails after the portal ran it (a 500, a lost reply): the reads are
    # re-sent and answered on both paths; the write's outcome is unknown and it is not re-sent.
    async with FakePortal(faults=Faults(at={0: kind}), rate=FAST.rate, burst=FAST.burst) as portal:
        async with Bitrix24(portal.webhook_url, limits=FAST, retry=RETRY, coalesce=coalesce) as b24:
            first, second, write = await mixed(b24, coalesce)
        adds = [e for e in portal.ledger if e.method == "calendar.event.add"]
    assert isinstance(first, list) and isinstance(second, list), (first, second)
    assert isinstance(write, (ServerError, TransportError)) and write.may_have_applied
    assert len(adds) == 1  # ran once (the fault struck after execution), never re-sent


# -- one budget: RetryPolicy.attempts bounds a command's tries in all -------------------------


@pytest.mark.parametrize("coalesce", [True, False])
async def test_a_read_is_tried_at_most_attempts_times_in_all(coalesce: bool) -> None:
    # Every request loses its reply. The mixed request fails once; the reads go on in a retry
    # request, which may only use the tries they have left.
    faults = Faults(drop=1.0)
    async with FakePortal(faults=faults, rate=FAST.rate, burst=FAST.burst) as portal:
        async with Bitrix24(portal.webhook_url, limits=FAST, retry=RETRY, coalesce=coalesce) as b24:
            outcomes = await mixed(b24, coalesce)
        stats = portal.stats
    assert all(isinstance(o, TransportError) for o in outcomes), outcomes
    assert stats.requests == RETRY.attempts  # was 1 + attempts: the retry request's own budget
    assert stats.commands["user.get"] == 2 * RETRY.attempts
    assert stats.commands["calendar.event.add"] == 1


def test_a_flow_starts_from_the_tries_its_commands_already_had() -> None:
    tries = Tries(failures=RETRY.attempts - 1)
    flow = SendingFlow("user.get", True, RETRY, tries=tries)
    step = flow.failed(TransportError("reset", sent=True))
    assert isinstance(step, Raise)  # its last try was spent
    assert tries.failures == RETRY.attempts  # counted, also when given up


def test_the_transient_rule() -> None:
    assert is_transient(TransportError("reset", sent=False))
    assert is_transient(ServerError("INTERNAL_SERVER_ERROR", "", status=500))
    assert is_transient(DecodeError("html", raw=b"<html>", status=502))
    assert not is_transient(RedirectError("moved", location="x", status=302))
    assert not is_transient(ClientClosed(sent=True))
    assert not is_transient(MethodError("ERROR_CORE", "", status=400))


# -- close(): a batch keeps its account, a read says where it stopped --------------------------

LATENCY = 0.3  # seconds per reply: long enough to close while a request is on the wire
# Virtual time where looptime runs (Python >= 3.11), as in test_lifecycle.py: the portal's
# latency and the grace periods are loop timers; the counts asserted hold on real time too.
VIRTUAL = [pytest.mark.looptime] if importlib.util.find_spec("looptime") else []


def virtual(test: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``test`` on virtual time where looptime is installed (real time otherwise)."""
    for mark in VIRTUAL:
        test = mark(test)
    return test


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition never held")


def updated(portal: FakePortal) -> Counter[int]:
    return Counter(
        int(e.target.removeprefix("user:")) for e in portal.ledger if e.method == "user.update"
    )


@virtual
@pytest.mark.parametrize("grace", [5.0, 0.0], ids=["grace", "no-grace"])
@pytest.mark.parametrize("coalesce", [True, False], ids=["coalesce", "direct"])
async def test_close_mid_batch_gives_every_command_its_outcome_without_an_account(
    coalesce: bool, grace: float
) -> None:
    async with FakePortal(users=400, latency=LATENCY) as portal:
        b24 = Bitrix24(portal.webhook_url, max_concurrency=1, coalesce=coalesce)
        writes = {f"u{i}": ("user.update", {"ID": i, "NAME": f"b{i}"}) for i in range(1, 301)}
        batch = asyncio.create_task(b24.batch(writes))  # no BatchAccount passed
        await until(lambda: portal.stats.requests >= 1)
        await b24.close(timeout=grace)
        with pytest.raises(ClientClosed) as info:
            await batch
        applied = updated(portal)
    res = info.value.result
    assert res is not None and set(res.names) == set(writes)
    outcomes = {name: res.outcome(name) for name in res.names}
    assert set(outcomes.values()) <= {Outcome.SUCCEEDED, Outcome.UNKNOWN, Outcome.NOT_SENT}
    # The ledger agrees: not sent -> not applied; succeeded -> applied once.
    for name, outcome in outcomes.items():
        user = int(name[1:])
        if outcome is Outcome.NOT_SENT:
            assert applied[user] == 0, name
            assert isinstance(res.errors[name], ClientClosed) and not res.errors[name].sent
        if outcome is Outcome.SUCCEEDED:
            assert applied[user] == 1, name
    assert all(count == 1 for count in applied.values())
    assert set(applied) <= {int(n[1:]) for n in (*res, *res.may_have_applied)}
    assert res.not_sent  # 300 commands, one request on the wire: most were never sent
    if grace:  # the request on the wire came back: its commands have their results
        assert len(res) == 50 and not res.may_have_applied
    else:  # cut off on the wire: its commands may have been applied
        assert len(res.may_have_applied) == 50 and info.value.sent
    clone = pickle.loads(pickle.dumps(info.value))  # errors cross process boundaries whole
    assert clone.result is not None and clone.result.summary() == res.summary()
    assert {n: clone.result.outcome(n) for n in clone.result.names} == outcomes


@virtual
async def test_close_mid_batch_reports_the_cut_short_commands_to_the_account_too() -> None:
    seen: list[CommandOutcome] = []
    async with FakePortal(users=200, latency=LATENCY) as portal:
        b24 = Bitrix24(portal.webhook_url, max_concurrency=1, coalesce=False)
        writes = {f"u{i}": ("user.update", {"ID": i, "NAME": f"b{i}"}) for i in range(1, 151)}
        account = BatchAccount(seen.append)
        batch = asyncio.create_task(b24.batch(writes, account=account))
        await until(lambda: portal.stats.requests >= 1)
        await b24.close(timeout=0)
        with pytest.raises(ClientClosed) as info:
            await batch
    res = info.value.result
    assert res is not None
    assert sorted(o.name for o in seen) == sorted(writes)  # each command once, live
    assert {o.name: o.outcome for o in seen} == {n: res.outcome(n) for n in res.names}
    assert not account.in_flight and not account.unsent


async def test_batch_on_a_closed_client_reports_every_command_not_sent() -> None:
    async with FakePortal() as portal:
        b24 = Bitrix24(portal.webhook_url)
        await b24.close()
        with pytest.raises(ClientClosed) as info:
            await b24.batch([("user.get", {"ID": 1}), ("user.get", {"ID": 2})])
        assert portal.stats.requests == 0
    res = info.value.result
    assert res is not None and res.not_sent == ("0", "1") and not info.value.sent


@virtual
@pytest.mark.parametrize("grace", [5.0, 0.0], ids=["grace", "no-grace"])
@pytest.mark.parametrize("keyset", [False, True], ids=["offset", "keyset"])
async def test_close_mid_read_says_where_it_stopped_and_list_all_keeps_the_rows(
    keyset: bool, grace: float
) -> None:
    async with FakePortal(users=600, latency=LATENCY) as portal:
        b24 = Bitrix24(portal.webhook_url, max_concurrency=1)
        read = asyncio.create_task(b24.list_all("user.get", keyset=keyset))
        await until(lambda: portal.stats.requests >= 2)  # page 1 is back, the next request out
        await b24.close(timeout=grace)
        with pytest.raises(ClientClosed) as info:
            await read
    error = info.value
    assert isinstance(error, PageClosed) and isinstance(error, PageError)
    assert not error.may_have_applied and not error.sent  # a read changed nothing
    assert error.rows, "the rows read before the close are kept"
    assert error.rows_before == len(error.rows)
    ids = [int(row["ID"]) for row in error.rows]
    assert len(set(ids)) == len(ids)
    if keyset:
        assert error.start is None and int(error.after) == ids[-1]  # resume with >ID
    else:
        assert error.after is None and error.start is not None and error.start % 50 == 0
        assert error.start <= error.rows_before < error.start + 50
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is PageClosed
    assert (clone.start, clone.after, clone.rows_before, clone.rows) == (
        error.start,
        error.after,
        error.rows_before,
        error.rows,
    )


# -- review of this round: secrets, one rule for an unmentioned command -----------------------


async def test_a_token_refresh_transport_error_masks_the_secrets_in_its_text() -> None:
    refresh, secret = "refresh-token-0123456789", "client-secret-0123456789"
    creds = OAuthCredentials(
        "https://p.bitrix24.com",
        "access-token-0123456789",
        refresh_token=refresh,
        client_id="local.app",
        client_secret=secret,
    )

    async def send(request: HttpRequest) -> RawResponse:  # a custom transport naming the URL
        raise TransportError(f"cannot reach {request.url}", sent=False)

    with pytest.raises(TransportError) as info:
        await creds.refresh(send, creds.sign({}))
    error = info.value
    assert error.method == "oauth.token" and not error.sent
    text = f"{error} {error!r} {error.args!r}"
    assert refresh not in text and secret not in text


class OmittingPortal:
    """A transport whose batch answers leave out every command but the first (a portal that
    is not as strict as the FakePortal): nobody can tell whether the others ran."""

    def __init__(self) -> None:
        self.batches = 0

    async def send(self, request: HttpRequest) -> RawResponse:
        method = request.url.rsplit("/", 1)[-1]
        if method == "batch":
            self.batches += 1
            result: Any = {"result": {"0": [{"ID": "1"}]}, "result_error": [], "result_time": {}}
        else:
            result = [{"ID": "1"}]
        payload = {"result": result, "time": {"start": 1.0, "finish": 1.1}}
        return RawResponse(200, {"content-type": "application/json"}, json.dumps(payload).encode())

    async def close(self) -> None:
        return None


@pytest.mark.parametrize("coalesce", [True, False])
async def test_a_command_the_batch_answer_leaves_out_has_an_unknown_outcome(coalesce: bool) -> None:
    transport = OmittingPortal()
    async with Bitrix24("https://p.bitrix24.com/rest/1/code/", transport=transport) as b24:
        first, second, write = await mixed(b24, coalesce)
    assert transport.batches == 1 and first == [{"ID": "1"}]
    for left_out in (second, write):  # the same on both paths: unknown, not "did not run"
        assert isinstance(left_out, DecodeError) and left_out.may_have_applied


class Answering:
    """A transport that answers every request with one canned reply, and counts them."""

    def __init__(self, status: int, content_type: str, body: bytes) -> None:
        self.reply = RawResponse(status, {"content-type": content_type}, body)
        self.requests = 0

    async def send(self, request: HttpRequest) -> RawResponse:
        self.requests += 1
        return self.reply

    async def close(self) -> None:
        return None


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/html", b"<html><body>503 Service Temporarily Unavailable</body></html>"),
        ("application/json", b'{"error": "SOMETHING_NEW", "error_description": "busy"}'),
    ],
    ids=["proxy-html", "unknown-code"],
)
async def test_close_after_an_ambiguous_503_does_not_claim_the_call_was_not_sent(
    content_type: str, body: bytes
) -> None:
    # Only a Bitrix24 error that proves it (QUERY_LIMIT_EXCEEDED, expired_token, ...) makes a
    # 401/429/503 a proof that nothing ran; the error table says a 503 page may have run.
    transport = Answering(503, content_type, body)
    slow = RetryPolicy(attempts=3, backoff=60.0, max_backoff=60.0)  # close during the backoff
    b24 = Bitrix24("https://p.bitrix24.com/rest/1/code/", transport=transport, retry=slow)
    call = asyncio.create_task(b24.call("user.update", {"ID": 1, "NAME": "x"}))
    await until(lambda: transport.requests == 1)
    await asyncio.sleep(0.05)
    await b24.close()
    with pytest.raises(ClientClosed) as info:
        await call
    assert info.value.sent and info.value.may_have_applied
    assert transport.requests == 1


@pytest.mark.looptime
@pytest.mark.parametrize("coalesce", [True, False])
async def test_every_operating_limit_answer_in_a_batch_is_counted(coalesce: bool) -> None:
    scale = 0.005
    clock = LoopClock()
    async with FakePortal(
        time_scale=scale,
        operating_budget=120.0,
        method_processing={"user.get": 30.0},
        clock=clock,
    ) as portal:
        limits = RateLimits(operating_budget=120.0).scaled(scale)
        async with Bitrix24(
            portal.webhook_url, limits=limits, coalesce=coalesce, clock=clock
        ) as b24:
            params = [{"ID": i % 50 + 1} for i in range(6)]
            if coalesce:
                await asyncio.gather(*(b24.call("user.get", p) for p in params))
            else:
                assert (await b24.batch([("user.get", p) for p in params])).ok
        stats = portal.stats
    answers = stats.batch_errors["OPERATION_TIME_LIMIT"] + stats.by_code["OPERATION_TIME_LIMIT"]
    assert answers >= 1
    assert b24.stats.operation_limit_hits == answers  # one per answer, as ClientStats says


async def test_a_proxy_page_quoting_the_url_does_not_put_the_webhook_code_in_the_error() -> None:
    code = "s3cr3tc0de0123456"
    page = (
        "<html><body><h1>502 Bad Gateway</h1><p>While trying to retrieve the URL "
        f"https://p.bitrix24.com/rest/1/{code}/user.update</p></body></html>"
    ).encode()
    transport = Answering(502, "text/html", page)
    async with Bitrix24(f"https://p.bitrix24.com/rest/1/{code}/", transport=transport) as b24:
        with pytest.raises(DecodeError) as info:
            await b24.call("crm.lead.add", {"fields": {"TITLE": "x"}})  # not retried
    error = info.value
    assert (error.status, error.method) == (502, "crm.lead.add")
    text = f"{error} {error!r} {error.raw!r} {pickle.loads(pickle.dumps(error)).raw!r}"
    assert code not in text
    assert b"502 Bad Gateway" in error.raw  # the body is kept, only the code is masked
