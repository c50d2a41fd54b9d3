"""RedisTokenStore: event receivers sharing application tokens through a real Redis server."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from b24async import Bitrix24, RateLimits
from b24async.events import Event, EventReceiver, TokenStore, TokenStoreUnavailable
from b24async.methods import BindEvent
from b24async.shared import RedisTokenStore
from b24async.testing import FakePortal
from b24async.testing.phpquery import build_query_php
from shared.redis_server import RedisServer, free_port, require_redis_py

require_redis_py()
import redis.asyncio as aioredis  # noqa: E402 - after the check above

APP = "local.5f1e2d3c4b5a69.12345678"
MEMBER = "a223c6b3710f85df22e9377d6c4f7553"
TOKEN = "51856fefc120afa4b628cc82d3935cce"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
FAST = RateLimits(rate=200.0, burst=400)


class Served:
    """A receiver served on 127.0.0.1, and the events its on_event saw."""

    def __init__(self, receiver: EventReceiver, url: str, seen: list[Event]) -> None:
        self.receiver = receiver
        self.url = url
        self.seen = seen


Serve = Callable[..., Awaitable[Served]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Starts receivers (each with the given store); stops them and closes their stores."""
    started: list[tuple[web.AppRunner, RedisTokenStore]] = []

    async def start(tokens: RedisTokenStore, **kwargs: Any) -> Served:
        seen: list[Event] = []

        async def record(event: Event) -> None:
            seen.append(event)

        receiver = EventReceiver(record, tokens=tokens, **kwargs)
        runner = web.AppRunner(receiver.app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        started.append((runner, tokens))
        return Served(receiver, f"http://127.0.0.1:{runner.addresses[0][1]}/", seen)

    yield start
    for runner, tokens in started:
        await runner.cleanup()
        await tokens.close()


def delivery(event: str = "ONCALENDARENTRYADD", token: str = TOKEN, member: str = MEMBER) -> str:
    """A form-encoded delivery as the portal sends it."""
    auth = {"domain": "x.bitrix24.com", "member_id": member, "application_token": token}
    body: dict[str, Any] = {"event": event, "event_handler_id": 7, "data": {"id": 5}, "ts": 1}
    body["auth"] = auth
    return build_query_php(body)


async def post(url: str, body: str) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=FORM) as response,
    ):
        return response.status


async def test_two_receivers_share_install_verification_and_uninstall(
    redis_url: str, serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="b24async")
    # Two receivers, each with its own store and Redis client, as two processes would have.
    first = await serve(RedisTokenStore(redis_url, app=APP))
    second = await serve(RedisTokenStore(redis_url, app=APP))
    async with FakePortal(users=5, rate=200.0, burst=400) as portal:
        portal.install_app(first.url)  # ONAPPINSTALL reaches the first receiver only
        await portal.deliveries_settled()
        member, token = portal.member_id, portal.application_token
        async with Bitrix24(portal.url, token=portal.issue_tokens(1).access_token) as app:
            assert await app(BindEvent("ONCALENDARENTRYADD", handler=second.url))
            assert await app(BindEvent("ONAPPUNINSTALL", handler=second.url))
            async with Bitrix24(portal.webhook_url, limits=FAST) as hook:
                params = {"type": "user", "ownerId": 1, "name": "x"}
                params.update({"from": "2026-03-02T10:00:00", "to": "2026-03-02T11:00:00"})
                entry = int((await hook.call("calendar.event.add", params)).result)
            await portal.deliveries_settled()
            # The second receiver verified the change with the token the first one captured.
            assert await second.receiver.tokens.get(member) == token
            portal.uninstall_app()  # ONAPPUNINSTALL reaches the second receiver
            await portal.deliveries_settled()
        assert [d.status for d in portal.deliveries] == [200, 200, 200]
    await first.receiver.app.shutdown()
    await second.receiver.app.shutdown()
    assert [e.name for e in first.seen] == ["ONAPPINSTALL"]
    assert sorted(e.name for e in second.seen) == ["ONAPPUNINSTALL", "ONCALENDARENTRYADD"]
    added = next(e for e in second.seen if e.name == "ONCALENDARENTRYADD")
    assert added.data.id == entry  # type: ignore[union-attr]
    # Forgotten for both: the first receiver refuses the old token as well.
    assert await first.receiver.tokens.get(member) is None
    stale = delivery(token=token, member=member)
    assert await post(first.url, stale) == 401
    assert await post(second.url, stale) == 401
    assert token not in caplog.text


async def test_a_new_token_confirmed_at_one_receiver_serves_both(
    redis_url: str, serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    """The first receiver took the install (token and portal address); the update reaches the
    second, which confirms it at the address in Redis and swaps the token for both."""
    caplog.set_level(logging.DEBUG, logger="b24async")
    async with FakePortal(users=5, rate=200.0, burst=400) as portal:
        first = await serve(RedisTokenStore(redis_url, app=APP), app_code=portal.client_id)
        second = await serve(RedisTokenStore(redis_url, app=APP), app_code=portal.client_id)
        portal.install_app(first.url)
        await portal.deliveries_settled()
        old = portal.application_token
        store = second.receiver.tokens
        assert isinstance(store, RedisTokenStore)
        assert await store.get_portal(portal.member_id) == portal.url
        async with Bitrix24(portal.url, token=portal.issue_tokens(1).access_token) as app:
            assert await app(BindEvent("ONAPPUPDATE", handler=second.url))
        portal.update_app()
        await portal.deliveries_settled()
        new = portal.application_token
        assert portal.deliveries[-1].status == 200
        assert await first.receiver.tokens.get(portal.member_id) == new
        assert second.receiver.stats.rotated == 1
        member = portal.member_id
    assert await post(first.url, delivery(token=old, member=member)) == 401
    assert await post(first.url, delivery(token=new, member=member)) == 200
    # Compare-and-set: a swap from a token no longer stored does nothing.
    assert not await store.replace(member, old, "9" * 32)
    assert await store.get(member) == new
    # Uninstall forgets the address with the token.
    await store.delete(member)
    assert await store.get_portal(member) is None and await store.get(member) is None
    assert old not in caplog.text and new not in caplog.text


async def test_concurrent_installs_at_two_receivers_store_one_token(
    redis_url: str, serve: Serve
) -> None:
    first = await serve(RedisTokenStore(redis_url, app=APP))
    second = await serve(RedisTokenStore(redis_url, app=APP))
    # The same install at both (two handlers), and a forged one racing it: SET NX picks one.
    same = await asyncio.gather(
        post(first.url, delivery("ONAPPINSTALL")), post(second.url, delivery("ONAPPINSTALL"))
    )
    assert list(same) == [200, 200]
    forged = "e" * 32
    other = "0" * 32
    raced = await asyncio.gather(
        post(first.url, delivery("ONAPPINSTALL", member=other)),
        post(second.url, delivery("ONAPPINSTALL", token=forged, member=other)),
    )
    assert sorted(raced) == [200, 401]
    winner = TOKEN if raced[0] == 200 else forged
    assert await first.receiver.tokens.get(other) == winner
    assert await second.receiver.tokens.get(MEMBER) == TOKEN


async def test_keys_values_and_reprs(redis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="b24async")
    client = aioredis.Redis.from_url(redis_url)
    try:
        async with RedisTokenStore(redis_url, app=APP) as store:
            assert isinstance(store, TokenStore)
            assert await store.add(MEMBER, TOKEN)
            assert not await store.add(MEMBER, "e" * 32)  # set-if-absent: the first one stays
            assert await store.get(MEMBER) == TOKEN
            assert await store.get("0" * 32) is None
            keys = [key.decode() for key in await client.keys("*") if isinstance(key, bytes)]
            assert keys == [store.key(MEMBER)]
            assert keys[0].startswith("b24async:v1:events:")
            assert TOKEN not in keys[0] and MEMBER not in keys[0] and APP not in keys[0]
            assert await client.get(keys[0]) == TOKEN.encode()
            # No TTL, on purpose (the token lives until uninstall; see RedisTokenStore's doc).
            assert await client.pttl(keys[0]) == -1
            assert TOKEN not in repr(store) and APP in repr(store)
            await store.delete(MEMBER)
            await store.delete(MEMBER)  # forgetting twice is fine
            assert await client.keys("*") == []
    finally:
        await client.aclose()
    assert TOKEN not in caplog.text


async def test_two_apps_on_one_redis_keep_their_own_tokens(redis_url: str) -> None:
    async with (
        RedisTokenStore(redis_url, app="local.first") as first,
        RedisTokenStore(redis_url, app="local.second") as second,
    ):
        assert await first.add(MEMBER, TOKEN)
        assert await second.add(MEMBER, "e" * 32)  # the same portal, another app's token
        assert await first.get(MEMBER) == TOKEN
        assert await second.get(MEMBER) == "e" * 32
        assert first.key(MEMBER) != second.key(MEMBER)


async def test_a_caller_owned_client_stays_open_and_decoded_replies_work(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        async with RedisTokenStore(client, app=APP) as store:
            assert await store.add(MEMBER, TOKEN)
            assert await store.get(MEMBER) == TOKEN
        assert await client.ping()  # close() left the caller's client open
    finally:
        await client.aclose()


def test_bad_arguments_are_refused_before_connecting() -> None:
    with pytest.raises(ValueError, match="app"):
        RedisTokenStore("redis://127.0.0.1:1/0", app="")
    with pytest.raises(ValueError, match="URL"):
        RedisTokenStore("http://127.0.0.1:1/0", app=APP)
    with pytest.raises(TypeError):
        RedisTokenStore(42, app=APP)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="retry_interval"):
        RedisTokenStore("redis://127.0.0.1:1/0", app=APP, retry_interval=0)


async def test_an_empty_token_is_not_stored(redis_url: str) -> None:
    async with RedisTokenStore(redis_url, app=APP) as store:
        with pytest.raises(ValueError, match="non-empty"):
            await store.add(MEMBER, "")
        assert await store.get(MEMBER) is None


def _store_logs(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level]


async def test_unreachable_redis_refuses_events_with_one_warning(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="b24async")
    address = f"redis://127.0.0.1:{free_port()}/0"
    store = RedisTokenStore(address, app=APP)
    with pytest.raises(TokenStoreUnavailable, match=r"Redis at redis://127\.0\.0\.1:\d+/0"):
        await store.check()
    served = await serve(store)
    statuses = [await post(served.url, delivery()) for _ in range(3)]
    statuses.append(await post(served.url, delivery("ONAPPINSTALL")))  # not captured either
    assert statuses == [503] * 4
    await served.receiver.app.shutdown()
    assert served.seen == []
    stats = served.receiver.stats
    assert (stats.unavailable, stats.accepted, stats.unauthorized) == (4, 0, 0)
    warnings = _store_logs(caplog, logging.WARNING)
    assert len(warnings) == 1, warnings  # one line for the outage, not one per delivery
    assert "token store is unavailable" in warnings[0] and address in warnings[0]
    assert TOKEN not in caplog.text


async def test_redis_killed_mid_run_refuses_then_recovers(
    redis_server: RedisServer, redis_url: str, serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="b24async")
    # A tiny retry interval: the first delivery after the restart reconnects (no waiting here).
    served = await serve(RedisTokenStore(redis_url, app=APP, retry_interval=1e-6))
    assert await post(served.url, delivery("ONAPPINSTALL")) == 200
    assert await post(served.url, delivery()) == 200
    redis_server.kill()
    statuses = [await post(served.url, delivery()) for _ in range(3)]
    assert await post(served.url, delivery(token="f" * 32)) == 503  # not even a forgery passes
    assert statuses == [503] * 3
    redis_server.start()  # an empty Redis: persistence is off in the tests
    # The empty server knows no portal: refused as unknown, not accepted.
    assert await post(served.url, delivery()) == 401
    async with RedisTokenStore(redis_url, app=APP) as restore:  # e.g. restored from a backup
        assert await restore.add(MEMBER, TOKEN)
    assert await post(served.url, delivery()) == 200
    await served.receiver.app.shutdown()
    stats = served.receiver.stats
    assert (stats.accepted, stats.unavailable, stats.unauthorized) == (3, 4, 1)
    assert [e.name for e in served.seen] == ["ONAPPINSTALL", *["ONCALENDARENTRYADD"] * 2]
    # One WARNING for the outage (the receiver's; the Redis link keeps quiet), besides the 401's.
    warnings = [m for m in _store_logs(caplog, logging.WARNING) if "refused an event" not in m]
    assert len(warnings) == 1 and "token store is unavailable" in warnings[0], warnings
    infos = [m for m in _store_logs(caplog, logging.INFO) if "token store" in m]
    assert infos == ["the event token store answers again; 4 events were refused meanwhile"]
    assert not _store_logs(caplog, logging.ERROR)
    assert TOKEN not in caplog.text and "f" * 32 not in caplog.text


class _DiesBeforeDelete(RedisTokenStore):
    """A store whose Redis is killed between the uninstall's verification and its delete."""

    def __init__(self, server: RedisServer, url: str) -> None:
        super().__init__(url, app=APP)
        self.server = server

    async def delete(self, member_id: str) -> None:
        self.server.kill()
        await super().delete(member_id)


async def test_an_uninstall_whose_token_cannot_be_deleted_is_still_delivered(
    redis_server: RedisServer, redis_url: str, serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="b24async")
    served = await serve(_DiesBeforeDelete(redis_server, redis_url))
    assert await post(served.url, delivery("ONAPPINSTALL")) == 200
    assert await post(served.url, delivery("ONAPPUNINSTALL")) == 200
    await served.receiver.app.shutdown()
    assert [e.name for e in served.seen] == ["ONAPPINSTALL", "ONAPPUNINSTALL"]
    errors = _store_logs(caplog, logging.ERROR)
    assert len(errors) == 1 and MEMBER in errors[0] and "could not be deleted" in errors[0]
    assert TOKEN not in caplog.text
