"""The shared pieces one at a time, against the real server: GCRA reservations, holds, import."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import redis.asyncio as aioredis

from b24async import RateLimits
from b24async.shared.bucket import RedisBucket
from b24async.shared.link import RedisLink
from b24async.shared.operating import RedisHolds

# A drain of one slot per 100 s: the microseconds that pass between two steps are negligible.
SLOW = RateLimits(rate=0.01, burst=8)
INTERVAL_US = 100_000_000


async def test_reservations_queue_each_request_one_interval_after_the_last(
    redis_url: str,
) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        links = [RedisLink(client, owned=False) for _ in range(2)]
        buckets = [RedisBucket(link, "b24async:v1:test", SLOW) for link in links]
        assert buckets[0].capacity == 6  # burst 8 less the local bucket's safety margin (2)
        waits = []
        for index in range(9):  # two "processes" taking turns
            reply = await buckets[index % 2]._step("take")
            assert reply is not None
            waits.append(reply[0])
    finally:
        await client.aclose()
    assert waits[:6] == [0] * 6  # the bucket's capacity goes at once
    # Then one slot per interval, each reservation one interval after the previous one.
    for k, wait in enumerate(waits[6:], start=1):
        assert (k - 0.01) * INTERVAL_US < wait <= k * INTERVAL_US


async def test_holds_are_seen_by_every_link_until_they_expire(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        first = RedisHolds(RedisLink(client, owned=False), "b24async:v1:test:x", max_age=0)
        second = RedisHolds(RedisLink(client, owned=False), "b24async:v1:test:x", max_age=0)
        first.publish("crm.deal.add", 300.0)
        first.publish("batch", 0.001)
        await first._link.drain()
        await second.refresh()
        assert 299 < second.remaining("crm.deal.add") <= 300
        assert second.remaining("user.get") == 0
        assert set(second.held()) <= {"crm.deal.add", "batch"}
        ttl = await client.pttl("b24async:v1:test:x:holds")
        assert 300_000 <= ttl <= 302_000
    finally:
        await client.aclose()


def test_the_core_imports_without_redis() -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.modules["redis"] = None  # as if the extra were not installed
        import b24async
        from b24async import Bitrix24
        b24 = Bitrix24("http://127.0.0.1:1/rest/1/code/")
        try:
            Bitrix24("http://127.0.0.1:1/rest/1/code/", shared="redis://127.0.0.1:1/0")
        except ImportError as exc:
            print(exc)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert "pip install 'b24async[redis]'" in out
