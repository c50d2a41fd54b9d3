"""Shutdown and cancellation against the fake portal: every pending call gets exactly one
outcome, nothing leaves after close(), nothing leaks (sessions, connections, task exceptions).

Counts, not clocks, are asserted: a slow portal (``latency``) and ``max_concurrency=1`` keep
exactly one request on the wire while the rest wait; the grace period is either generous (the
request on the wire always comes back) or zero (it never does). The tests run on virtual time
(looptime) where it is installed: the portal's latency and the grace periods are timers of the
loop, which skips ahead when idle.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from b24async import B24Error, Bitrix24, ClientClosed, Response
from b24async.testing import FakePortal

# Virtual time where looptime runs (Python >= 3.11); the counts asserted hold on real time too.
pytestmark = [pytest.mark.looptime] if importlib.util.find_spec("looptime") else []

LATENCY = 0.3  # seconds the portal takes per reply: long enough to close mid-request


async def _until(condition: Callable[[], bool]) -> None:
    """Yield to the loop until ``condition`` holds (bounded; the test's timeout is the cap)."""
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition never held")


async def _no_connections(portal: FakePortal) -> None:
    await _until(lambda: portal.open_connections == 0)


def _updates(portal: FakePortal) -> Counter[int]:
    """How many times each user was updated (ledger targets read ``user:<id>``)."""
    return Counter(
        int(e.target.removeprefix("user:")) for e in portal.ledger if e.method == "user.update"
    )


async def _close_under_load(
    *, coalesce: bool, grace: float, caplog: pytest.LogCaptureFixture
) -> tuple[FakePortal, list[Response | BaseException], int]:
    """200 writes pending, one request on the wire; close(). Returns the outcomes."""
    caplog.set_level(logging.WARNING)
    async with FakePortal(users=250, latency=LATENCY) as portal:
        b24 = Bitrix24(portal.webhook_url, coalesce=coalesce, max_concurrency=1)
        tasks = [
            asyncio.create_task(b24.call("user.update", {"ID": i, "NAME": f"n{i}"}))
            for i in range(1, 201)
        ]
        await _until(lambda: portal.stats.requests >= 1)  # the first request has arrived
        sent_before_close = portal.stats.requests
        await b24.close(timeout=grace)
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        # Nothing was sent after close() began: only what had already arrived.
        assert portal.stats.requests == sent_before_close
        for _ in range(5):
            await asyncio.sleep(0)
        assert portal.stats.requests == sent_before_close
        await _no_connections(portal)
        gc.collect()  # an unclosed session would warn here (filterwarnings=error)
        return portal, outcomes, sent_before_close


def _check_account(portal: FakePortal, outcomes: list[Response | BaseException]) -> None:
    """Every caller has exactly one outcome, and the ledger agrees with it."""
    applied = _updates(portal)
    assert set(applied.values()) <= {1}  # nothing twice
    for user, outcome in zip(range(1, 201), outcomes, strict=True):
        if isinstance(outcome, Response):
            assert applied[user] == 1
        else:
            assert isinstance(outcome, ClientClosed), repr(outcome)
            if not outcome.sent:
                assert applied[user] == 0, f"user {user}: applied although 'not sent'"
            assert outcome.may_have_applied is outcome.sent


def _no_loop_errors(caplog: pytest.LogCaptureFixture) -> None:
    noisy = [r for r in caplog.records if r.name == "asyncio" or "never retrieved" in r.message]
    assert not noisy, [r.getMessage() for r in noisy]


@pytest.mark.parametrize("coalesce", [True, False], ids=["coalesce", "direct"])
async def test_close_under_load_lets_the_wire_finish_and_fails_the_rest(
    coalesce: bool, caplog: pytest.LogCaptureFixture
) -> None:
    portal, outcomes, _ = await _close_under_load(coalesce=coalesce, grace=60.0, caplog=caplog)
    _check_account(portal, outcomes)
    answered = [o for o in outcomes if isinstance(o, Response)]
    closed = [o for o in outcomes if isinstance(o, ClientClosed)]
    assert answered, "the request on the wire gets its answer within the grace period"
    assert closed and all(not c.sent for c in closed)  # the rest never left
    assert len(answered) + len(closed) == 200
    _no_loop_errors(caplog)


@pytest.mark.parametrize("coalesce", [True, False], ids=["coalesce", "direct"])
async def test_close_without_grace_reports_the_request_on_the_wire_as_sent(
    coalesce: bool, caplog: pytest.LogCaptureFixture
) -> None:
    portal, outcomes, _ = await _close_under_load(coalesce=coalesce, grace=0.0, caplog=caplog)
    _check_account(portal, outcomes)
    assert all(isinstance(o, ClientClosed) for o in outcomes)
    sent = [o for o in outcomes if isinstance(o, ClientClosed) and o.sent]
    # The request on the wire carried the sent commands (one, or one batch of them).
    assert 1 <= len(sent) <= 50
    _no_loop_errors(caplog)


async def test_leaving_async_with_resolves_pending_calls() -> None:
    async with FakePortal(users=100, latency=LATENCY) as portal:
        async with Bitrix24(portal.webhook_url, max_concurrency=1) as b24:
            tasks = [asyncio.create_task(b24.call("user.get", {"ID": i})) for i in range(1, 101)]
            await _until(lambda: portal.stats.requests >= 1)
        assert b24.closed
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(o, (Response, ClientClosed)) for o in outcomes)
        assert any(isinstance(o, ClientClosed) for o in outcomes)
        await _no_connections(portal)


async def test_calls_after_close_fail_at_once_with_nothing_sent() -> None:
    async with FakePortal() as portal:
        b24 = Bitrix24(portal.webhook_url)
        await b24.call("user.current")
        await b24.close()
        await b24.close()  # idempotent
        before = portal.stats.requests
        attempts: list[Callable[[], Awaitable[Any]]] = [
            lambda: b24.call("user.current"),
            lambda: b24.batch({"a": ("user.current", {})}),
            lambda: b24.list_all("user.get"),
        ]
        for attempt in attempts:
            with pytest.raises(ClientClosed) as info:
                await attempt()
            assert info.value.sent is False and not info.value.may_have_applied
            assert isinstance(info.value, B24Error)
        assert portal.stats.requests == before


@pytest.mark.parametrize("coalesce", [True, False], ids=["coalesce", "direct"])
@pytest.mark.parametrize("grace", [0.0, 60.0], ids=["no-grace", "grace"])
async def test_close_fails_a_pending_batch_and_paginate(coalesce: bool, grace: float) -> None:
    async with FakePortal(users=600, latency=LATENCY) as portal:
        b24 = Bitrix24(portal.webhook_url, max_concurrency=1, coalesce=coalesce)
        writes = {f"u{i}": ("user.update", {"ID": i, "NAME": f"b{i}"}) for i in range(1, 301)}
        batch = asyncio.create_task(b24.batch(writes))
        pages = asyncio.create_task(b24.list_all("user.get"))
        await _until(lambda: portal.stats.requests >= 1)
        await b24.close(timeout=grace)
        outcomes = await asyncio.gather(batch, pages, return_exceptions=True)
        assert all(isinstance(o, ClientClosed) for o in outcomes), outcomes
        await _no_connections(portal)
        applied = _updates(portal)
        batch_error = outcomes[0]
        assert isinstance(batch_error, ClientClosed)
        if applied:  # a chunk of the batch ran: the error must not claim "not sent"
            assert batch_error.sent


async def test_caller_owned_session_stays_open_after_close_under_load() -> None:
    async with FakePortal(users=100, latency=LATENCY) as portal, aiohttp.ClientSession() as own:
        b24 = Bitrix24(portal.webhook_url, session=own, max_concurrency=1)
        tasks = [asyncio.create_task(b24.call("user.get", {"ID": i})) for i in range(1, 51)]
        await _until(lambda: portal.stats.requests >= 1)
        await b24.close()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert not own.closed
        async with own.post(portal.webhook_url + "user.current") as reply:
            assert reply.status == 200  # the caller's session still works


# -- cancellation ------------------------------------------------------------------------------


@pytest.mark.parametrize("coalesce", [True, False], ids=["coalesce", "direct"])
async def test_cancelled_queued_writes_never_reach_the_ledger(coalesce: bool) -> None:
    async with FakePortal(users=100, latency=LATENCY) as portal:
        async with Bitrix24(portal.webhook_url, coalesce=coalesce, max_concurrency=1) as b24:
            first = asyncio.create_task(b24.call("user.update", {"ID": 1, "NAME": "first"}))
            await _until(lambda: portal.stats.requests >= 1)  # on the wire, alone
            queued = [
                asyncio.create_task(b24.call("user.update", {"ID": i, "NAME": f"x{i}"}))
                for i in range(2, 52)
            ]
            await asyncio.sleep(0)  # let them queue
            for task in queued:
                task.cancel()
            await first
            results = await asyncio.gather(*queued, return_exceptions=True)
            assert all(isinstance(r, asyncio.CancelledError) for r in results)
            # Anything still queued would go now: one more call flushes the client.
            await b24.call("user.update", {"ID": 99, "NAME": "last"})
            if coalesce:
                assert b24.stats.dropped_calls == 50
        assert _updates(portal) == Counter({1: 1, 99: 1})


async def test_a_cancelled_call_on_the_wire_is_counted_and_its_result_discarded() -> None:
    async with (
        FakePortal(users=10, latency=LATENCY) as portal,
        Bitrix24(portal.webhook_url, max_concurrency=1) as b24,
    ):
        task = asyncio.create_task(b24.call("user.update", {"ID": 3, "NAME": "gone"}))
        await _until(lambda: portal.stats.requests >= 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert b24.stats.requests == 1  # the request left; it is accounted for
        after = await b24.call("user.get", {"ID": 3})
        assert after.result  # the client goes on normally


async def test_cancelling_the_task_that_owns_the_client_closes_it_cleanly() -> None:
    async with FakePortal(users=100, latency=LATENCY) as portal:
        calls: list[asyncio.Task[Response]] = []

        async def owner() -> None:
            async with Bitrix24(portal.webhook_url, max_concurrency=1) as b24:
                for i in range(1, 101):
                    calls.append(asyncio.create_task(b24.call("user.get", {"ID": i})))
                await asyncio.Event().wait()  # until cancelled

        task = asyncio.create_task(owner())
        await _until(lambda: portal.stats.requests >= 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        assert all(isinstance(o, (Response, ClientClosed)) for o in outcomes)
        await _no_connections(portal)
