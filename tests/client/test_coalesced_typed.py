"""Concurrent typed availability calls (the fan-in's shortcut) keep every promise of a call.

Each caller gets exactly one outcome (its own typed result, its own error, or ClientClosed),
equal to what it would get alone; a caller cancelled while queued is dropped unsent and counted;
close() fails what is still queued with ``sent=False``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any
from urllib.parse import parse_qs

import pytest

from b24async import (
    Availability,
    Bitrix24,
    ClientClosed,
    DecodeError,
    RateLimits,
)
from b24async.methods import GetAccessibility
from b24async.models import _calendar_msgspec as fast
from b24async.protocol import HttpRequest, RawResponse
from b24async.testing import FakePortal
from b24async.transport import AiohttpTransport

ANCHOR = dt.date(2026, 1, 5)
WEEK = (ANCHOR, ANCHOR + dt.timedelta(days=6))


#: Every test three times: batch answers decoded whole, walked, and read by msgspec
#: (tests/client/conftest.py).
pytestmark = pytest.mark.usefixtures("decoding")


def query(user: int) -> GetAccessibility:
    return GetAccessibility(users=[user], start=WEEK[0], end=WEEK[1])


class Rewriting(AiohttpTransport):
    """The real transport, with every batch answer passed through ``rewrite`` (a bad proxy)."""

    def __init__(self, rewrite: Any = None) -> None:
        super().__init__()
        self.rewrite = rewrite
        self.bodies: list[dict[str, Any]] = []  # what left (JSON bodies)
        self.left = asyncio.Event()  # a request has left

    async def send(self, request: HttpRequest) -> RawResponse:
        self.bodies.append(json.loads(request.body or b"{}"))
        self.left.set()
        raw = await super().send(request)
        if self.rewrite is None or not request.url.endswith("/batch"):
            return raw
        body = json.loads(raw.body)
        self.rewrite(body["result"]["result"])
        return RawResponse(raw.status, raw.headers, json.dumps(body).encode())

    def sent_users(self) -> set[int]:
        """Every user ID that appeared in a request's ``users`` list."""
        found: set[int] = set()
        for body in self.bodies:
            if "cmd" not in body:  # a lone call
                found.update(body.get("users", ()))
                continue
            for command in body["cmd"].values():
                for name, values in parse_qs(command.partition("?")[2]).items():
                    if name.startswith("users["):
                        found.update(int(v) for v in values)
        return found


def commands(results: Any) -> list[dict[str, Any]]:
    return list(results.values()) if isinstance(results, dict) else list(results)


async def alone(portal: FakePortal, users: range) -> dict[int, Availability]:
    """Each user's answer as an uncoalesced call gets it (one request, sliced per user)."""
    async with Bitrix24(portal.webhook_url, coalesce=False) as solo:
        whole = await solo(GetAccessibility(users=users, start=WEEK[0], end=WEEK[1]))
        some = {u: await solo(query(u)) for u in (users[0], users[-1])}  # and truly alone
    assert all(some[u] == whole.subset([u]) for u in some)
    return {u: whole.subset([u]) for u in users}


async def test_fan_in_callers_get_what_each_gets_alone(
    decoding: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[int, list[tuple[int, int]]] = {}
    read: list[bool] = []  # per command read by msgspec: whether it read it
    decode_users = fast.decode_users

    def reading(text: str) -> Availability | None:
        got = decode_users(text)
        read.append(got is not None)
        return got

    monkeypatch.setattr(fast, "decode_users", reading)
    async with FakePortal(users=300, anchor=ANCHOR) as portal:
        async with Bitrix24(portal.webhook_url) as b24:

            async def one(user: int) -> Availability:
                report = seen.setdefault(user, [])
                return await b24(query(user), progress=lambda d, t: report.append((d, t)))

            answers = await asyncio.gather(*(one(u) for u in range(1, 301)))
            assert portal.stats.requests == 1  # 300 users = 6 commands in one batch
            assert b24.stats.coalesced_calls == 300 and b24.stats.dropped_calls == 0
        # With the speed extra each command's text is read once, by msgspec, for its 50 callers
        assert read == ([True] * 6 if decoding == "msgspec" else [])
        expected = await alone(portal, range(1, 301))
    assert sum(len(a[u]) for u, a in zip(range(1, 301), answers, strict=True)) > 300
    for user, answer in zip(range(1, 301), answers, strict=True):
        assert isinstance(answer, Availability)
        assert answer == expected[user] and list(answer) == [user]
        assert [repr(e) for e in answer[user]] == [repr(e) for e in expected[user][user]]
    assert all(reports == [(1, 1)] for reports in seen.values()) and len(seen) == 300


async def test_a_malformed_entry_fails_only_its_callers() -> None:
    broken: list[int] = []

    def rewrite(results: Any) -> None:
        for command in commands(results):
            for key, entries in command.items():
                if entries and not broken:
                    entries[0]["ID"] = "not-a-number"
                    broken.append(int(key))

    async with FakePortal(users=120, anchor=ANCHOR) as portal:
        transport = Rewriting(rewrite)
        async with Bitrix24(portal.webhook_url, transport=transport) as b24:
            answers = await asyncio.gather(
                *(b24(query(u)) for u in range(1, 121)), return_exceptions=True
            )
        expected = await alone(portal, range(1, 121))
    assert len(broken) == 1
    for user, answer in zip(range(1, 121), answers, strict=True):
        if user in broken:
            assert isinstance(answer, DecodeError) and "not-a-number" in str(answer)
        else:
            assert answer == expected[user]


async def test_odd_user_keys_leave_each_caller_its_own_slice() -> None:
    def rewrite(results: Any) -> None:
        for command in commands(results):
            if "5" in command:
                command["05"] = [dict(e, ID="999999") for e in command["5"]] or [{"ID": "x"}]

    async with FakePortal(users=60, anchor=ANCHOR) as portal:
        async with Bitrix24(portal.webhook_url, transport=Rewriting(rewrite)) as b24:
            answers = await asyncio.gather(*(b24(query(u)) for u in range(1, 61)))
        expected = await alone(portal, range(1, 61))
    assert answers == [expected[u] for u in range(1, 61)]  # "05" is nobody's


async def test_cancelled_queued_callers_are_dropped_unsent() -> None:
    async with FakePortal(users=200, anchor=ANCHOR) as portal:
        transport = Rewriting()
        async with Bitrix24(portal.webhook_url, transport=transport) as b24:
            tasks = [asyncio.ensure_future(b24(query(u))) for u in range(1, 201)]
            await asyncio.sleep(0)  # every call is queued; the dispatcher has not taken them
            for task in tasks[1::2]:
                task.cancel()
            done = await asyncio.gather(*tasks, return_exceptions=True)
            assert b24.stats.dropped_calls == 100 and b24.stats.coalesced_calls == 100
            assert portal.stats.requests == 1  # 100 users: two commands in one batch
        expected = await alone(portal, range(1, 201))
    assert done[::2] == [expected[u] for u in range(1, 201, 2)]
    assert all(isinstance(d, asyncio.CancelledError) for d in done[1::2])
    assert transport.sent_users() == set(range(1, 201, 2))


async def test_close_fails_queued_callers_with_nothing_sent() -> None:
    # One user per command and a one-request bucket: the first request leaves, the rest wait.
    async with FakePortal(users=200, anchor=ANCHOR, latency=0.05) as portal:
        transport = Rewriting()
        b24 = Bitrix24(
            portal.webhook_url,
            transport=transport,
            users_per_command=1,
            limits=RateLimits(rate=0.5, burst=1),
        )
        tasks = [asyncio.ensure_future(b24(query(u))) for u in range(1, 201)]
        await transport.left.wait()
        await b24.close(timeout=5.0)
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    answered = {
        u for u, o in zip(range(1, 201), outcomes, strict=True) if isinstance(o, Availability)
    }
    closed = [o for o in outcomes if isinstance(o, ClientClosed)]
    assert len(answered) + len(closed) == 200  # exactly one outcome each
    assert answered == transport.sent_users() and 0 < len(answered) <= 50
    assert closed and all(not error.sent for error in closed)


async def test_a_call_inside_an_operation_is_not_cut_by_close_while_on_the_wire() -> None:
    """The enclosing operation counts the coalesced wait (close() leaves it to the wire)."""
    async with FakePortal(users=10, anchor=ANCHOR, latency=0.3) as portal:
        transport = Rewriting()
        b24 = Bitrix24(portal.webhook_url, transport=transport)

        async def inside() -> Availability:
            with b24._lifecycle.operation():  # as a call made from a batch's or page's task
                return await b24(query(3))

        task = asyncio.ensure_future(inside())
        await transport.left.wait()
        await b24.close(timeout=5.0)
        result = await task
    assert list(result) == [3]


@pytest.mark.parametrize("coalesce", [True, False])
async def test_calls_after_close_fail_before_anything_is_built(coalesce: bool) -> None:
    async with FakePortal(users=5, anchor=ANCHOR) as portal:
        b24 = Bitrix24(portal.webhook_url, coalesce=coalesce)
        await b24.close()
        with pytest.raises(ClientClosed) as info:
            await b24(query(1))
    assert info.value.sent is False and portal.stats.requests == 0


async def test_a_call_split_over_commands_shared_with_others_gets_all_its_users() -> None:
    """A 75-user call (two parts) whose second part rides with one-user calls."""
    async with FakePortal(users=200, anchor=ANCHOR) as portal:
        async with Bitrix24(portal.webhook_url) as b24:
            big = asyncio.ensure_future(
                b24(GetAccessibility(users=range(1, 76), start=WEEK[0], end=WEEK[1]))
            )
            small = [asyncio.ensure_future(b24(query(u))) for u in range(101, 121)]
            answers = await asyncio.gather(big, *small)
            assert portal.stats.requests == 1
        expected = await alone(portal, range(1, 121))
    assert list(answers[0]) == list(range(1, 76))
    assert answers[0] == Availability.merge(*(expected[u] for u in range(1, 76)))
    assert answers[1:] == [expected[u] for u in range(101, 121)]
