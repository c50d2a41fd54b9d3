"""The fake portal's operating accounting, rule by rule (facts §2 "Per-method execution time").

Every test names the rule it checks, as written in ``b24async.testing.operating``. The portal
runs at ``time_scale=0.001`` on a frozen clock starting on a minute boundary: a unscaled
second is a millisecond, the window 0.6 s, a bucket 0.06 s, the floor 0.1 ms, a ban 0.3 s.
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import pytest

from b24async.testing import FakePortal
from b24async.testing.__main__ import parse_args
from b24async.testing.operating import OperatingMeter

from .conftest import FakeClock, call

S = 0.001  # the time scale: unscaled seconds -> portal seconds
EPOCH = 1_800_000_000.0  # a minute boundary (and a multiple of the scaled bucket, 0.06 s)
BLOCKED = {
    "error": "OPERATION_TIME_LIMIT",
    "error_description": "Method is blocked due to operation time limit.",
}


def portal(clock: FakeClock, **kwargs: Any) -> FakePortal:
    kwargs.setdefault("users", 10)
    kwargs.setdefault("time_scale", S)
    return FakePortal(clock=clock, start_time=EPOCH, **kwargs)


async def batch(session: aiohttp.ClientSession, url: str, cmd: dict[str, str]) -> tuple[int, Any]:
    return await call(session, url + "batch", json={"halt": 0, "cmd": cmd})


def updates(count: int, prefix: str = "u") -> dict[str, str]:
    return {f"{prefix}{i}": f"user.update?ID={2 + i % 8}&NAME=n{i}" for i in range(count)}


async def test_rule_handler_time_only_processing_is_billed(
    clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    async with portal(clock, processing=0.5, latency=0.01) as p:
        for expected in (0.5, 1.0, 1.5):
            status, body = await call(session, p.webhook_url + "user.current")
            assert status == 200
            assert body["time"]["operating"] == pytest.approx(expected * S)


async def test_rule_floor_lone_fast_calls_are_never_billed(
    clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    async with portal(clock, processing=0.05) as p:
        for _ in range(5):
            status, body = await call(session, p.webhook_url + "user.current")
            assert status == 200
            assert body["time"]["operating"] == 0
        assert p.meter.spent_on("user.current") == 0


async def test_rule_floor_a_batch_of_fast_calls_is_billed_as_one_sum(
    clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    async with portal(clock, processing=0.02, limiter="legacy") as p:
        token = p.issue_tokens(1).access_token
        url = f"{p.url}/rest/"
        status, body = await call(session, url + "batch", json={"auth": token, "cmd": updates(50)})
        assert status == 200
        times = body["result"]["result_time"]
        # rule "reported": fast calls are not in the sum yet, all show the stored sum (0).
        assert {t["operating"] for t in times.values()} == {0}
        status, body = await call(session, url + "user.update", json={"auth": token, "ID": 2})
        # 50 x 20 ms = 1.0 s stored at the end of the batch request; this lone call is not.
        assert body["time"]["operating"] == pytest.approx(1.0 * S)


async def test_rule_reported_counts_this_requests_slow_calls(
    clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    async with portal(clock, processing=0.3) as p:
        token = p.issue_tokens(1).access_token
        cmd = {"a": "user.current", "b": "user.current", "c": "user.current"}
        status, body = await call(session, f"{p.url}/rest/batch", json={"auth": token, "cmd": cmd})
        assert status == 200
        times = body["result"]["result_time"]
        assert [times[k]["operating"] for k in "abc"] == pytest.approx([0.3 * S, 0.6 * S, 0.9 * S])


async def test_rule_buckets_leave_the_sum_at_minute_boundaries(
    clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    async with portal(clock, processing=1.0) as p:
        url = p.webhook_url + "user.current"
        await call(session, url)  # bucket 0 (t = 0 s)
        clock.advance(59.9 * S)
        await call(session, url)  # still bucket 0
        clock.advance(0.2 * S)
        status, body = await call(session, url)  # bucket 1 (t = 60.1 s)
        assert status == 200
        assert body["time"]["operating"] == pytest.approx(3.0 * S)
        # operating_reset_at: the first call of the oldest bucket + 600 s.
        assert body["time"]["operating_reset_at"] == pytest.approx(EPOCH + 600 * S)
        clock.advance((600 - 60.1 - 0.01) * S)  # t = 599.99 s: bucket 0 is still in the sum
        await call(session, p.webhook_url + "user.get")
        assert p.meter.spent_on("user.current") == pytest.approx(3.0 * S)
        clock.advance(0.02 * S)  # t = 600.01 s: bucket 0 (both of its calls) has left
        assert p.meter.spent_on("user.current") == pytest.approx(1.0 * S)


async def test_rule_check_strictly_greater_crossing_call_completes(
    clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    async with portal(clock, processing=0.5, operating_budget=1.0, limiter="legacy") as p:
        url = p.webhook_url + "user.current"
        for expected in (0.5, 1.0, 1.5):  # at 1.0 the sum is not greater: the third call runs
            status, body = await call(session, url)
            assert (status, body["time"]["operating"]) == (200, pytest.approx(expected * S))
        assert await call(session, url) == (429, BLOCKED)
        assert p.stats.commands["user.current"] == 3
        # Only that key: another method, another credential keep working.
        assert (await call(session, p.webhook_url + "server.time"))[0] == 200
        assert (await call(session, p.add_webhook(2) + "user.current"))[0] == 200


async def test_rule_check_counts_this_requests_time_inside_a_batch(
    clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    async with portal(clock, processing=0.02, operating_budget=0.5, limiter="legacy") as p:
        status, body = await batch(session, p.webhook_url, updates(50))
        assert status == 200
        result = body["result"]
        # 25 x 20 ms = 0.5 s is not greater; the 26th crosses and completes; the rest refused.
        assert len(result["result"]) == 26
        assert set(result["result_error"]) == {f"u{i}" for i in range(26, 50)}
        assert all(e == BLOCKED for e in result["result_error"].values())
        assert len(p.ledger) == 26


async def test_rule_ban_2026_bans_for_300s_and_clears_the_buckets(
    clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    async with portal(clock, processing=0.5, operating_budget=1.0) as p:
        url = p.webhook_url + "user.current"
        for _ in range(3):
            assert (await call(session, url))[0] == 200
        assert await call(session, url) == (429, BLOCKED)
        assert p.meter.bans == 1
        clock.advance(299.9 * S)
        assert await call(session, url) == (429, BLOCKED)  # still banned (not extended)
        assert p.meter.bans == 1
        clock.advance(0.2 * S)
        status, body = await call(session, url)
        # After the ban: a full budget (the buckets were cleared, not merely expired).
        assert (status, body["time"]["operating"]) == (200, pytest.approx(0.5 * S))


async def test_rule_ban_legacy_unblocks_as_buckets_expire(
    clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    async with portal(clock, processing=0.5, operating_budget=1.0, limiter="legacy") as p:
        url = p.webhook_url + "user.current"
        for _ in range(3):
            assert (await call(session, url))[0] == 200
        assert await call(session, url) == (429, BLOCKED)
        clock.advance(300 * S)
        assert (await call(session, url))[0] == 429  # no ban, but the buckets are still there
        assert p.meter.bans == 0
        clock.advance(300 * S)  # bucket 0 leaves the window
        status, body = await call(session, url)
        assert (status, body["time"]["operating"]) == (200, pytest.approx(0.5 * S))


async def test_rule_batch_key_2026_half_weight_on_its_own_key(
    clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    async with portal(clock, processing=0.2) as p:
        token = p.issue_tokens(1).access_token
        seen = []
        for _ in range(3):
            status, body = await call(
                session,
                f"{p.url}/rest/batch",
                json={"auth": token, "cmd": {f"c{i}": "user.current" for i in range(5)}},
            )
            assert status == 200
            assert body["time"]["processing"] == pytest.approx(1.0 * S)
            seen.append(body["time"]["operating"])
        assert seen == pytest.approx([0.5 * S, 1.0 * S, 1.5 * S])
        # Inner commands are still billed to their own method: 3 x 5 x 0.2 s.
        assert p.meter.spent_on("user.current") == pytest.approx(3.0 * S)


async def test_rule_batch_key_legacy_is_not_billed(
    clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    async with portal(clock, processing=0.2, limiter="legacy") as p:
        status, body = await batch(session, p.webhook_url, {"a": "user.current"})
        assert (status, body["time"]["operating"]) == (200, 0)


async def test_rule_batch_key_2026_blocked_batch_refuses_the_whole_request(
    clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    async with portal(clock, processing=0.4, operating_budget=1.0) as p:
        cmd = {"a": "user.update?ID=2&NAME=x", "b": "user.update?ID=3&NAME=y"}
        other = p.add_webhook(1)  # a second webhook: its inner keys are shared, see below
        for _ in range(3):  # batch key: 0.4, 0.8, 1.2 (the third crosses and completes)
            cmd2 = {"a": "server.time", "b": "user.current"}
            status, _ = await batch(session, p.webhook_url, cmd2)
            assert status == 200
        ledger = len(p.ledger)
        assert await batch(session, p.webhook_url, cmd) == (429, BLOCKED)
        assert len(p.ledger) == ledger  # none of its commands ran
        assert p.meter.bans == 1
        # Direct calls of the same webhook are not affected, nor another webhook's batches.
        assert (await call(session, p.webhook_url + "user.current"))[0] == 200
        assert (await batch(session, other, {"a": "server.time"}))[0] == 200


async def test_rule_key_webhook_batches_share_one_key_per_method(
    clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    async with portal(clock, processing=0.5, operating_budget=1.0, limiter="legacy") as p:
        second = p.add_webhook(2)
        cmd = {"a": "user.current", "b": "user.current", "c": "user.current"}
        status, body = await batch(session, p.webhook_url, cmd)
        assert status == 200 and len(body["result"]["result"]) == 3  # 1.5 s: over the budget
        status, body = await batch(session, second, {"a": "user.current"})
        assert body["result"]["result_error"] == {"a": BLOCKED}  # another webhook's batch
        # A direct call through the webhook never reads the batch key.
        status, body = await call(session, p.webhook_url + "user.current")
        assert (status, body["time"]["operating"]) == (200, pytest.approx(0.5 * S))


async def test_limiter_local_covers_only_the_current_request(
    clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    async with portal(clock, processing=0.5, operating_budget=1.0, limiter="local") as p:
        for _ in range(5):  # nothing is carried between requests: never blocked
            status, body = await call(session, p.webhook_url + "user.current")
            assert status == 200
            assert body["time"]["operating"] == pytest.approx(0.5 * S)
            assert "operating_reset_at" not in body["time"]
        cmd = {f"c{i}": "user.current" for i in range(4)}
        status, body = await batch(session, p.webhook_url, cmd)
        # Within one request the check still applies: 0.5, 1.0, 1.5, then refused.
        assert len(body["result"]["result"]) == 3
        assert "operating_reset_at" not in body["time"]


async def test_limiter_off_has_no_operating_fields(
    clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    async with portal(clock, processing=0.5, operating_budget=1.0, limiter="off") as p:
        for _ in range(5):
            status, body = await call(session, p.webhook_url + "user.current")
            assert status == 200
            assert "operating" not in body["time"]
            assert "operating_reset_at" not in body["time"]
        status, body = await batch(session, p.webhook_url, {"a": "user.current"})
        assert "operating" not in body["time"]
        assert "operating" not in body["result"]["result_time"]["a"]


def test_limiter_is_validated_and_has_a_cli_flag(clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="limiter"):
        OperatingMeter(budget=1, clock=clock, limiter="cloud")  # type: ignore[arg-type]
    assert parse_args([]).limiter == "2026"
    assert parse_args([]).operating_budget == 420.0
    assert parse_args(["--limiter", "legacy"]).limiter == "legacy"
    with pytest.raises(SystemExit):
        parse_args(["--limiter", "cloud"])


async def test_default_threshold_is_420(clock: FakeClock, session: aiohttp.ClientSession) -> None:
    async with portal(clock, processing=200) as p:
        url = p.webhook_url + "user.current"
        for _ in range(3):  # 200, 400 (<= 420), 600: the third crosses and completes
            assert (await call(session, url))[0] == 200
        assert (await call(session, url))[0] == 429


async def test_clock_skew_moves_the_portals_unix_time(session: aiohttp.ClientSession) -> None:
    async with FakePortal(users=2, clock_skew=120.0) as p:
        before = time.time()
        _, body = await call(session, p.webhook_url + "user.current")
        assert before + 119 < body["time"]["start"] < time.time() + 121
        assert body["time"]["operating_reset_at"] >= before + 119 + 600
