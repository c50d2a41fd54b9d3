"""Addressing, auth errors, params, the time block, stats and inspection endpoints over HTTP."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import socket
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from b24async.testing import FakePortal, LoopClock
from b24async.testing.server import parse_route

from .conftest import FakeClock, call

TIME_KEYS = [
    "start",
    "finish",
    "duration",
    "processing",
    "date_start",
    "date_finish",
    "operating_reset_at",
    "operating",
]


@pytest.fixture
async def portal() -> AsyncIterator[FakePortal]:
    async with FakePortal(users=60, seed=3) as running:
        yield running


def test_parse_route() -> None:
    assert parse_route("1/abc/User.Current.JSON/").method == "user.current"
    assert parse_route("1/abc/user.current").webhook == ("1", "abc")
    assert parse_route("user.current").webhook is None
    assert parse_route("1/abc/").method == ""
    assert parse_route("").method == ""


@pytest.mark.parametrize(
    "suffix", ["user.current", "user.current/", "user.current.json", "USER.Current.json/"]
)
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_webhook_addressing(
    portal: FakePortal, session: aiohttp.ClientSession, suffix: str, method: str
) -> None:
    status, body = await call(session, portal.webhook_url + suffix, method=method)
    assert status == 200
    assert body["result"]["ID"] == "1"
    assert list(body["time"]) == TIME_KEYS


async def test_webhook_of_another_user(portal: FakePortal, session: aiohttp.ClientSession) -> None:
    url = portal.add_webhook(7)
    assert url.startswith(f"{portal.url}/rest/7/")
    assert len(url.rstrip("/").rsplit("/", 1)[1]) == 16
    status, body = await call(session, url + "user.current")
    assert (status, body["result"]["ID"]) == (200, "7")
    with pytest.raises(ValueError, match="no user"):
        portal.add_webhook(61)


def test_webhook_code_is_derived_from_seed() -> None:
    def code(portal: FakePortal) -> str:
        return portal._admin_code

    assert code(FakePortal(users=1, seed=5)) == code(FakePortal(users=1, seed=5))
    assert code(FakePortal(users=1, seed=5)) != code(FakePortal(users=1, seed=6))


INVALID = {"error": "INVALID_CREDENTIALS", "error_description": "Invalid request credentials"}


async def test_auth_errors(portal: FakePortal, session: aiohttp.ClientSession) -> None:
    code = portal.webhook_url.rstrip("/").rsplit("/", 1)[1]
    assert await call(session, f"{portal.url}/rest/1/wrongcode/user.current") == (401, INVALID)
    assert await call(session, f"{portal.url}/rest/2/{code}/user.current") == (401, INVALID)
    assert await call(session, f"{portal.url}/rest/admin/{code}/user.current") == (401, INVALID)
    assert await call(session, f"{portal.url}/rest/user.current") == (
        401,
        {"error": "NO_AUTH_FOUND", "error_description": "Wrong authorization data"},
    )
    status, body = await call(session, f"{portal.url}/rest/user.current?auth=nonsense")
    assert (status, body["error"]) == (401, "invalid_token")
    assert set(body) == {"error", "error_description"}
    tokens = portal.issue_tokens(1)
    portal.expire_access_tokens()
    assert await call(session, f"{portal.url}/rest/user.current?auth={tokens.access_token}") == (
        401,
        {"error": "expired_token", "error_description": "The access token provided has expired"},
    )
    stats = portal.stats
    assert stats.by_code["INVALID_CREDENTIALS"] == 3
    assert stats.by_status[401] == 6


async def test_unknown_method(portal: FakePortal, session: aiohttp.ClientSession) -> None:
    expected = {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"}
    assert await call(session, portal.webhook_url + "no.such.method") == (404, expected)
    assert await call(session, portal.webhook_url) == (404, expected)
    # As in CORE, the method is looked up before the caller is authenticated.
    assert await call(session, f"{portal.url}/rest/no.such.method") == (404, expected)


async def test_oauth_token_locations(portal: FakePortal, session: aiohttp.ClientSession) -> None:
    token = portal.issue_tokens(5).access_token
    rest = f"{portal.url}/rest/"
    for kwargs in (
        {"url": f"{rest}user.current?auth={token}", "method": "GET"},
        {"url": f"{rest}user.current.json", "data": {"auth": token}},
        {"url": f"{rest}USER.CURRENT", "json": {"auth": token}},
        {"url": f"{rest}user.current?access_token={token}"},
        {"url": f"{rest}user.current", "headers": {"Authorization": f"Bearer {token}"}},
    ):
        url = kwargs.pop("url")
        status, body = await call(session, url, **kwargs)  # type: ignore[arg-type]
        assert (status, body["result"]["ID"]) == (200, "5"), kwargs


async def test_oauth_scope_is_checked(portal: FakePortal, session: aiohttp.ClientSession) -> None:
    token = portal.issue_tokens(1).access_token
    status, body = await call(session, f"{portal.url}/rest/department.get?auth={token}")
    assert (status, body["error"]) == (401, "insufficient_scope")
    assert (await call(session, f"{portal.url}/rest/server.time?auth={token}"))[0] == 200
    assert (await call(session, portal.webhook_url + "department.get"))[0] == 200


async def test_fired_user_cannot_authorize(
    portal: FakePortal, session: aiohttp.ClientSession
) -> None:
    webhook = portal.add_webhook(9)
    token = portal.issue_tokens(9).access_token
    fire = {"ID": 9, "ACTIVE": "N"}
    assert (await call(session, portal.webhook_url + "user.update", json=fire))[0] == 200
    for url in (webhook + "user.current", f"{portal.url}/rest/user.current?auth={token}"):
        status, body = await call(session, url)
        assert (status, body["error"]) == (401, "authorization_error")


async def test_params_merge_and_body_kinds(
    portal: FakePortal, session: aiohttp.ClientSession
) -> None:
    url = portal.webhook_url + "user.get"

    async def ids(**kwargs: object) -> list[str]:
        status, body = await call(session, url, **kwargs)  # type: ignore[arg-type]
        assert status == 200, body
        return [row["ID"] for row in body["result"]]

    assert await ids(method="GET", params={"FILTER[ID]": "4"}) == ["4"]
    assert await ids(data="FILTER[>ID]=57") == ["58", "59", "60"]
    assert await ids(data="FILTER%5B%3EID%5D=57&ignored") == ["58", "59", "60"]
    # Any non-JSON content type is parse_str-ed, like CORE's default branch.
    plain = {"Content-Type": "text/plain"}
    assert await ids(data="FILTER[>ID]=58", headers=plain) == ["59", "60"]
    assert await ids(json={"FILTER": {">ID": 58}}) == ["59", "60"]
    form = aiohttp.FormData()
    form.add_field("FILTER[>ID]", "59")
    form.add_field("upload", b"x", filename="x.bin")
    assert await ids(data=form) == ["60"]
    # The body wins over the query string, key by key.
    assert await ids(params={"FILTER[ID]": "4"}, json={"FILTER": {"ID": 5}}) == ["5"]
    # Malformed JSON silently gives no body params; the query string still counts.
    broken = {"Content-Type": "application/json"}
    assert await ids(params={"FILTER[ID]": "4"}, data="{oops", headers=broken) == ["4"]
    assert len(await ids(data="{oops", headers=broken)) == 50
    # JSON is only JSON with exactly application/json: otherwise the body is parse_str-ed.
    odd = {"Content-Type": "Application/JSON"}
    assert len(await ids(data=json.dumps({"FILTER": {"ID": 4}}), headers=odd)) == 50
    utf = {"Content-Type": "application/json; charset=utf-8"}
    assert await ids(data=json.dumps({"FILTER": {"ID": 4}}), headers=utf) == ["4"]


async def test_start_param_gives_next_and_total(
    portal: FakePortal, session: aiohttp.ClientSession
) -> None:
    status, body = await call(session, portal.webhook_url + "user.get", data="start=0")
    assert (status, body["next"], body["total"]) == (200, 50, 60)
    assert list(body) == ["result", "next", "total", "time"]
    status, body = await call(session, portal.webhook_url + "user.get", json={"start": "50xyz"})
    assert body["result"][0]["ID"] == "51"
    assert "next" not in body


async def test_time_block(portal: FakePortal, session: aiohttp.ClientSession) -> None:
    before = time.time()
    status, body = await call(session, portal.webhook_url + "server.time")
    after = time.time()
    assert status == 200
    block = body["time"]
    assert before <= block["start"] <= block["finish"] <= after
    assert block["duration"] == pytest.approx(block["finish"] - block["start"])
    start = dt.datetime.fromisoformat(block["date_start"])
    assert start.utcoffset() is not None
    assert int(start.timestamp()) == int(block["start"])
    assert dt.datetime.fromisoformat(block["date_finish"]).tzinfo is not None


@pytest.mark.looptime
async def test_latency_delays_replies(session: aiohttp.ClientSession) -> None:
    clock = LoopClock()
    async with FakePortal(users=2, latency=0.05, clock=clock) as portal:
        started = clock.monotonic()
        status, body = await call(session, portal.webhook_url + "user.current")
        assert status == 200
        assert clock.monotonic() - started >= 0.05  # virtual time
        assert body["time"]["duration"] < 0.05  # the network is not the server's time


@pytest.mark.looptime
async def test_processing_is_slept_sequentially_in_batches(
    session: aiohttp.ClientSession,
) -> None:
    clock = LoopClock()
    async with FakePortal(users=2, processing=0.03, clock=clock) as portal:
        started = clock.monotonic()
        cmd = {"a": "user.current", "b": "server.time", "c": "user.current"}
        status, body = await call(session, portal.webhook_url + "batch", json={"cmd": cmd})
        assert status == 200
        assert clock.monotonic() - started >= 0.09  # virtual time
        assert body["time"]["processing"] == pytest.approx(0.09)


async def test_stats_arrivals_and_peak_concurrency(
    clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    async with FakePortal(users=2, latency=0.05, clock=clock) as portal:
        url = portal.webhook_url + "user.current"
        await asyncio.gather(*(call(session, url) for _ in range(5)))
        stats = portal.stats
        assert stats.requests == 5
        assert stats.peak_concurrency == 5
        assert stats.arrivals == (clock.now,) * 5
        assert stats.by_status == {200: 5}
        await call(session, url)
        assert portal.stats.peak_concurrency == 5
        portal.reset_stats()
        assert portal.stats.requests == 0
        assert portal.stats.peak_concurrency == 0


async def test_inspection_endpoints(portal: FakePortal, session: aiohttp.ClientSession) -> None:
    await call(session, portal.webhook_url + "user.update", json={"ID": 3, "NAME": "Zed"})
    await call(session, portal.webhook_url + "nope")
    status, stats = await call(session, portal.url + "/_portal/stats", method="GET")
    assert status == 200
    assert stats["requests"] == 2
    assert stats["by_code"] == {"ERROR_METHOD_NOT_FOUND": 1}
    assert stats["by_status"] == {"200": 1, "404": 1}
    assert stats["commands"] == {"user.update": 1}
    assert len(stats["arrivals"]) == 2
    # Over HTTP the stats also carry the operating meter's counters.
    assert stats.pop("operating") == {"limiter": "2026", "refusals": 0, "bans": 0}
    assert stats == portal.stats.to_json()
    status, ledger = await call(session, portal.url + "/_portal/ledger", method="GET")
    assert status == 200
    assert ledger == [
        {
            "seq": 1,
            "at": portal.ledger[0].at,
            "method": "user.update",
            "actor": 1,
            "target": "user:3",
            "change": {"NAME": "Zed"},
        }
    ]
    assert portal.stats.requests == 2  # inspection is not counted


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com", "localhost", "::"])
def test_refuses_non_loopback_hosts(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        FakePortal(host=host)


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback here")
async def test_ipv6_loopback_and_not_running() -> None:
    portal = FakePortal(users=1, host="::1")
    with pytest.raises(RuntimeError, match="not running"):
        _ = portal.url
    async with portal:
        assert portal.url.startswith("http://[::1]:")
    with pytest.raises(RuntimeError, match="not running"):
        _ = portal.webhook_url
