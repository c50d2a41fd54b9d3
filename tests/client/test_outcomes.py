"""Every command gets exactly one outcome: batch() under failed requests, paging errors, and a
call that means the same alone and coalesced. Outcomes are checked against the portal's ledger."""

from __future__ import annotations

import asyncio
import pickle
from collections import Counter
from typing import Any

import pytest
from support import calendar_add

from b24async import (
    BatchAccount,
    Bitrix24,
    ClientClosed,
    CommandOutcome,
    DecodeError,
    Outcome,
    PageError,
    RateLimits,
    RetryPolicy,
    TransportError,
)
from b24async.methods import GetUsers
from b24async.testing import FakePortal, FaultKind, Faults

FAST = RateLimits(rate=100.0, burst=100)
RETRY = RetryPolicy(attempts=4, backoff=0.01, max_backoff=0.02)


def mixed_job() -> dict[str, tuple[str, dict[str, Any]]]:
    """400 commands, every request of 50 mixed: 2 reads, 1 add, 1 update in turn."""
    commands: dict[str, tuple[str, dict[str, Any]]] = {}
    for i in range(100):
        commands[f"r{2 * i}"] = ("user.get", {"ID": i % 40 + 1})
        commands[f"a{i}"] = calendar_add(i)
        commands[f"r{2 * i + 1}"] = ("user.get", {"ID": (i + 7) % 40 + 1})
        commands[f"u{i}"] = ("user.update", {"ID": i % 40 + 2, "WORK_POSITION": f"p{i}"})
    return commands


@pytest.mark.parametrize("coalesce", [True, False])
async def test_mixed_job_with_a_502_and_a_lost_reply_accounts_for_every_command(
    coalesce: bool,
) -> None:
    # Request 2 gets a proxy's HTML 502, request 5 loses its reply; both after the portal ran.
    faults = Faults(at={2: FaultKind.HTML_502, 5: FaultKind.DROP})
    seen: list[CommandOutcome] = []
    async with FakePortal(faults=faults, rate=FAST.rate, burst=FAST.burst) as portal:
        async with Bitrix24(portal.webhook_url, limits=FAST, retry=RETRY, coalesce=coalesce) as b24:
            res = await b24.batch(mixed_job(), account=BatchAccount(seen.append))
        ledger = portal.ledger
        assert portal.stats.faults == {"html_502": 1, "drop": 1}

    assert len(res.names) == 400
    assert sorted(o.name for o in seen) == sorted(res.names)  # each reported once, live
    reads = [n for n in res.names if n.startswith("r")]
    adds = [n for n in res.names if n.startswith("a")]
    updates = [n for n in res.names if n.startswith("u")]
    # Every read answered, also those that shared a failed request with a write.
    assert all(res.outcome(n) is Outcome.SUCCEEDED for n in reads)
    assert all(isinstance(res[n], list) and res[n] for n in reads)
    # user.update is idempotent: retried, so answered too.
    assert all(res.outcome(n) is Outcome.SUCCEEDED for n in updates)
    # The adds of the two failed requests: unknown, never re-sent; the rest succeeded.
    unknown = set(res.may_have_applied)
    assert unknown and unknown <= set(adds)
    assert 24 <= len(unknown) <= 26  # the adds of two requests of 50 (12 or 13 each)
    assert all(res.outcome(n) is Outcome.SUCCEEDED for n in set(adds) - unknown)
    for name in unknown:
        error = res.errors[name]
        assert isinstance(error, (DecodeError, TransportError)) and error.may_have_applied
        with pytest.raises(type(error)):
            res[name]
    # The ledger agrees: each add applied exactly once (the unknown ones too: the portal ran
    # them before the reply was lost); nothing reported as not run is in the ledger.
    applied = Counter(e.change["NAME"] for e in ledger if e.method == "calendar.event.add")
    assert set(applied.values()) == {1}
    assert set(applied) == {f"evt-{n[1:]}" for n in adds}
    assert {e.target for e in ledger if e.method == "user.update"} == {
        f"user:{i % 40 + 2}" for i in range(100)
    }
    assert not res.not_sent and not res.skipped


async def test_a_failed_request_affects_only_its_own_commands() -> None:
    faults = Faults(at={0: FaultKind.DROP}, after_execution=False)  # refused before running
    async with FakePortal(faults=faults, rate=FAST.rate, burst=FAST.burst) as portal:
        async with Bitrix24(portal.webhook_url, limits=FAST, retry=RetryPolicy.never()) as b24:
            res = await b24.batch([calendar_add(i) for i in range(60)], halt=False)
        ledger = portal.ledger
    # 60 adds: two requests. The dropped one's 50 (or 10) are unknown; the other's succeeded.
    unknown = set(res.may_have_applied)
    assert len(unknown) in (10, 50)
    assert len(res) == 60 - len(unknown)
    assert len([e for e in ledger if e.method == "calendar.event.add"]) == 60 - len(unknown)


async def test_paginate_surfaces_a_failed_page_after_the_rows_before_it() -> None:
    faults = Faults(at={1: FaultKind.HTML_502})  # the second request: the first batch of pages
    rows: list[Any] = []

    async def read(b24: Bitrix24) -> None:
        async for row in b24.paginate("user.get", {}):
            rows.append(row)

    async with (
        FakePortal(users=300, faults=faults) as portal,
        Bitrix24(portal.webhook_url, retry=RetryPolicy.never()) as b24,
    ):
        with pytest.raises(PageError) as info:
            await read(b24)
    error = info.value
    assert len(rows) == 50 == error.rows_before  # the first page, then the failure
    assert error.start == 50 and error.method == "user.get"
    assert isinstance(error.error, DecodeError) and error.__cause__ is error.error
    assert not error.may_have_applied
    error.rows = [1, 2]
    again = pickle.loads(pickle.dumps(error))
    assert (again.start, again.rows_before, again.rows) == (50, 50, [1, 2])
    assert isinstance(again.error, DecodeError) and str(again) == str(error)


async def test_list_all_typed_rows_and_page_error_keeps_the_rows_read() -> None:
    async with FakePortal(users=120) as portal, Bitrix24(portal.webhook_url) as b24:
        users = await b24.list_all(GetUsers())
        assert [u.id for u in users] == list(range(1, 121))
        keyset = await b24.list_all(GetUsers(), keyset=True)
        assert [u.id for u in keyset] == list(range(1, 121))
    faults = Faults(at={0: FaultKind.ERROR_500})
    async with (
        FakePortal(users=120, faults=faults) as portal,
        Bitrix24(portal.webhook_url, retry=RetryPolicy.never()) as b24,
    ):
        with pytest.raises(PageError) as info:
            await b24.list_all("user.get")
    assert info.value.start == 0 and info.value.rows == []


async def test_keyset_page_error_names_the_id_it_follows() -> None:
    faults = Faults(at={1: FaultKind.DROP})
    async with (
        FakePortal(users=200, faults=faults) as portal,
        Bitrix24(portal.webhook_url, retry=RetryPolicy.never()) as b24,
    ):
        with pytest.raises(PageError) as info:
            await b24.list_all("user.get", keyset=True)
    assert info.value.after == "50" and info.value.start is None
    assert len(info.value.rows) == 50


# --- a call means the same alone and coalesced ------------------------------------------------


async def test_reference_like_values_and_dotted_keys_arrive_as_a_lone_call_sends_them() -> None:
    async with FakePortal(users=60) as portal, Bitrix24(portal.webhook_url) as b24:
        # 50 concurrent calls ride in batches; two of them hold what a batch would rewrite.
        odd = [
            b24.call("user.update", {"ID": 3, "WORK_POSITION": "$result[0]"}),
            b24.call("user.update", {"ID": 4, "WORK_POSITION": "x $next[0] y"}),
            b24.call("user.update", {"ID": 5, "LAST.NAME": "dotted", "NAME": "Five"}),
        ]
        plain = [b24.call("user.update", {"ID": i, "NAME": f"n{i}"}) for i in range(10, 57)]
        await asyncio.gather(*odd, *plain)
        assert portal.stats.batches >= 1  # the plain ones did ride together
        coalesced = {e.target: dict(e.change) for e in portal.ledger}
    async with FakePortal(users=60) as portal, Bitrix24(portal.webhook_url, coalesce=False) as b24:
        await b24.call("user.update", {"ID": 3, "WORK_POSITION": "$result[0]"})
        await b24.call("user.update", {"ID": 4, "WORK_POSITION": "x $next[0] y"})
        await b24.call("user.update", {"ID": 5, "LAST.NAME": "dotted", "NAME": "Five"})
        alone = {e.target: dict(e.change) for e in portal.ledger}
    assert alone["user:3"] == {"WORK_POSITION": "$result[0]"}
    assert alone["user:5"] == {"NAME": "Five"}  # "LAST.NAME" is no field: ignored
    for target in ("user:3", "user:4", "user:5"):
        assert coalesced[target] == alone[target]


async def test_explicit_batch_sends_a_command_that_would_change_alone() -> None:
    async with FakePortal(users=60) as portal, Bitrix24(portal.webhook_url) as b24:
        res = await b24.batch(
            {
                "me": ("user.current", {}),
                "ref": ("user.get", {"ID": "$result[me][ID]"}),  # a real reference: batched
                "dotted": ("user.update", {"ID": 5, "LAST.NAME": "dotted", "NAME": "Five"}),
                "empty": ("user.get", {"FILTER": {}, "ID": 2}),
            }
        )
        assert res.ok, res.errors
        assert res["ref"][0]["ID"] == "1"
        alone = await b24.call("user.get", {"FILTER": {}, "ID": 2})
        assert res["empty"] == alone.result  # what the lone call gets
        changes = [dict(e.change) for e in portal.ledger if e.target == "user:5"]
        assert changes == [{"NAME": "Five"}]
        assert portal.stats.batches == 1 and portal.stats.requests == 4
        with pytest.raises(ValueError, match="sent alone"):
            await b24.batch(
                {"a": ("user.current", {}), "b": ("user.get", {"ID": "$result[a][ID]", "x.y": 1})}
            )


async def test_batch_raises_only_for_bad_input_or_a_closed_client() -> None:
    async with FakePortal() as portal:
        b24 = Bitrix24(portal.webhook_url)
        await b24.close()
        with pytest.raises(ClientClosed) as info:
            await b24.batch([("user.current", {})])
        assert not info.value.may_have_applied
        assert portal.stats.requests == 0


async def test_a_read_that_refers_to_an_unknown_write_is_not_resent() -> None:
    faults = Faults(at={0: FaultKind.DROP})  # the portal ran the request, the reply was lost
    async with (
        FakePortal(faults=faults) as portal,
        Bitrix24(portal.webhook_url, retry=RETRY) as b24,
    ):
        res = await b24.batch(
            {
                "add": calendar_add(1),
                "get": ("calendar.event.get", {"type": "user", "ownerId": 1, "id": "$result[add]"}),
                "me": ("user.get", {"ID": 1}),
            }
        )
        assert portal.stats.requests == 2  # the batch, then a retry request with "me" only
    assert res.outcome("me") is Outcome.SUCCEEDED
    # "get" is a read, but it reads what "add" made, whose outcome is unknown: not re-sent.
    assert res.outcome("add") is Outcome.UNKNOWN and res.outcome("get") is Outcome.UNKNOWN


async def test_keyset_refuses_params_that_cannot_ride_in_a_batch() -> None:
    async with FakePortal() as portal, Bitrix24(portal.webhook_url) as b24:
        with pytest.raises(ValueError, match="keyset"):
            await b24.list_all("user.get", {"FILTER": {"NAME": "$result[x]"}}, keyset=True)
        assert portal.stats.requests == 0
