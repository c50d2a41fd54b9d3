"""The shared pieces one at a time, against the real server: GCRA reservations, holds."""

from __future__ import annotations

from b24async import RateLimits
from b24async.shared.bucket import RedisBucket
from b24async.shared.link import RedisLink
from b24async.shared.operating import RedisHolds
from shared.redis_server import require_redis_py

require_redis_py()
import redis.asyncio as aioredis  # noqa: E402 - after the check above

# A drain of one slot per 100 s: the microseconds that pass between two steps are negligible.
# A jitter of 200 s is a margin of 2 slots at this drain.
SLOW = RateLimits(rate=0.01, burst=8, jitter=200.0)
INTERVAL_US = 100_000_000


async def test_reservations_queue_each_request_one_interval_after_the_last(
    redis_url: str,
) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        links = [RedisLink(client, owned=False) for _ in range(2)]
        buckets = [RedisBucket(link, "b24async:v1:test", SLOW) for link in links]
        assert buckets[0].capacity == 6  # burst 8 less the safety margin (2 slots)
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


async def test_a_fractional_margin_is_kept_by_the_shared_bucket_too(redis_url: str) -> None:
    # The default margin is rate * 0.25 s, rarely a whole number of slots: half a slot here.
    half = RateLimits(rate=0.01, burst=8, jitter=50.0)
    client = aioredis.Redis.from_url(redis_url)
    try:
        bucket = RedisBucket(RedisLink(client, owned=False), "b24async:v1:test:half", half)
        assert bucket.capacity == 7.5
        waits = []
        for _ in range(9):
            reply = await bucket._step("take")
            assert reply is not None
            waits.append(reply[0])
    finally:
        await client.aclose()
    assert waits[:7] == [0] * 7  # the whole slots go at once
    # The k-th request waits (k - 7.5) intervals, as in the local LeakyBucket.
    for k, wait in zip((8, 9), waits[7:], strict=True):
        assert (k - 7.5 - 0.01) * INTERVAL_US < wait <= (k - 7.5) * INTERVAL_US


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


async def test_a_hold_inside_a_batch_holds_the_key_the_portal_bills(redis_url: str) -> None:
    """Facts §2: an app's in-batch calls share its method key; a webhook's are keyed apart."""
    from b24async.shared.operating import SharedThrottle

    client = aioredis.Redis.from_url(redis_url)
    try:

        def throttle(account: str, *, webhook: bool) -> SharedThrottle:
            link = RedisLink(client, owned=False)
            holds = RedisHolds(link, account, max_age=0)
            bucket = RedisBucket(link, "b24async:v1:test", SLOW, holds=holds)
            return SharedThrottle(
                SLOW, max_concurrency=4, bucket=bucket, holds=holds, link=link, webhook=webhook
            )

        app_a, app_b = (throttle("b24async:v1:test:app", webhook=False) for _ in range(2))
        app_a.on_operation_limit("batch/user.update")  # refused inside a batch
        await app_a.holds._link.drain()
        await app_b.holds.refresh()
        assert app_b.hold_remaining("user.update") and app_b.admissible("user.update") == 0

        hook_a, hook_b = (throttle("b24async:v1:test:hook", webhook=True) for _ in range(2))
        hook_a.on_operation_limit("batch/user.update")
        await hook_a.holds._link.drain()
        await hook_b.holds.refresh()
        assert hook_b.admissible("batch/user.update") == 0
        assert hook_b.admissible("user.update") != 0  # a direct call is another key
    finally:
        await client.aclose()
