"""Coalesced typed calls over large answers: delivered while read, typed parts joined typed."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from b24async import Availability, Bitrix24, batchstream, jsonio
from b24async.methods import GetAccessibility
from b24async.testing import FakePortal

ANCHOR = dt.date(2026, 1, 5)  # a Monday; the seeded calendar is built around it
WEEKS = (ANCHOR, ANCHOR + dt.timedelta(days=27))


@pytest.fixture
def stdlib_json() -> Iterator[None]:
    backend = jsonio.BACKEND
    jsonio.use("stdlib")
    yield
    jsonio.use(backend)


@pytest.fixture
def walk_all(monkeypatch: pytest.MonkeyPatch, stdlib_json: None) -> list[str]:
    """Walk every batch answer (whatever its size); log each step of the walks."""
    monkeypatch.setattr(batchstream, "STREAM_MIN_BYTES", 0)
    log: list[str] = []
    step = batchstream._Walk.step

    def logged(self: batchstream._Walk) -> bool:
        log.append("step")
        return step(self)

    monkeypatch.setattr(batchstream._Walk, "step", logged)
    return log


async def fan_in(url: str, users: int, log: list[str] | None = None, **options: Any) -> list[Any]:
    async with Bitrix24(url, users_per_command=10, **options) as b24:

        async def one(user: int) -> Availability:
            result = await b24(GetAccessibility(users=[user], start=WEEKS[0], end=WEEKS[1]))
            if log is not None:
                log.append("caller")
            return result

        return await asyncio.gather(*(one(u) for u in range(1, users + 1)))


async def test_a_walked_fan_in_gives_what_a_whole_decode_gives(
    monkeypatch: pytest.MonkeyPatch, stdlib_json: None
) -> None:
    async with FakePortal(users=300, anchor=ANCHOR) as portal:
        monkeypatch.setattr(batchstream, "STREAM_MIN_BYTES", 10**12)
        whole = await fan_in(portal.webhook_url, 300)
        monkeypatch.setattr(batchstream, "STREAM_MIN_BYTES", 0)
        walked = await fan_in(portal.webhook_url, 300)
    assert walked == whole
    assert [list(a) for a in walked] == [[u] for u in range(1, 301)]
    assert sum(len(a[u]) for u, a in enumerate(walked, 1)) > 1000


async def test_callers_run_while_the_rest_of_the_answer_is_read(walk_all: list[str]) -> None:
    """Each command's callers get (and may drop) their typed slice before the next is decoded."""
    async with FakePortal(users=300, anchor=ANCHOR) as portal:
        answers = await fan_in(portal.webhook_url, 300, walk_all)
    assert len(answers) == 300 and walk_all.count("caller") == 300
    first_caller = walk_all.index("caller")
    assert "step" in walk_all[first_caller:]  # callers ran before the walk was over
    # Between two steps of a walk: at most one command's callers (10 users a command).
    runs = "".join("s" if e == "step" else "c" for e in walk_all).split("s")
    assert max(len(run) for run in runs) <= 10 + 1  # (+1: a lone first call)


async def test_close_while_an_answer_is_delivered_still_delivers_it(walk_all: list[str]) -> None:
    """The answer is in hand: close() (which cancels senders with nothing on the wire at
    once) does not cut its delivery short, as before the answer was read in steps."""
    async with FakePortal(users=300, anchor=ANCHOR) as portal:
        b24 = Bitrix24(portal.webhook_url, users_per_command=10)
        step = batchstream._Walk.step
        closing: list[asyncio.Task[None]] = []
        steps: dict[batchstream._Walk, int] = {}

        def close_midway(self: batchstream._Walk) -> bool:
            steps[self] = steps.get(self, 0) + 1
            if steps[self] == 3 and not closing:  # the answer is in hand, partly delivered
                closing.append(asyncio.ensure_future(b24.close()))
            return step(self)

        try:
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(batchstream._Walk, "step", close_midway)
                calls = [
                    b24(GetAccessibility(users=[u], start=WEEKS[0], end=WEEKS[1]))
                    for u in range(1, 301)
                ]
                results = await asyncio.gather(*calls, return_exceptions=True)
        finally:
            await b24.close()
        assert closing and closing[0].done()
    (walk, count), *_ = steps.items()
    assert count == len(walk.chunk) + 1  # walked to its end after close() began
    delivered = [r for r in results if isinstance(r, Availability)]
    # Everything in the answer being read reached its caller; the rest (queued, or in a
    # request the close cut short) ended with ClientClosed, never anything else.
    assert len(delivered) >= 10 * len(walk.chunk)
    assert all(isinstance(r, Availability) or type(r).__name__ == "ClientClosed" for r in results)


async def test_typed_parts_join_to_the_one_request_answer(walk_all: list[str]) -> None:
    """A call split over 40 commands (spread over 8 requests) is parsed part by part and joined
    typed: it equals the answer of one request, key order included, and the raw answer parsed."""
    users = list(range(200, 0, -1))  # the call's order, not sorted
    async with FakePortal(users=200, anchor=ANCHOR) as portal:
        async with Bitrix24(portal.webhook_url, users_per_command=5) as b24:
            split = await b24(GetAccessibility(users=users, start=WEEKS[0], end=WEEKS[1]))
        assert portal.stats.requests == 8  # a first read of 40 commands: 8 parts
        async with Bitrix24(portal.webhook_url, users_per_command=200) as b24:
            whole = await b24(GetAccessibility(users=users, start=WEEKS[0], end=WEEKS[1]))
            raw = await b24.call(
                "calendar.accessibility.get",
                {"users": users, "from": WEEKS[0], "to": WEEKS[1]},
            )
    assert walk_all.count("step") >= 40
    assert split == whole == Availability.from_wire(raw.result, users=users)
    assert list(split) == list(whole) == users
    assert all(split[u] == whole[u] for u in users)
