"""When Redis is away: at start (raise, or local with one WARNING) and mid-job (local, resume)."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

import pytest

from b24async import Bitrix24, RateLimits, Throttle, TransportError
from b24async.testing import FakePortal
from shared.redis_server import RedisServer, free_port, require_redis_py

require_redis_py()
import redis.asyncio as aioredis  # noqa: E402 - after the check above

RATE, BURST = 100.0, 40
# The client is told half the portal's bucket: its margin then absorbs 0.3 s of the event loop
# being late to send (a loaded machine) instead of 0.1 s; the test is about Redis, not jitter.
LIMITS = RateLimits(rate=RATE, burst=BURST // 2)


def _redis_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "Redis" in r.getMessage()
    ]


async def test_unreachable_redis_fails_the_first_call_naming_it() -> None:
    port = free_port()
    async with FakePortal(users=5) as portal:
        async with Bitrix24(portal.webhook_url, shared=f"redis://127.0.0.1:{port}/0") as b24:
            with pytest.raises(TransportError) as caught:
                await b24.call("user.current")
        requests = portal.stats.requests
    message = str(caught.value)
    assert "Redis" in message
    assert f"127.0.0.1:{port}" in message
    assert caught.value.may_have_applied is False
    assert requests == 0  # nothing was sent unthrottled


async def test_unreachable_redis_with_local_fallback_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()
    caplog.set_level(logging.INFO, logger="b24async")
    async with FakePortal(users=30, rate=RATE, burst=BURST) as portal:
        async with Bitrix24(
            portal.webhook_url,
            limits=LIMITS,
            shared=f"redis://127.0.0.1:{port}/0",
            shared_fallback="local",
            coalesce=False,
        ) as b24:
            await asyncio.gather(*(b24.call("user.get", {"ID": i}) for i in range(1, 21)))
        stats = portal.stats
    warnings = _redis_warnings(caplog)
    assert len(warnings) == 1, warnings
    assert f"127.0.0.1:{port}" in warnings[0]
    assert stats.by_status[200] == 20
    assert stats.by_status[503] == 0


async def test_caller_owned_redis_stays_open(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        async with (
            FakePortal(users=5) as portal,
            Bitrix24(portal.webhook_url, shared=client) as b24,
        ):
            await b24.call("user.current")
        assert await client.ping()
    finally:
        await client.aclose()


async def test_keys_hold_no_secret_and_all_expire(redis_url: str) -> None:
    async with FakePortal(users=5) as portal:
        code = portal.webhook_url.rstrip("/").rsplit("/", 1)[1]
        async with Bitrix24(portal.webhook_url, shared=redis_url) as b24:
            await b24.call("user.current")
            assert b24._shared is not None
            b24._shared.throttle.on_operation_limit("user.update")  # a hold key too
        tokens = portal.issue_tokens(1)
        portal.expire_access_tokens()
        async with Bitrix24(
            portal.url,
            token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            client_id=portal.client_id,
            client_secret=portal.client_secret,
            oauth_url=portal.oauth_url,
            shared=redis_url,
        ) as b24:
            await b24.call("user.current")  # refreshes: the pair is stored
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        keys = [str(key) for key in await client.keys("*")]
        assert any(":oauth:next:" in key for key in keys)
        assert any(key.endswith(":holds") for key in keys)
        assert any(key.endswith(":bucket") for key in keys)
        secrets = (
            code,
            portal.client_secret,
            portal.client_id,
            tokens.refresh_token,
            tokens.access_token,
        )
        for key in keys:
            assert key.startswith("b24async:v1:{127.0.0.1:")  # the host is the hash tag
            assert not any(secret in key for secret in secrets)
            assert await client.pttl(key) > 0, key
        for key in keys:
            if await client.type(key) == "string":
                value = str(await client.get(key))
                assert code not in value
                assert portal.client_secret not in value
    finally:
        await client.aclose()


async def test_other_limits_in_another_process_are_warned_about(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with (
        FakePortal(users=5) as portal,
        Bitrix24(portal.webhook_url, shared=redis_url) as first,
        Bitrix24(portal.webhook_url, shared=redis_url, limits=RateLimits.ENTERPRISE) as second,
    ):
        await first.call("user.current")
        await second.call("user.current")
        await second.call("user.current")
    warnings = [r.getMessage() for r in caplog.records if "other limits" in r.getMessage()]
    assert len(warnings) == 1
    assert "rate=5 burst=250" in warnings[0]


async def test_a_503_marks_the_shared_bucket_full_for_all(redis_url: str) -> None:
    async with (
        FakePortal(users=5, rate=RATE, burst=BURST) as portal,
        Bitrix24(portal.webhook_url, shared=redis_url, limits=LIMITS) as first,
        Bitrix24(portal.webhook_url, shared=redis_url, limits=LIMITS) as second,
    ):
        await first.call("user.current")
        await second.call("user.current")
        assert first._shared is not None and second._shared is not None
        first._shared.throttle.on_query_limit()  # what the engine does on a 503
        await first._shared.link.drain()  # let the background write land
        bucket = second._shared.throttle.bucket
        assert bucket.time_until_free() == 0.0  # second has not heard of it yet
        reply = await second._shared.throttle.bucket._step("take")  # type: ignore[attr-defined]
    assert reply is not None
    # Full: the next slot waits, at most one drain interval from the 503 (how much less depends
    # on how long the steps above took, which this test does not time).
    interval_us = 1_000_000 / RATE
    assert 0 < reply[0] <= interval_us


async def test_redis_killed_and_restarted_mid_job(
    redis_server: RedisServer, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="b24async")
    writes = 150
    done = 0
    async with FakePortal(users=writes + 2, rate=RATE, burst=BURST) as portal:
        async with Bitrix24(
            portal.webhook_url, limits=LIMITS, shared=redis_url, coalesce=False
        ) as b24:
            assert b24._shared is not None
            link = b24._shared.link
            link.retry_interval = 0.2  # retry Redis sooner than the default 1 s: a short job
            bucket = b24._shared.throttle.bucket
            gate = asyncio.Semaphore(8)
            third, half, restarted = asyncio.Event(), asyncio.Event(), asyncio.Event()

            async def one(user: int) -> None:
                nonlocal done
                if user >= 2 + writes * 2 // 3:
                    await restarted.wait()  # the last third runs after Redis is back
                async with gate:
                    await b24.call("user.update", {"ID": user, "WORK_POSITION": f"job:{user}"})
                done += 1
                if done == writes // 3:
                    third.set()
                if done == writes // 3 + writes // 4:
                    half.set()

            job = asyncio.gather(*(one(user) for user in range(2, writes + 2)))
            await third.wait()
            await asyncio.to_thread(redis_server.kill)
            await half.wait()
            local_during_outage = bucket.local_acquires  # type: ignore[attr-defined]
            await asyncio.to_thread(redis_server.start)
            restarted.set()
            restarted_at = done
            await job
            finished_local = bucket.local_acquires  # type: ignore[attr-defined]
            up = link.up
        stats, ledger = portal.stats, portal.ledger

    assert restarted_at < writes  # the restart happened mid-job
    assert local_during_outage > 0  # the outage was bridged by local throttling
    assert up  # sharing resumed
    # After the restart the job went back to the shared bucket within a retry interval.
    assert finished_local - local_during_outage < writes - restarted_at
    warnings = _redis_warnings(caplog)
    assert len(warnings) == 1, warnings  # one WARNING for the outage, not one per call
    assert any("back" in r.getMessage() for r in caplog.records)
    written = Counter(entry.change["WORK_POSITION"] for entry in ledger)
    assert set(written) == {f"job:{user}" for user in range(2, writes + 2)}
    assert set(written.values()) == {1}
    assert stats.by_status[503] == 0


async def test_a_request_queued_for_the_bucket_does_not_follow_a_new_hold(redis_url: str) -> None:
    # A margin of 2 slots (2 s of jitter at 1/s): two slots, then one per second.
    slow = RateLimits(rate=1.0, burst=4, jitter=2.0)
    async with (
        FakePortal(users=5, rate=1.0, burst=4) as portal,
        Bitrix24(portal.webhook_url, shared=redis_url, limits=slow, coalesce=False) as queued,
        Bitrix24(portal.webhook_url, shared=redis_url, limits=slow, coalesce=False) as refused,
    ):
        assert queued._shared is not None and refused._shared is not None
        await queued.call("user.current")
        await queued.call("user.current")
        throttle = queued._shared.throttle
        task = asyncio.create_task(queued.call("user.update", {"ID": 2, "WORK_POSITION": "x"}))
        for _ in range(1000):  # until it has passed the holds and waits for its bucket slot
            if throttle.bucket.waited > 0:  # type: ignore[attr-defined]
                break
            await asyncio.sleep(0.005)
        await refused._shared.link.start()
        refused._shared.throttle.on_operation_limit("user.update")  # the other one got a 429
        await refused._shared.link.drain()
        for _ in range(1000):  # until the queued request meets the hold
            if throttle.shared_wait > 0:
                break
            await asyncio.sleep(0.005)
        held = throttle.shared_wait
        updates = portal.stats.commands["user.update"]
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert held > 0
    assert updates == 0


async def test_a_process_started_later_with_a_spent_pair_takes_the_newest(redis_url: str) -> None:
    async with FakePortal(users=5) as portal:
        tokens = portal.issue_tokens(1)
        portal.expire_access_tokens()
        seen: list[object] = []
        options: dict[str, Any] = {
            "refresh_token": tokens.refresh_token,
            "client_id": portal.client_id,
            "client_secret": portal.client_secret,
            "oauth_url": portal.oauth_url,
            "on_token_refresh": seen.append,
            "shared": redis_url,
        }
        async with Bitrix24(portal.url, token=tokens.access_token, **options) as first:
            await first.call("user.current")  # refreshes: the old refresh token is now dead
        # Started from the same (now spent) pair, as a restarted worker would be.
        async with Bitrix24(portal.url, token=tokens.access_token, **options) as later:
            await later.call("user.current")
            later_refreshes = later.stats.token_refreshes
        refreshes = portal.stats.refreshes
    assert refreshes == 1
    assert later_refreshes == 0
    assert len(seen) == 1


async def test_pairs_of_two_users_of_one_app_do_not_mix(redis_url: str) -> None:
    async with FakePortal(users=5) as portal:
        pairs = [portal.issue_tokens(1), portal.issue_tokens(2)]
        portal.expire_access_tokens()
        ids = []
        for pair in pairs:
            async with Bitrix24(
                portal.url,
                token=pair.access_token,
                refresh_token=pair.refresh_token,
                client_id=portal.client_id,
                client_secret=portal.client_secret,
                oauth_url=portal.oauth_url,
                shared=redis_url,
            ) as b24:
                ids.append(str((await b24.call("user.current")).result["ID"]))
        refreshes = portal.stats.refreshes
    assert ids == ["1", "2"]  # each refreshed its own pair
    assert refreshes == 2


def test_bad_shared_arguments_fail_before_anything_is_sent() -> None:
    url = "http://127.0.0.1:1/rest/1/code/"
    with pytest.raises(TypeError, match=r"redis\.asyncio\.Redis"):
        Bitrix24(url, shared=123)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="redis://"):
        Bitrix24(url, shared="http://127.0.0.1:6379/0")
    with pytest.raises(ValueError, match="shared_fallback"):
        Bitrix24(url, shared="redis://127.0.0.1:1/0", shared_fallback="maybe")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not both"):
        Bitrix24(url, shared="redis://127.0.0.1:1/0", throttle=Throttle())
