"""Fault injection: 500 JSON, dropped connections, HTML 502, slow replies; seeded and repeatable."""

from __future__ import annotations

import aiohttp
import pytest

from b24async.testing import FakePortal, Faults, LoopClock
from b24async.testing.faults import FaultKind, FaultPlan

from .conftest import FakeClock, call


def test_faults_validate() -> None:
    with pytest.raises(ValueError, match="probability"):
        Faults(error_500=1.5)
    with pytest.raises(ValueError, match="add up"):
        Faults(error_500=0.6, drop=0.6)
    with pytest.raises(ValueError, match="slow_seconds"):
        Faults(slow_seconds=-1)


def test_scripted_faults_hit_exactly_the_requests_named() -> None:
    plan = FaultPlan(Faults(at={1: FaultKind.DROP, 3: FaultKind.HTML_502}))
    assert [plan.next() for _ in range(5)] == [None, FaultKind.DROP, None, FaultKind.HTML_502, None]
    # Scripted requests keep the random draws of the others where they were.
    mixed = Faults(error_500=0.5, seed=3, at={0: FaultKind.SLOW})
    base = FaultPlan(Faults(error_500=0.5, seed=3))
    draws = [base.next() for _ in range(20)]
    plan = FaultPlan(mixed)
    assert [plan.next() for _ in range(20)] == [FaultKind.SLOW, *draws[1:]]
    with pytest.raises(ValueError, match="FaultKind"):
        Faults(at={-1: FaultKind.DROP})
    with pytest.raises(ValueError, match="FaultKind"):
        Faults(at={0: "drop"})  # type: ignore[dict-item]


def test_plan_is_a_pure_function_of_the_seed() -> None:
    faults = Faults(error_500=0.2, drop=0.2, html_502=0.2, slow=0.2, seed=11)
    plan_a, plan_b = FaultPlan(faults), FaultPlan(faults)
    draws = [plan_a.next() for _ in range(200)]
    assert draws == [plan_b.next() for _ in range(200)]
    assert set(draws) == {*FaultKind, None}
    other = FaultPlan(Faults(error_500=0.2, drop=0.2, html_502=0.2, slow=0.2, seed=12))
    assert [other.next() for _ in range(200)] != draws
    assert all(kind is None for kind in (FaultPlan(Faults()).next() for _ in range(50)))


async def _outcomes(url: str, session: aiohttp.ClientSession, count: int) -> list[object]:
    outcomes: list[object] = []
    for _ in range(count):
        try:
            async with session.post(url) as response:
                outcomes.append(response.status)
        except aiohttp.ServerDisconnectedError:
            outcomes.append("drop")
    return outcomes


async def test_same_seed_same_faults_at_same_indices(session: aiohttp.ClientSession) -> None:
    faults = Faults(error_500=0.15, drop=0.15, html_502=0.15, slow=0.15, slow_seconds=0.01, seed=7)
    runs = []
    for _ in range(2):
        async with FakePortal(users=2, faults=faults) as portal:
            runs.append(await _outcomes(portal.webhook_url + "user.current", session, 40))
            stats = portal.stats
            assert stats.requests == 40
            plan = FaultPlan(faults)
            expected = [plan.next() for _ in range(40)]
            assert sum(stats.faults.values()) == sum(kind is not None for kind in expected)
    assert runs[0] == runs[1]
    assert {500, 502, "drop", 200} <= set(runs[0])


async def test_error_500_runs_the_method_first(session: aiohttp.ClientSession) -> None:
    async with FakePortal(users=3, faults=Faults(error_500=1.0)) as portal:
        status, body = await call(
            session, portal.webhook_url + "user.update", json={"ID": 2, "NAME": "Kept"}
        )
        assert status == 500
        assert body["error"] == "INTERNAL_SERVER_ERROR"
        assert set(body) == {"error", "error_description"}
        assert [entry.change for entry in portal.ledger] == [{"NAME": "Kept"}]
        stats = portal.stats
        assert (stats.faults["error_500"], stats.by_status[500]) == (1, 1)
        assert stats.by_code["INTERNAL_SERVER_ERROR"] == 1
        assert stats.commands["user.update"] == 1


async def test_fault_before_execution_leaves_no_trace(
    clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    faults = Faults(error_500=1.0, after_execution=False)
    async with FakePortal(users=3, faults=faults, clock=clock) as portal:
        status, _ = await call(
            session, portal.webhook_url + "user.update", json={"ID": 2, "NAME": "Never"}
        )
        assert status == 500
        assert portal.ledger == ()
        assert portal.bucket.level == 0
        assert portal.stats.commands == {}


async def test_drop_closes_the_connection_after_execution(
    session: aiohttp.ClientSession,
) -> None:
    async with FakePortal(users=3, faults=Faults(drop=1.0)) as portal:
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await call(session, portal.webhook_url + "user.update", json={"ID": 3, "NAME": "X"})
        assert len(portal.ledger) == 1
        stats = portal.stats
        assert (stats.faults["drop"], stats.requests, sum(stats.by_status.values())) == (1, 1, 0)


async def test_html_502_page(session: aiohttp.ClientSession) -> None:
    async with FakePortal(users=2, faults=Faults(html_502=1.0)) as portal:
        async with session.post(portal.webhook_url + "user.current") as response:
            assert response.status == 502
            assert response.content_type == "text/html"
            text = await response.text()
        assert text.startswith("<html>")
        assert "<title>502 Bad Gateway</title>" in text
        assert "nginx" in text
        assert portal.stats.by_status[502] == 1


@pytest.mark.looptime
async def test_slow_reply_is_late_but_normal(session: aiohttp.ClientSession) -> None:
    clock = LoopClock()
    faults = Faults(slow=1.0, slow_seconds=0.1)
    async with FakePortal(users=2, faults=faults, clock=clock) as portal:
        started = clock.monotonic()
        status, body = await call(session, portal.webhook_url + "user.current")
        assert (status, body["result"]["ID"]) == (200, "1")
        assert clock.monotonic() - started >= 0.1  # virtual time
        assert portal.stats.faults["slow"] == 1


async def test_faults_spare_oauth_and_inspection(session: aiohttp.ClientSession) -> None:
    async with FakePortal(users=2, faults=Faults(drop=1.0)) as portal:
        tokens = portal.issue_tokens(1)
        status, _ = await call(
            session,
            portal.oauth_url,
            params={
                "grant_type": "refresh_token",
                "client_id": portal.client_id,
                "client_secret": portal.client_secret,
                "refresh_token": tokens.refresh_token,
            },
        )
        assert status == 200
        assert (await call(session, portal.url + "/_portal/stats", method="GET"))[0] == 200
        assert (await call(session, portal.url + "/_portal/ledger", method="GET"))[0] == 200
        assert portal.stats.faults == {}
