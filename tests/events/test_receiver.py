"""EventReceiver: verification, the token lifecycle, status codes, and a slow on_event."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from b24async import Bitrix24
from b24async.events import Event, EventReceiver, MemoryTokenStore
from b24async.methods import BindEvent
from b24async.testing import FakePortal
from b24async.testing.phpquery import build_query_php
from tests.events.helpers import add_entry

MEMBER = "a223c6b3710f85df22e9377d6c4f7553"
TOKEN = "51856fefc120afa4b628cc82d3935cce"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class Served:
    """A receiver served on 127.0.0.1, and what its on_event saw."""

    def __init__(self, receiver: EventReceiver, url: str, seen: list[Event]) -> None:
        self.receiver = receiver
        self.url = url
        self.seen = seen


Factory = Callable[..., Awaitable[Served]]


@pytest.fixture
async def serve() -> AsyncIterator[Factory]:
    runners: list[web.AppRunner] = []

    async def start(
        on_event: Callable[[Event], Awaitable[Any]] | None = None, **kwargs: Any
    ) -> Served:
        seen: list[Event] = []

        async def record(event: Event) -> None:
            seen.append(event)

        receiver = EventReceiver(on_event or record, **kwargs)
        runner = web.AppRunner(receiver.app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        return Served(receiver, f"http://127.0.0.1:{runner.addresses[0][1]}/", seen)

    yield start
    for runner in runners:
        await runner.cleanup()


def delivery(event: str = "ONCALENDARENTRYADD", token: str | None = TOKEN, **extra: Any) -> str:
    auth: dict[str, Any] = {"domain": "x.bitrix24.com", "member_id": MEMBER}
    if token is not None:
        auth["application_token"] = token
    body: dict[str, Any] = {"event": event, "event_handler_id": 7, "data": {"id": 5}, "ts": 1}
    body.update(extra)
    body["auth"] = auth
    return build_query_php(body)


async def post(url: str, body: str | bytes, headers: dict[str, str] | None = None) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=headers or FORM) as response,
    ):
        return response.status


async def test_forged_missing_unknown_and_stale_tokens_are_refused(
    serve: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    served = await serve(tokens=MemoryTokenStore({MEMBER: TOKEN}), accept_install=False)
    caplog.set_level(logging.WARNING, "b24async.events")
    assert await post(served.url, delivery()) == 200
    assert await post(served.url, delivery(token="f" * 32)) == 401  # forged
    assert await post(served.url, delivery(token=None)) == 401  # missing
    other = delivery().replace(MEMBER, "0" * 32)
    assert await post(served.url, other) == 401  # unknown portal
    # Without accept_install, ONAPPINSTALL of an unknown portal does not register it.
    assert await post(served.url, delivery("ONAPPINSTALL").replace(MEMBER, "1" * 32)) == 401
    assert await post(served.url, delivery("ONAPPUNINSTALL")) == 200
    assert await post(served.url, delivery()) == 401  # stale: the app was uninstalled
    await served.receiver.app.shutdown()
    assert served.receiver.stats.unauthorized == 5 and served.receiver.stats.accepted == 2
    assert TOKEN not in caplog.text and "f" * 32 not in caplog.text
    assert "wrong application token" in caplog.text
    assert all(record.levelno == logging.WARNING for record in caplog.records)


async def test_install_uninstall_lifecycle_with_the_portal(serve: Factory) -> None:
    async with FakePortal(users=5, rate=200.0, burst=400) as portal:
        served = await serve()
        portal.install_app(served.url)
        await portal.deliveries_settled()
        tokens = portal.issue_tokens(1)
        async with (
            Bitrix24(portal.url, token=tokens.access_token) as app,
            Bitrix24(portal.webhook_url) as hook,
        ):
            for name in ("ONCALENDARENTRYADD", "ONAPPUNINSTALL"):
                assert await app(BindEvent(name, handler=served.url))
            entry = await add_entry(hook)
            await portal.deliveries_settled()
            assert await served.receiver.tokens.get(portal.member_id) == portal.application_token
            portal.uninstall_app()
            await portal.deliveries_settled()
        await asyncio.sleep(0)
        assert [d.status for d in portal.deliveries] == [200, 200, 200]
        names = [event.name for event in served.seen]
        assert sorted(names) == ["ONAPPINSTALL", "ONAPPUNINSTALL", "ONCALENDARENTRYADD"]
        added = next(e for e in served.seen if e.name == "ONCALENDARENTRYADD")
        assert added.data.id == entry  # type: ignore[union-attr]
        assert added.auth is not None and added.auth.member_id == portal.member_id
        assert added.auth.refresh_token and added.auth.user_id == 1
        assert portal.application_token not in repr(added)
        assert added.auth.access_token not in repr(added)
        assert await served.receiver.tokens.get(portal.member_id) is None
        # A replay of the install event with another token cannot take over a known portal.
        portal.install_app(served.url)  # a real reinstall: a new token is captured
        await portal.deliveries_settled()
        assert await served.receiver.tokens.get(portal.member_id) == portal.application_token


async def test_a_second_install_with_another_token_is_refused(serve: Factory) -> None:
    served = await serve()
    assert await post(served.url, delivery("ONAPPINSTALL")) == 200
    assert await post(served.url, delivery("ONAPPINSTALL", token="e" * 32)) == 401
    assert await served.receiver.tokens.get(MEMBER) == TOKEN


async def test_malformed_oversized_and_wrong_method(serve: Factory) -> None:
    served = await serve(tokens=MemoryTokenStore({MEMBER: TOKEN}), max_body=2048)
    assert await post(served.url, b"\xff\xfe") == 400
    assert await post(served.url, "a[b]=1&a=2") == 400
    assert await post(served.url, '{"event": "X"}', {"Content-Type": "application/json"}) == 400
    assert await post(served.url, delivery(ts="yesterday")) == 400
    assert await post(served.url, delivery(data={"other": 1})) == 400  # calendar without id
    assert await post(served.url, delivery(padding="x" * 4096)) == 413
    async with aiohttp.ClientSession() as session, session.get(served.url) as response:
        assert response.status == 405
    assert await post(served.url, delivery()) == 200  # still serving
    stats = served.receiver.stats
    assert (stats.malformed, stats.too_large, stats.accepted) == (6, 1, 1)


async def test_handler_exceptions_never_reach_the_portal(serve: Factory) -> None:
    async def explode(event: Event) -> None:
        raise RuntimeError("boom")

    served = await serve(explode, tokens=MemoryTokenStore({MEMBER: TOKEN}))
    assert await post(served.url, delivery()) == 200
    assert await post(served.url, delivery()) == 200
    await served.receiver.app.shutdown()
    await served.receiver.app.cleanup()
    assert served.receiver.stats.handler_errors == 2


async def test_answers_200_while_on_event_is_slow(serve: Factory) -> None:
    gate = asyncio.Event()
    order: list[str] = []

    async def slow(event: Event) -> None:
        await gate.wait()
        order.append("handled")

    served = await serve(slow, tokens=MemoryTokenStore({MEMBER: TOKEN}), concurrency=2)

    async def send() -> None:
        assert await post(served.url, delivery()) == 200
        order.append("200")

    await asyncio.gather(*(send() for _ in range(30)))
    assert order == ["200"] * 30  # every answer came before any handler finished
    gate.set()
    await served.receiver.app.shutdown()
    await served.receiver.app.cleanup()
    assert order.count("handled") == 30 and served.receiver.stats.handled == 30


async def test_a_full_queue_holds_the_answer_instead_of_dropping(serve: Factory) -> None:
    gate, started = asyncio.Event(), asyncio.Event()

    async def slow(event: Event) -> None:
        started.set()
        await gate.wait()

    tokens = MemoryTokenStore({MEMBER: TOKEN})
    served = await serve(slow, tokens=tokens, concurrency=1, queue_size=1)
    assert await post(served.url, delivery()) == 200
    await started.wait()  # the one worker holds the first event
    assert await post(served.url, delivery()) == 200  # the queue's one place
    third = asyncio.ensure_future(post(served.url, delivery()))
    await asyncio.sleep(0.05)
    assert not third.done()  # waiting for room, not refused
    gate.set()
    assert await third == 200


async def test_mounted_in_a_users_app() -> None:
    seen: list[Event] = []

    async def record(event: Event) -> None:
        seen.append(event)

    receiver = EventReceiver(record, tokens=MemoryTokenStore({MEMBER: TOKEN}))
    outer = web.Application()
    outer.add_subapp("/bitrix/events/", receiver.app)
    runner = web.AppRunner(outer, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/bitrix/events/"
        assert await post(url, delivery()) == 200
    finally:
        await runner.cleanup()
    assert [event.name for event in seen] == ["ONCALENDARENTRYADD"]
