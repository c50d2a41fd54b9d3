"""A large lone read spread over staggered requests, against the FakePortal on virtual time.

The portal runs a request's commands one after another (``processing`` s each) and requests
side by side, after a round trip of ``latency``: on virtual time the parts of a spread answer
exactly ``latency + size * processing`` after they leave, in the order of their sizes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging

import pytest

from b24async import Availability, Bitrix24, ClientClosed, batch, batchstream
from b24async.methods import GetAccessibility, SetUserStatus
from b24async.models import _calendar_msgspec as fast
from b24async.protocol import HttpRequest, RawResponse, Response
from b24async.spreading import REQUEST_CPU, Costs, plan_spread
from b24async.testing import FakePortal, FaultKind, Faults, LoopClock
from b24async.transport import AiohttpTransport

pytestmark = [pytest.mark.looptime, pytest.mark.timeout(60)]

ANCHOR = dt.date(2026, 1, 5)
WEEK = (ANCHOR, ANCHOR + dt.timedelta(days=6))
USERS = range(1, 201)  # at 5 users a command: 40 commands, a spread
LATENCY = 0.03
PROCESSING = 0.005
METHOD = "calendar.accessibility.get"


class Recording(AiohttpTransport):
    """The real transport, noting each request's commands and when its answer came."""

    def __init__(self, clock: LoopClock) -> None:
        super().__init__()
        self.clock = clock
        self.sizes: list[int] = []  # commands per request, in the order they left
        self.answers: list[tuple[float, int]] = []  # (virtual time, commands) as answered
        self.all_left = asyncio.Event()  # the 8 parts of a first read have left

    async def send(self, request: HttpRequest) -> RawResponse:
        body = json.loads(request.body or b"{}")
        size = len(body["cmd"]) if "cmd" in body else 1
        self.sizes.append(size)
        if len(self.sizes) >= 8:
            self.all_left.set()
        raw = await super().send(request)
        self.answers.append((self.clock.monotonic(), size))
        return raw


def read() -> GetAccessibility:
    return GetAccessibility(users=USERS, start=WEEK[0], end=WEEK[1])


def portal(clock: LoopClock, **kwargs: object) -> FakePortal:
    return FakePortal(
        users=200, anchor=ANCHOR, latency=LATENCY, processing=PROCESSING, clock=clock, **kwargs
    )


def client(portal: FakePortal, clock: LoopClock, transport: Recording) -> Bitrix24:
    return Bitrix24(portal.webhook_url, users_per_command=5, clock=clock, transport=transport)


async def on_the_wire(
    fake: FakePortal, clock: LoopClock, transport: Recording
) -> tuple[Bitrix24, asyncio.Future[Availability]]:
    """A client, and its first read once every part of it has left."""
    b24 = client(fake, clock, transport)
    call = asyncio.ensure_future(b24(read()))
    await transport.all_left.wait()
    return b24, call


async def whole(portal: FakePortal) -> Availability:
    """The same read as one uncoalesced request."""
    async with Bitrix24(portal.webhook_url, coalesce=False) as solo:
        return await solo(read())


async def test_a_first_read_goes_in_the_planned_parts_smallest_first() -> None:
    clock = LoopClock()
    transport = Recording(clock)
    async with portal(clock) as fake:
        async with client(fake, clock, transport) as b24:
            began = clock.monotonic()
            spread = await b24(read())
            took = clock.monotonic() - began
        stats = fake.stats
        assert await whole(fake) == spread and sum(len(v) for v in spread.values()) > 40
    # Nothing measured yet: the plan's prior for 40 commands, on an idle standard bucket.
    planned = plan_spread(40, idle=True, reads=True, room=49.5, costs=Costs())
    assert len(planned) == 8
    assert transport.sizes == list(planned)
    assert stats.requests == 8 and stats.by_status == {200: 8}  # no 503
    assert stats.commands[METHOD] == 40 and stats.peak_concurrency == 8
    # Each part answers after its own commands: smaller parts first, decode overlapping.
    assert [size for _, size in transport.answers] == sorted(planned)
    for at, size in transport.answers:
        assert at - began == pytest.approx(LATENCY + size * PROCESSING, abs=1e-3)
    # The read ends with its largest part: 7 commands of portal time, not 20 (two halves).
    assert took == pytest.approx(LATENCY + max(planned) * PROCESSING, abs=1e-3)


@pytest.mark.usefixtures("decoding")  # walked, by msgspec too: the caller goes on first
async def test_the_next_read_is_planned_on_what_the_first_measured() -> None:
    clock = LoopClock()
    transport = Recording(clock)
    async with portal(clock) as fake, client(fake, clock, transport) as b24:
        first = await b24(read())
        assert b24._coalescer is not None
        known = b24._coalescer.costs.costs(METHOD)
        # The portal's time blocks, on virtual time: exactly its processing per command.
        assert known.server == pytest.approx(PROCESSING, rel=1e-3)
        assert known.decode is not None and known.decode > 0  # our CPU: whatever it was
        transport.sizes.clear()
        second = await b24(read())
        assert second == first
        assert fake.stats.by_status == {200: 8 + len(transport.sizes)}
    assert transport.sizes == list(plan_spread(40, idle=True, reads=True, room=40.0, costs=known))


@pytest.mark.parametrize(("before", "parts"), [(36, 6), (44, 2), (48, 1)])
async def test_a_fuller_bucket_spreads_over_fewer_requests(before: int, parts: int) -> None:
    """At most half the bucket's free room: 49.5 - 36 = 13.5 free, 6 parts; 5.5, 2; 1.5, none."""
    clock = LoopClock()
    transport = Recording(clock)
    async with portal(clock) as fake:
        # Another client of the portal (sharing its bucket) has just sent some requests.
        async with Bitrix24(fake.webhook_url, coalesce=False, clock=clock) as other:
            await asyncio.gather(*(other.call("server.time") for _ in range(before)))
            async with client(fake, clock, transport) as b24:
                spread = await b24(read())
        assert fake.stats.by_status == {200: before + parts}  # no 503
        assert await whole(fake) == spread
    assert len(transport.sizes) == parts and sum(transport.sizes) == 40


async def test_writes_are_never_spread() -> None:
    """45 concurrent status writes on an idle client (idempotent, but writes): one request."""
    clock = LoopClock()
    transport = Recording(clock)
    async with portal(clock) as fake, client(fake, clock, transport) as b24:
        await asyncio.gather(*(b24(SetUserStatus(status="away")) for _ in range(45)))
    assert transport.sizes == [45]


async def test_close_mid_spread_lets_the_parts_on_the_wire_finish() -> None:
    clock = LoopClock()
    transport = Recording(clock)
    async with portal(clock) as fake:
        b24, call = await on_the_wire(fake, clock, transport)
        await b24.close()
        assert await call == await whole(fake)  # every part came back within the grace
        assert fake.stats.by_status[200] == 8 + 1


async def test_close_cutting_a_spread_short_fails_the_call_as_maybe_sent() -> None:
    clock = LoopClock()
    transport = Recording(clock)
    async with portal(clock) as fake:
        b24, call = await on_the_wire(fake, clock, transport)
        await b24.close(timeout=0.0)  # the parts are still on the portal: cut them short
        with pytest.raises(ClientClosed) as caught:
            await call
        assert caught.value.sent is True  # it may have reached the portal (a read: harmless)


async def test_a_caller_cancelled_mid_spread_leaves_the_client_sound(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = LoopClock()
    transport = Recording(clock)
    async with portal(clock) as fake:
        b24, call = await on_the_wire(fake, clock, transport)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        # The parts still on the wire have no caller left: the next read is spread again.
        again = await b24(read())
        await b24.close()
        assert again == await whole(fake)
        assert len(transport.sizes) == 16 and sum(transport.sizes) == 80
        assert fake.stats.by_status == {200: 16 + 1}  # + whole()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_each_part_of_a_read_is_charged_its_request_cost_not_the_decode() -> None:
    """The CPU a spread read took, less REQUEST_CPU per request, is its decode per command."""
    clock = LoopClock()
    transport = Recording(clock)
    async with portal(clock) as fake, client(fake, clock, transport) as b24:
        assert b24._coalescer is not None
        cpu = iter([10.0, 11.0])  # at the plan, then at the last delivery: 1 s of CPU
        b24._coalescer.cpu = lambda: next(cpu)
        await b24(read())
        known = b24._coalescer.costs.costs(METHOD)
    assert len(transport.sizes) == 8
    assert known.decode == pytest.approx((1.0 - 8 * REQUEST_CPU) / 40)
    assert known.request == REQUEST_CPU


@pytest.mark.skipif(not fast.AVAILABLE, reason="no msgspec")
async def test_one_command_parts_are_read_from_their_text_as_batched_parts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A measured plan starts with one-command parts, sent as plain calls: with msgspec their
    result's text is read typed (plainread), as a batch command's is, never decoded whole."""
    monkeypatch.setattr(fast, "ENABLED", True)
    monkeypatch.setattr(batchstream, "TEXT_MIN_BYTES", 0)  # the parts here are small
    texts: list[int] = []  # users per user map read from its text
    decode_users = fast.decode_users

    def counted(text: str | bytes) -> Availability | None:
        parsed = decode_users(text)
        texts.append(-1 if parsed is None else len(parsed))
        return parsed

    monkeypatch.setattr(fast, "decode_users", counted)
    plain: list[str] = []  # plain-call answers read for their text
    result_text = batch.result_text

    def noted(raw: RawResponse, method: str) -> tuple[str, Response] | None:
        read = result_text(raw, method)
        if read is not None:
            plain.append(method)
        return read

    monkeypatch.setattr(batch, "result_text", noted)
    clock = LoopClock()
    transport = Recording(clock)
    async with portal(clock) as fake, client(fake, clock, transport) as b24:
        assert b24._coalescer is not None
        # Measured: the decode costs 1.3x the portal's time, so the plan opens with one command.
        b24._coalescer.costs.record(METHOD, 40, server=40 * PROCESSING, decode=52 * PROCESSING)
        planned = plan_spread(
            40, idle=True, reads=True, room=49.5, costs=b24._coalescer.costs.costs(METHOD)
        )
        assert planned[0] == 1
        spread = await b24(read())
        stats = fake.stats
        assert spread == await whole(fake)  # the general reader's objects (==, same hash)
        assert {user: hash(spread[user]) for user in USERS} == {
            user: hash(value) for user, value in (await whole(fake)).items()
        }
    assert transport.sizes == list(planned)
    assert stats.requests == len(planned) and stats.commands[METHOD] == 40  # billed as before
    assert plain == [METHOD] * planned.count(1)  # each one-command part, as a plain call
    assert texts == [5] * 40  # every command's users read from text, none declined


@pytest.mark.skipif(not fast.AVAILABLE, reason="no msgspec")
async def test_a_lone_typed_call_read_from_its_text_keeps_a_plain_calls_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The portal's 500 (a JSON error body) and a proxy's HTML 502 are never read as text:
    the plain call's errors and retries are as before, then the answer is read from its text."""
    monkeypatch.setattr(fast, "ENABLED", True)
    monkeypatch.setattr(batchstream, "TEXT_MIN_BYTES", 0)
    texts: list[str] = []
    result_text = batch.result_text

    def noted(raw: RawResponse, method: str) -> tuple[str, Response] | None:
        read = result_text(raw, method)
        texts.append("text" if read is not None else f"whole {raw.status}")
        return read

    monkeypatch.setattr(batch, "result_text", noted)
    query = GetAccessibility(users=[3, 1, 2], start=WEEK[0], end=WEEK[1])
    faults = Faults(at={0: FaultKind.ERROR_500, 1: FaultKind.HTML_502})
    async with (
        FakePortal(users=10, anchor=ANCHOR, faults=faults) as fake,
        Bitrix24(fake.webhook_url) as b24,
    ):
        typed = await b24(query)
        assert fake.stats.requests == 3 and fake.stats.by_status == {500: 1, 502: 1, 200: 1}
        assert fake.stats.commands[METHOD] == 3  # a plain call each time: never a batch
        async with Bitrix24(fake.webhook_url, coalesce=False) as solo:
            assert typed == await solo(query)
    assert texts == ["whole 500", "whole 502", "text"]
