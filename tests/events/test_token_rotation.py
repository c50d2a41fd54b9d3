"""ONAPPUPDATE's new application_token: confirmed at the trusted portal, or refused."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from b24async import Bitrix24
from b24async.events import Event, EventReceiver, MemoryTokenStore, TokenStoreUnavailable
from b24async.methods import BindEvent, GetAppInfo
from b24async.models import AppInfo
from b24async.protocol import HttpRequest, RawResponse
from b24async.testing import FakePortal
from b24async.testing.phpquery import build_query_php
from b24async.transport import AiohttpTransport
from tests.events.helpers import add_entry

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
NEW = "c917d38f6bdb84e9d9e0bfe9d585be73"


class Receiving:
    """A receiver on 127.0.0.1 with the portal's app bound for ONAPPUPDATE and calendar adds."""

    def __init__(
        self, portal: FakePortal, receiver: EventReceiver, url: str, seen: list[Event]
    ) -> None:
        self.portal = portal
        self.receiver = receiver
        self.url = url
        self.seen = seen


async def serve_app(app: web.Application, runners: list[web.AppRunner]) -> str:
    """``app`` on a free loopback port (stopped by the ``runners`` fixture); its URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    runners.append(runner)
    return f"http://127.0.0.1:{runner.addresses[0][1]}/"


@pytest.fixture
async def runners() -> AsyncIterator[list[web.AppRunner]]:
    started: list[web.AppRunner] = []
    yield started
    for runner in started:
        await runner.cleanup()


async def installed(
    portal: FakePortal,
    runners: list[web.AppRunner],
    *,
    prefill: MemoryTokenStore | None = None,
    **kwargs: Any,
) -> Receiving:
    """A receiver that captured the install (token and portal address) and is bound.

    With ``prefill`` the receiver takes no install: the store gets the token out of band.
    """
    if prefill is not None:
        kwargs.update(tokens=prefill, accept_install=False)
    kwargs.setdefault("app_code", portal.client_id)
    seen: list[Event] = []

    async def record(event: Event) -> None:
        seen.append(event)

    receiver = EventReceiver(record, **kwargs)
    url = await serve_app(receiver.app, runners)
    served = Receiving(portal, receiver, url, seen)
    portal.install_app(url)
    await portal.deliveries_settled()
    if prefill is not None:
        assert await prefill.add(portal.member_id, portal.application_token)
    tokens = portal.issue_tokens(1)
    async with Bitrix24(portal.url, token=tokens.access_token) as app:
        for name in ("ONAPPUPDATE", "ONCALENDARENTRYADD"):
            assert await app(BindEvent(name, handler=url))
    return served


async def fire_entry(portal: FakePortal) -> int:
    """A calendar write: one ONCALENDARENTRYADD delivery; its HTTP status."""
    before = len(portal.deliveries)
    async with Bitrix24(portal.webhook_url) as hook:
        await add_entry(hook)
    await portal.deliveries_settled()
    await asyncio.sleep(0)
    status = portal.deliveries[before].status
    assert status is not None
    return status


def update_delivery(portal: FakePortal, *, token: str, access: str, **auth: Any) -> str:
    """An ONAPPUPDATE body as a forger would send it (member_id of the real portal)."""
    endpoint = f"{portal.url}/rest/"
    fields: dict[str, Any] = {
        "access_token": access,
        "domain": portal.url.split("://", 1)[1],
        "client_endpoint": endpoint,
        "server_endpoint": endpoint,
        "member_id": portal.member_id,
        "application_token": token,
    }
    fields.update(auth)
    body = {
        "event": "ONAPPUPDATE",
        "event_handler_id": 9,
        "data": {"VERSION": "2", "PREVIOUS_VERSION": "1", "LANGUAGE_ID": "en"},
        "ts": 1,
        "auth": fields,
    }
    return build_query_php(body)


async def post(url: str, body: str) -> int:
    async with aiohttp.ClientSession() as session, session.post(url, data=body, headers=FORM) as r:
        return r.status


async def test_a_confirmed_update_rotates_the_token(
    portal: FakePortal, runners: list[web.AppRunner], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "b24async.events")
    served = await installed(portal, runners)
    old = portal.application_token
    assert await fire_entry(portal) == 200
    portal.update_app()
    await portal.deliveries_settled()
    new = portal.application_token
    assert new != old
    update = portal.deliveries[-1]
    assert update.event == "ONAPPUPDATE" and update.status == 200
    assert update.form["auth[application_token]"] == new
    assert update.form["data[VERSION]"] == "2" and update.form["data[PREVIOUS_VERSION]"] == "1"
    assert await served.receiver.tokens.get(portal.member_id) == new
    assert served.receiver.stats.rotated == 1
    # The new token is accepted from then on ...
    assert await fire_entry(portal) == 200
    # ... and the old one is refused.
    assert await post(served.url, update_delivery(portal, token=old, access="x")) == 401
    await asyncio.sleep(0)
    names = [event.name for event in served.seen]
    assert names == ["ONAPPINSTALL", "ONCALENDARENTRYADD", "ONAPPUPDATE", "ONCALENDARENTRYADD"]
    assert old not in caplog.text and new not in caplog.text
    assert "new application token confirmed" in caplog.text


async def test_app_info_answers_like_the_portal(portal: FakePortal) -> None:
    tokens = portal.issue_tokens(2)
    async with Bitrix24(portal.url, token=tokens.access_token) as app:
        raw = (await app.call("app.info")).result
        info = await app(GetAppInfo())
    assert raw["CODE"] == portal.client_id and raw["VERSION"] == 1 and raw["ID"] == "1"
    assert "member_id" not in raw and "MEMBER_ID" not in raw
    assert info.code == portal.client_id and info.version == 1 and info.id == 1
    assert info.installed is True and info.status == "L" and info.days is None
    assert info.payment_expired is False and info.scope == ()
    assert info.extra == {"LICENSE_TYPE": "pro100", "LICENSE_FAMILY": "pro"}
    portal.update_app()
    async with Bitrix24(portal.url, token=tokens.access_token) as app:
        assert (await app(GetAppInfo())).version == 2
    async with Bitrix24(portal.webhook_url) as hook:
        hooked = await hook(GetAppInfo())
    assert hooked.code is None and "user" in hooked.scope and hooked.license


def test_app_info_parses_the_docs_examples() -> None:
    old = {
        "ID": "7",
        "CODE": "local.56017020f07e17.98523769",
        "VERSION": 1,
        "STATUS": "L",
        "INSTALLED": True,
        "PAYMENT_EXPIRED": "N",
        "DAYS": None,
        "LICENSE": "ru_project",
    }
    parsed = AppInfo.from_wire(old)
    assert (parsed.id, parsed.version, parsed.installed, parsed.days) == (7, 1, True, None)
    new = {**old, "ID": 5, "CODE": "telefum24.kp10", "PAYMENT_EXPIRED": "Y", "DAYS": -3}
    assert AppInfo.from_wire(new).days == -3 and AppInfo.from_wire(new).payment_expired
    with pytest.raises(ValueError, match="VERSION"):
        AppInfo.from_wire({**old, "VERSION": "two"})
    with pytest.raises(ValueError):
        AppInfo.from_wire("not a map")


async def test_a_forged_update_with_a_bad_access_token_is_refused(
    portal: FakePortal, runners: list[web.AppRunner], caplog: pytest.LogCaptureFixture
) -> None:
    served = await installed(portal, runners)
    stored = portal.application_token
    caplog.set_level(logging.WARNING, "b24async.events")
    forged = update_delivery(portal, token=NEW, access="0" * 70)
    assert await post(served.url, forged) == 401
    assert await served.receiver.tokens.get(portal.member_id) == stored
    assert "invalid_token" in caplog.text and NEW not in caplog.text and "0" * 70 not in caplog.text
    assert served.receiver.stats.rotated == 0 and served.receiver.stats.unauthorized == 1


async def test_a_forged_update_cannot_redirect_the_check(
    portal: FakePortal, runners: list[web.AppRunner]
) -> None:
    """The forger's own 'portal' would confirm anything: the receiver never asks it."""
    served = await installed(portal, runners)
    stored = portal.application_token
    asked: list[str] = []

    async def lying_app_info(request: web.Request) -> web.Response:
        asked.append(request.path)
        return web.json_response({"result": {"CODE": portal.client_id, "INSTALLED": True}})

    liar = web.Application()
    liar.router.add_post("/rest/app.info", lying_app_info)
    liar_url = (await serve_app(liar, runners)).rstrip("/")
    forged = update_delivery(
        portal,
        token=NEW,
        access="f" * 70,
        domain=liar_url.split("://", 1)[1],
        client_endpoint=f"{liar_url}/rest/",
        server_endpoint=f"{liar_url}/rest/",
    )
    assert await post(served.url, forged) == 401
    assert asked == [] and await served.receiver.tokens.get(portal.member_id) == stored


async def test_another_apps_token_is_not_enough(
    portal: FakePortal, runners: list[web.AppRunner]
) -> None:
    """A live token the portal accepts, but app.info names another app's CODE."""
    served = await installed(portal, runners, app_code="vendor.other_app")
    stored = portal.application_token
    portal.update_app()
    await portal.deliveries_settled()
    assert portal.deliveries[-1].status == 401
    assert await served.receiver.tokens.get(portal.member_id) == stored


async def test_without_a_trusted_portal_address_the_update_is_refused(
    portal: FakePortal, runners: list[web.AppRunner], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "b24async.events")
    store = MemoryTokenStore()  # filled out of band: it knows the token, not the address
    await installed(portal, runners, prefill=store)
    stored = await store.get(portal.member_id)
    portal.update_app()
    await portal.deliveries_settled()
    assert portal.deliveries[-1].status == 401
    assert await store.get(portal.member_id) == stored
    assert "no trusted portal address" in caplog.text


async def test_without_app_code_the_update_is_refused(
    portal: FakePortal, runners: list[web.AppRunner], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "b24async.events")
    served = await installed(portal, runners, app_code=None)
    stored = await served.receiver.tokens.get(portal.member_id)
    portal.update_app()
    await portal.deliveries_settled()
    assert portal.deliveries[-1].status == 401
    assert await served.receiver.tokens.get(portal.member_id) == stored
    assert "app_code" in caplog.text


async def test_a_configured_address_serves_a_prefilled_store(
    portal: FakePortal, runners: list[web.AppRunner]
) -> None:
    store = MemoryTokenStore()
    served = await installed(portal, runners, prefill=store, portals={portal.member_id: portal.url})
    portal.update_app()
    await portal.deliveries_settled()
    assert portal.deliveries[-1].status == 200
    assert await store.get(portal.member_id) == portal.application_token
    assert served.receiver.stats.rotated == 1


class FlakyStore(MemoryTokenStore):
    """A store whose replace() fails while ``down`` (its database went away mid-check)."""

    down = False

    async def replace(self, member_id: str, old: str, new: str) -> bool:
        if self.down:
            raise TokenStoreUnavailable("the test's store is down")
        return await super().replace(member_id, old, new)


async def test_the_store_failing_during_the_check_refuses_with_503(
    portal: FakePortal, runners: list[web.AppRunner]
) -> None:
    store = FlakyStore()
    served = await installed(portal, runners, tokens=store)
    stored = await store.get(portal.member_id)
    store.down = True
    portal.update_app()
    await portal.deliveries_settled()
    assert portal.deliveries[-1].status == 503
    store.down = False
    assert await store.get(portal.member_id) == stored
    assert served.receiver.stats.unavailable == 1 and served.receiver.stats.rotated == 0


async def test_an_unreachable_portal_refuses_with_503_and_stores_nothing(
    portal: FakePortal, runners: list[web.AppRunner]
) -> None:
    # The trusted address is a closed port: the check cannot reach it.
    with_socket = web.Application()
    closed = await serve_app(with_socket, runners)
    await runners.pop().cleanup()
    store = MemoryTokenStore()
    served = await installed(
        portal, runners, tokens=store, portals={portal.member_id: closed.rstrip("/")}
    )
    stored = await store.get(portal.member_id)
    portal.update_app()
    await portal.deliveries_settled()
    assert portal.deliveries[-1].status == 503
    assert await store.get(portal.member_id) == stored
    assert served.receiver.stats.unavailable == 1 and served.receiver.stats.rotated == 0


async def test_two_updates_at_once(portal: FakePortal, runners: list[web.AppRunner]) -> None:
    """Two handler rows get the same ONAPPUPDATE at once: both confirmed, one swap."""
    gated = GatedTransport(2)
    served = await installed(portal, runners, transport=gated)
    tokens = portal.issue_tokens(1)
    async with Bitrix24(portal.url, token=tokens.access_token) as app:
        # A second row for the same URL (another auth_type): a second, concurrent delivery.
        assert await app(BindEvent("ONAPPUPDATE", handler=served.url, auth_type=2))
    portal.update_app()
    await portal.deliveries_settled()
    updates = [d for d in portal.deliveries if d.event == "ONAPPUPDATE"]
    assert [d.status for d in updates] == [200, 200]
    assert await served.receiver.tokens.get(portal.member_id) == portal.application_token
    assert served.receiver.stats.rotated == 1 and gated.waiting == 2
    assert await fire_entry(portal) == 200
    await gated.close()


async def test_two_different_new_tokens_at_once_take_only_one(
    portal: FakePortal, runners: list[web.AppRunner]
) -> None:
    """Both access tokens are live, so both are confirmed: the second swap finds the token
    changed and is refused rather than overwriting it."""
    gated = GatedTransport(2)
    served = await installed(portal, runners, transport=gated)
    first, second = portal.issue_tokens(1), portal.issue_tokens(1)
    bodies = [
        update_delivery(portal, token="a" * 32, access=first.access_token),
        update_delivery(portal, token="b" * 32, access=second.access_token),
    ]
    statuses = await asyncio.gather(*(post(served.url, body) for body in bodies))
    assert sorted(statuses) == [200, 401]
    winner = "a" * 32 if statuses[0] == 200 else "b" * 32
    assert await served.receiver.tokens.get(portal.member_id) == winner
    assert served.receiver.stats.rotated == 1 and gated.waiting == 2
    await gated.close()


class GatedTransport(AiohttpTransport):
    """A real transport that holds each app.info check until ``width`` checks are waiting:
    the checks are then truly concurrent, whatever the scheduling."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.width = width
        self.waiting = 0
        self.gate = asyncio.Event()

    async def send(self, request: HttpRequest) -> RawResponse:
        self.waiting += 1
        if self.waiting >= self.width:
            self.gate.set()
        await self.gate.wait()
        return await super().send(request)


def test_bad_configuration_is_refused_before_serving() -> None:
    async def nothing(event: Event) -> None:
        return None

    with pytest.raises(ValueError, match="plain http"):
        EventReceiver(nothing, portals={"m": "http://portal.example.com"})
    with pytest.raises(ValueError, match="app_code"):
        EventReceiver(nothing, app_code=" ")
    with pytest.raises(ValueError, match="verify_timeout"):
        EventReceiver(nothing, verify_timeout=0)
