"""``b24async events listen`` and ``b24async events drain``, run as a user runs them.

``listen`` is a server stopped by its ``--count``: a real subprocess. ``drain`` runs in-process
(``main(argv)`` in a thread, while the portal serves from the test's event loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from b24async import Bitrix24
from b24async.methods import BindEvent
from b24async.testing import FakePortal
from tests.cli.conftest import clean_env, run_in_process
from tests.events.conftest import FAST
from tests.events.helpers import add_entry


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def listen(*args: str) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """``b24async events listen ARGS`` on a free port, once it listens; and its URL.

    Killed on the way out if it has not exited by itself (a failed test, a lost ``--count``).
    """
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "b24async", "events", "listen", "--port", str(port), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=clean_env(),
    )  # fmt: skip
    try:
        assert process.stderr is not None and process.stdout is not None
        assert b"listening" in await process.stderr.readline()
        yield process, f"http://127.0.0.1:{port}/"
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_listen_prints_verified_events_without_secrets(portal: FakePortal) -> None:
    async with listen("--count", "2") as (process, url):
        portal.install_app(url)
        tokens = portal.issue_tokens(1)
        async with (
            Bitrix24(portal.url, token=tokens.access_token, limits=FAST) as app,
            Bitrix24(portal.webhook_url, limits=FAST) as hook,
        ):
            assert await app(BindEvent("ONCALENDARENTRYADD", handler=url))
            entry = await add_entry(hook)
            await portal.deliveries_settled()
        out, _err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0
    lines = [json.loads(line) for line in out.decode().splitlines()]
    assert [line["event"] for line in lines] == ["ONAPPINSTALL", "ONCALENDARENTRYADD"]
    assert lines[1]["data"] == {"id": entry} and lines[1]["auth"]["user_id"] == 1
    assert portal.application_token not in out.decode()
    assert tokens.access_token not in out.decode()


async def test_listen_with_app_code_takes_a_confirmed_new_token(portal: FakePortal) -> None:
    async with listen("--count", "3", "--app-code", portal.client_id) as (process, url):
        portal.install_app(url)
        old = portal.application_token
        tokens = portal.issue_tokens(1)
        async with (
            Bitrix24(portal.url, token=tokens.access_token, limits=FAST) as app,
            Bitrix24(portal.webhook_url, limits=FAST) as hook,
        ):
            for name in ("ONAPPUPDATE", "ONCALENDARENTRYADD"):
                assert await app(BindEvent(name, handler=url))
            portal.update_app()  # a new token, confirmed at the install's address
            await portal.deliveries_settled()
            entry = await add_entry(hook)  # delivered with the new token
            await portal.deliveries_settled()
        out, _err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0
    lines = [json.loads(line) for line in out.decode().splitlines()]
    assert [line["event"] for line in lines] == [
        "ONAPPINSTALL",
        "ONAPPUPDATE",
        "ONCALENDARENTRYADD",
    ]
    assert lines[2]["data"] == {"id": entry}
    assert portal.application_token != old
    assert [d.status for d in portal.deliveries[-2:]] == [200, 200]
    for secret in (old, portal.application_token, tokens.access_token):
        assert secret not in out.decode()


async def test_listen_refuses_a_portal_without_its_member(tmp_path: Path) -> None:
    args = ("events", "listen", "--port", "1", "--portal", "https://x.bitrix24.com")
    done = await asyncio.to_thread(run_in_process, args, cwd=tmp_path)
    assert done.returncode == 2
    assert "--member-id" in done.stderr


async def test_drain_prints_the_queue_and_clears_it(portal: FakePortal, tmp_path: Path) -> None:
    tokens = portal.issue_tokens(1)
    async with (
        Bitrix24(portal.url, token=tokens.access_token, limits=FAST) as app,
        Bitrix24(portal.webhook_url, limits=FAST) as hook,
    ):
        assert await app(BindEvent("ONCALENDARENTRYADD", offline=True))
        entries = [await add_entry(hook) for _ in range(3)]
    fresh = portal.issue_tokens(1)
    args = ("events", "drain", "--url", portal.url, "--token", fresh.access_token)
    done = await asyncio.to_thread(run_in_process, args, cwd=tmp_path)  # the portal is here
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["data"]["id"] for line in lines] == entries
    assert all(line["event"] == "ONCALENDARENTRYADD" for line in lines)
    assert portal.offline_queue() == []


async def test_drain_with_a_webhook_says_events_need_an_app(
    portal: FakePortal, tmp_path: Path
) -> None:
    args = ("events", "drain", "--url", portal.webhook_url)
    done = await asyncio.to_thread(run_in_process, args, cwd=tmp_path)
    assert done.returncode == 3
    assert "WRONG_AUTH_TYPE" in done.stderr and "OAuth application" in done.stderr
    assert portal.webhook_url.split("/rest/")[1] not in done.stderr
