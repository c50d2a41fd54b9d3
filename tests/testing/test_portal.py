"""FakePortal's lifecycle: async context, threaded ``running()``, public surface."""

from __future__ import annotations

import json
import socket
import threading
import urllib.error
import urllib.request
from typing import Any

import aiohttp
import pytest

import b24async.testing
from b24async.testing import FakePortal, Faults, LedgerEntry, LoopClock, OAuthTokens, PortalStats

from .conftest import call


def _get(url: str, data: bytes | None = None) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, data=data, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_public_names_are_exported_and_documented() -> None:
    assert b24async.testing.__all__ == [
        "FakePortal",
        "FaultKind",
        "Faults",
        "LedgerEntry",
        "LoopClock",
        "OAuthTokens",
        "PortalStats",
    ]
    for exported in (FakePortal, Faults, LedgerEntry, LoopClock, OAuthTokens, PortalStats):
        assert exported.__doc__
    for name in dir(FakePortal):
        if not name.startswith("_"):
            assert getattr(FakePortal, name).__doc__, name


def test_running_serves_from_a_thread() -> None:
    with FakePortal.running(users=5, seed=1) as portal:
        status, body = _get(portal.webhook_url + "user.current.json")
        assert (status, body["result"]["ID"]) == (200, "1")
        status, body = _get(portal.webhook_url + "user.update", b"ID=2&NAME=Threaded")
        assert status == 200, body
        # Reads and writes from this thread are marshalled to the portal's loop.
        assert portal.stats.requests == 2
        assert [entry.change for entry in portal.ledger] == [{"NAME": "Threaded"}]
        tokens = portal.issue_tokens(3)
        status, body = _get(f"{portal.url}/rest/user.current?auth={tokens.access_token}")
        assert (status, body["result"]["ID"]) == (200, "3")
        other = portal.add_webhook(4)
        assert _get(other + "user.current")[1]["result"]["ID"] == "4"
        portal.expire_access_tokens()
        assert _get(f"{portal.url}/rest/user.current?auth={tokens.access_token}")[0] == 401
        portal.reset_stats()
        assert portal.stats.requests == 0
        url = portal.url
    assert not any(thread.name == "b24async-fake-portal" for thread in threading.enumerate())
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/_portal/stats", timeout=2)


def test_running_propagates_start_errors() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match="in use"), FakePortal.running(users=1, port=port):
            pass  # pragma: no cover


async def test_running_portal_from_an_async_test(session: aiohttp.ClientSession) -> None:
    with FakePortal.running(users=3, latency=0.01) as portal:
        status, body = await call(session, portal.webhook_url + "user.current")
        assert (status, body["result"]["ID"]) == (200, "1")
        assert portal.stats.by_status == {200: 1}


async def test_async_context_is_single_use_at_a_time() -> None:
    portal = FakePortal(users=1)
    async with portal:
        with pytest.raises(RuntimeError, match="already running"):
            await portal.start()
    async with portal:  # a stopped portal can serve again, on a new port
        assert portal.url


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"users": 0}, "users"),
        ({"time_scale": 0}, "time_scale"),
        ({"processing": -1}, "processing"),
        ({"method_processing": {"user.get": -1}}, "processing"),
        ({"latency": -0.1}, "latency"),
        ({"rate": 0}, "rate"),
        ({"burst": 0}, "burst"),
        ({"operating_budget": 0}, "budget"),
        ({"token_lifetime": 0}, "lifetime"),
    ],
)
def test_rejects_bad_settings(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FakePortal(**kwargs)


def test_repr_says_where_it_serves_and_never_a_secret() -> None:
    portal = FakePortal(users=7, seed=3, rate=5.0, burst=250)
    assert (
        repr(portal)
        == "<FakePortal not running, binds 127.0.0.1:0 users=7, seed=3, rate=5, burst=250>"
    )
    with FakePortal.running(users=7, seed=3) as running:
        text = repr(running)
        assert text.startswith(f"<FakePortal {running.url} users=7")
        tokens = running.issue_tokens(1)
        secrets = (running.webhook_url.split("/")[-2], running.client_secret, tokens.access_token)
        for secret in (*secrets, tokens.refresh_token):
            assert secret not in text
