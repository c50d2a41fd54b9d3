"""The FakePortal's event machinery against the events facts' checklist (§7)."""

from __future__ import annotations

from typing import Any

import pytest

from b24async import AccessDenied, Bitrix24, MethodError, WrongAuthType, WrongLicense
from b24async.events import CalendarEntryChange, parse_form
from b24async.methods import (
    BindEvent,
    ClearOfflineEvents,
    GetAvailableEvents,
    GetEventHandlers,
    GetOfflineEvents,
    ListOfflineEvents,
    MarkOfflineEventsFailed,
    UnbindEvent,
)
from b24async.methods.events import EventHandler
from b24async.testing import FakePortal
from tests.events.conftest import Sink, app_client
from tests.events.helpers import add_entry, rename
from tests.testing.conftest import FakeClock


def forms(sink: Sink) -> list[dict[str, Any]]:
    return [parse_form(body) for body in sink.bodies]


# -- who may call -----------------------------------------------------------------------------


async def test_a_webhook_is_told_that_events_need_an_app(hook: Bitrix24) -> None:
    for request in (
        BindEvent("ONUSERADD", handler="http://127.0.0.1/h"),
        GetEventHandlers(),
        GetAvailableEvents(),
        GetOfflineEvents(),
    ):
        with pytest.raises(WrongAuthType) as caught:
            await hook(request)
        assert caught.value.status == 403
        assert "OAuth application" in str(caught.value)


async def test_offline_methods_are_for_admins(portal: FakePortal) -> None:
    async with app_client(portal, user_id=2) as user:
        with pytest.raises(AccessDenied, match="Offline events binding"):
            await user(BindEvent("ONUSERADD", offline=True))
        with pytest.raises(AccessDenied):
            await user(GetOfflineEvents())
        with pytest.raises(AccessDenied, match="AUTH_TYPE"):
            await user(BindEvent("ONUSERADD", handler="http://127.0.0.1/h", auth_type=3))
        assert await user(BindEvent("ONUSERADD", handler="http://127.0.0.1/h"))
        # A non-admin's handler is bound to their own user.
        assert await user(GetEventHandlers()) == [
            EventHandler("ONUSERADD", False, "http://127.0.0.1/h", auth_type=2)
        ]


# -- bind, unbind, get, events ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "code", "text"),
    [
        ({"event": "ONUSERADD", "handler": "http://localhost/h"}, "ERROR_WRONG_HANDLER_URL", ""),
        ({"event": "ONUSERADD", "handler": "ftp://a.example/h"}, "ERROR_UNSUPPORTED_PROTOCOL", ""),
        ({"event": "ONCRMDEALADD", "handler": "http://127.0.0.1/h"}, "ERROR_EVENT_NOT_FOUND", ""),
        ({"event": "", "handler": "http://127.0.0.1/h"}, "ERROR_ARGUMENT", "EVENT"),
        ({"event": "ONUSERADD"}, "ERROR_ARGUMENT", "HANDLER"),
        ({"event": "ONUSERADD", "event_type": "push"}, "ERROR_ARGUMENT", "online|offline"),
        ({"event": "ONOFFLINEEVENT", "event_type": "offline"}, "ERROR_ARGUMENT", "Offline"),
    ],
)
async def test_bind_validation(app: Bitrix24, params: dict[str, Any], code: str, text: str) -> None:
    with pytest.raises(MethodError) as caught:
        await app.call("event.bind", params)
    assert caught.value.code == code and caught.value.status == 400
    assert text in caught.value.description


def test_bind_requests_refuse_bad_input_before_sending() -> None:
    with pytest.raises(ValueError, match="URL"):
        BindEvent("ONUSERADD")
    with pytest.raises(ValueError, match="offline handler has no URL"):
        BindEvent("ONUSERADD", handler="http://127.0.0.1/h", offline=True)
    with pytest.raises(ValueError, match="ONOFFLINEEVENT only"):
        BindEvent("ONUSERADD", handler="http://127.0.0.1/h", min_timeout=5)
    with pytest.raises(ValueError, match="cannot itself be offline"):
        BindEvent("ONOFFLINEEVENT", offline=True)
    with pytest.raises(ValueError, match="32 characters"):
        ClearOfflineEvents("p", message_ids=["short"])


async def test_duplicate_bind_get_and_unbind(app: Bitrix24) -> None:
    url = "http://127.0.0.1:9/h"
    assert await app(BindEvent("onUserAdd", handler=url)) is True
    with pytest.raises(MethodError, match="Handler already binded") as caught:
        await app(BindEvent("ONUSERADD", handler=url))
    assert caught.value.code == "ERROR_CORE"
    assert await app(BindEvent("ONUSERADD", handler=url, auth_type=2))  # another row
    assert await app(BindEvent("ONCALENDARENTRYADD", offline=True))
    assert await app(GetEventHandlers()) == [
        EventHandler("ONUSERADD", False, url, 0),
        EventHandler("ONUSERADD", False, url, 2),
        EventHandler("ONCALENDARENTRYADD", True, None, 0, ""),
    ]
    assert await app(UnbindEvent("ONUSERADD", handler=url, auth_type=0)) == 1
    assert await app(UnbindEvent("ONUSERADD", handler=url)) == 1
    assert await app(UnbindEvent("ONUSERADD", handler=url)) == 0  # not an error
    assert await app(UnbindEvent("ONCALENDARENTRYADD", offline=True)) == 1
    assert await app(GetEventHandlers()) == []


async def test_available_events(app: Bitrix24) -> None:
    names = await app(GetAvailableEvents())
    assert {"ONAPPINSTALL", "ONUSERADD", "ONCALENDARENTRYADD", "ONOFFLINEEVENT"} <= set(names)
    assert await app(GetAvailableEvents("user")) == ["ONUSERADD"]


# -- online delivery --------------------------------------------------------------------------


async def test_a_meeting_fires_once_per_attendee_copy(
    portal: FakePortal, app: Bitrix24, hook: Bitrix24, sink: Sink
) -> None:
    assert await app(BindEvent("ONCALENDARENTRYADD", handler=sink.url))
    first = await add_entry(hook, attendees=(2, 3))
    await portal.deliveries_settled()
    got = forms(sink)
    assert sorted(int(form["data"]["id"]) for form in got) == [first, first + 1, first + 2]
    form = got[0]
    assert form["event"] == "ONCALENDARENTRYADD" and form["event_handler_id"] == "1"
    assert set(form["auth"]) == {
        "access_token", "expires", "expires_in", "scope", "domain", "server_endpoint",
        "status", "client_endpoint", "member_id", "user_id", "refresh_token",
        "application_token",
    }  # fmt: skip
    assert form["auth"]["user_id"] == "1" and form["auth"]["scope"] == "calendar,im,user"
    assert form["auth"]["application_token"] == portal.application_token
    assert all(isinstance(v, str) for v in form["auth"].values())  # every value a string


async def test_updates_and_deletes_fire_too(
    portal: FakePortal, app: Bitrix24, hook: Bitrix24, sink: Sink
) -> None:
    for name in ("ONCALENDARENTRYUPDATE", "ONCALENDARENTRYDELETE"):
        assert await app(BindEvent(name, handler=sink.url))
    first = await add_entry(hook, attendees=(2,))
    await rename(hook, first, "renamed")
    copy = (await hook.call("calendar.event.getbyid", {"id": first + 1})).result
    assert copy["NAME"] == "renamed" and copy["OWNER_ID"] == "2"
    await hook.call("calendar.event.delete", {"id": first})
    await portal.deliveries_settled()
    fired = sorted((form["event"], int(form["data"]["id"])) for form in forms(sink))
    assert fired == [
        ("ONCALENDARENTRYDELETE", first),
        ("ONCALENDARENTRYDELETE", first + 1),
        ("ONCALENDARENTRYUPDATE", first),
        ("ONCALENDARENTRYUPDATE", first + 1),
    ]
    with pytest.raises(MethodError, match="Event not found"):
        await hook.call("calendar.event.getbyid", {"id": first + 1})


async def test_user_registration_fires_onuseradd_without_refresh_token(
    portal: FakePortal, app: Bitrix24, sink: Sink
) -> None:
    assert await app(BindEvent("ONUSERADD", handler=sink.url))
    user_id = portal.register_user("Ada", "Lovelace", "ada@example.com")
    await portal.deliveries_settled()
    (form,) = forms(sink)
    assert form["data"]["ID"] == str(user_id) and form["data"]["ACTIVE"] == "1"
    assert form["data"]["UF_DEPARTMENT"] == ["1"]
    assert "refresh_token" not in form["auth"] and form["auth"]["user_id"] == str(user_id)


async def test_install_and_uninstall(portal: FakePortal, app: Bitrix24, sink: Sink) -> None:
    assert await app(BindEvent("ONAPPUNINSTALL", handler=sink.url))
    assert await app(BindEvent("ONCALENDARENTRYADD", offline=True))
    old_token = portal.application_token
    portal.uninstall_app(clean=True)
    await portal.deliveries_settled()
    (form,) = forms(sink)
    assert form["event"] == "ONAPPUNINSTALL" and form["data"]["CLEAN"] == "1"
    assert set(form["auth"]) == {
        "domain", "server_endpoint", "client_endpoint", "member_id", "application_token"
    }  # fmt: skip
    assert form["auth"]["application_token"] == old_token
    assert await app(GetEventHandlers()) == []  # handlers and queue are gone
    portal.install_app(sink.url, user_id=1)
    await portal.deliveries_settled()
    install = forms(sink)[1]
    assert install["event"] == "ONAPPINSTALL"
    assert install["auth"]["application_token"] == portal.application_token != old_token
    assert "refresh_token" in install["auth"] and "access_token" in install["auth"]


async def test_no_retry_and_loopback_only(
    portal: FakePortal, app: Bitrix24, hook: Bitrix24, sink: Sink
) -> None:
    sink.status = 500
    assert await app(BindEvent("ONCALENDARENTRYADD", handler=sink.url))
    assert await app(BindEvent("ONCALENDARENTRYADD", handler="http://203.0.113.9/h"))
    await add_entry(hook)
    await portal.deliveries_settled()
    assert len(sink.bodies) == 1  # the 500 is not retried
    statuses = sorted((d.url == sink.url, d.status, d.error[:8]) for d in portal.deliveries)
    assert statuses == [(False, None, "not sent"), (True, 500, "")]


async def test_nothing_is_delivered_while_uninstalled(
    portal: FakePortal, app: Bitrix24, hook: Bitrix24, sink: Sink
) -> None:
    portal.uninstall_app()
    await add_entry(hook)
    await portal.deliveries_settled()
    assert portal.deliveries == () and portal.offline_queue() == []


# -- offline storing ---------------------------------------------------------------------------


async def test_own_writes_are_not_queued_unless_the_connector_differs(
    portal: FakePortal, app: Bitrix24, hook: Bitrix24
) -> None:
    assert await app(BindEvent("ONCALENDARENTRYADD", offline=True))
    assert await app(BindEvent("ONCALENDARENTRYADD", offline=True, connector="c1"))
    own = await add_entry(app)
    other = await add_entry(hook)
    tagged = int((await app.call("calendar.event.add", {
        "type": "user", "ownerId": 1, "name": "t", "from": "2026-03-02T10:00:00",
        "to": "2026-03-02T11:00:00", "auth_connector": "c1",
    })).result)  # fmt: skip
    queued = sorted(
        (row["CONNECTOR_ID"], row["EVENT_DATA"]["id"]) for row in portal.offline_queue()
    )
    # The default queue: the webhook's and the c1-tagged write; c1's queue: own and webhook.
    assert queued == sorted([("", other), ("", tagged), ("c1", own), ("c1", other)])


async def test_a_thousand_changes_collapse_into_the_predicted_rows(
    portal: FakePortal, app: Bitrix24, hook: Bitrix24
) -> None:
    for name in ("ONCALENDARENTRYADD", "ONCALENDARENTRYUPDATE"):
        assert await app(BindEvent(name, offline=True))
    first = await add_entry(hook, attendees=(2, 3))  # three copies
    single = await add_entry(hook)
    commands = [
        ("calendar.event.update", {"id": eid, "ownerId": 1, "type": "user", "name": f"n{i}"})
        for i, eid in enumerate([first, single] * 500)
    ]
    result = await hook.batch(commands)
    assert not result.errors
    rows = portal.offline_queue()
    # md5(name|data) with data {id}: one ADD and one UPDATE row per stored entry copy.
    copies = [first, first + 1, first + 2, single]
    assert sorted((r["EVENT_NAME"], r["EVENT_DATA"]["id"]) for r in rows) == sorted(
        [("ONCALENDARENTRYADD", c) for c in copies] + [("ONCALENDARENTRYUPDATE", c) for c in copies]
    )
    # A change while a row is reserved makes a new pending row: nothing is lost.
    batch = await app(GetOfflineEvents(100, clear=False))
    assert len(batch.events) == 8 and batch.process_id
    await rename(hook, single, "again")
    pending = [r for r in portal.offline_queue() if not r["PROCESS_ID"]]
    assert [(r["EVENT_NAME"], r["EVENT_DATA"]["id"]) for r in pending] == [
        ("ONCALENDARENTRYUPDATE", single)
    ]


# -- event.offline.get / clear / error / list ---------------------------------------------------


async def queue_entries(app: Bitrix24, hook: Bitrix24, count: int) -> list[int]:
    assert await app(BindEvent("ONCALENDARENTRYADD", offline=True))
    result = await hook.batch([("calendar.event.add", entry_params_for(i)) for i in range(count)])
    return [int(result[str(i)]) for i in range(count)]


def entry_params_for(i: int) -> dict[str, Any]:
    from tests.events.helpers import entry_params

    return entry_params(name=f"e{i}")


async def test_get_clear_error_list(portal: FakePortal, app: Bitrix24, hook: Bitrix24) -> None:
    ids = await queue_entries(app, hook, 120)
    page = await app.call("event.offline.list")
    assert page.total == 120 and page.next == 50 and len(page.result) == 50
    assert {row["PROCESS_ID"] for row in page.result} == {""}
    first = await app(GetOfflineEvents(10, clear=False))
    assert first.process_id and len(first.process_id) == 32
    assert [e.data.id for e in first.events] == ids[:10]  # type: ignore[union-attr]
    second = await app(GetOfflineEvents(10, clear=False))
    assert [e.data.id for e in second.events] == ids[10:20]  # type: ignore[union-attr]
    again = await app(GetOfflineEvents(10, clear=False, process_id=first.process_id))
    assert again.events == first.events  # re-reading does not mark anything new
    one = first.events[0].offline
    assert one is not None
    await app(ClearOfflineEvents(first.process_id, message_ids=[one.message_id]))
    await app(
        MarkOfflineEventsFailed(first.process_id, [e.offline.message_id for e in first.events[1:3]])
    )  # type: ignore[union-attr]
    failed = await app(GetOfflineEvents(10, clear=False, error=True))
    assert [e.data.id for e in failed.events] == ids[1:3]  # type: ignore[union-attr]
    rows = await app.list_all(ListOfflineEvents(filter={"ERROR": 0}))
    assert len(rows) == 117 and sum(1 for r in rows if r.process_id) == 17
    await app(ClearOfflineEvents(first.process_id))  # the whole rest of the batch
    deleting = await app(GetOfflineEvents(5))
    assert deleting.process_id is None and len(deleting.events) == 5
    left = await app.list_all(ListOfflineEvents())
    assert len(left) == 120 - 1 - 7 - 5


async def test_raw_offline_argument_errors(app: Bitrix24, hook: Bitrix24) -> None:
    await queue_entries(app, hook, 1)
    for method, params, text in [
        ("event.offline.get", {"limit": 0}, "positive"),
        ("event.offline.clear", {}, "PROCESS_ID"),
        ("event.offline.clear", {"process_id": "p", "message_id": ["x"]}, "MESSAGE_ID"),
        ("event.offline.error", {"process_id": "p"}, "MESSAGE_ID"),
        ("event.offline.list", {"filter": {"!ID": 1}}, "not allowed"),
    ]:
        with pytest.raises(MethodError, match=text):
            await app.call(method, params)


async def test_clear_zero_needs_the_licence(portal: FakePortal, app: Bitrix24) -> None:
    portal.set_features(offline_extended=False)
    with pytest.raises(WrongLicense, match="extended offline"):
        await app(GetOfflineEvents(clear=False))
    assert (await app(GetOfflineEvents())).events == ()
    portal.set_features(auth_connector=False)
    with pytest.raises(WrongLicense, match="auth_connector"):
        await app(GetOfflineEvents(connector="c1"))


async def test_onofflineevent_is_throttled_and_dropped_not_deferred(sink: Sink) -> None:
    clock = FakeClock()
    portal = FakePortal(users=5, rate=200.0, burst=400, clock=clock)
    async with portal, app_client(portal) as app, Bitrix24(portal.webhook_url) as hook:
        assert await app(BindEvent("ONCALENDARENTRYADD", offline=True))
        assert await app(BindEvent("ONOFFLINEEVENT", handler=sink.url, min_timeout=30))
        await add_entry(hook)
        await add_entry(hook)  # within 30 s: dropped
        clock.advance(31)
        await add_entry(hook)
        await portal.deliveries_settled()
        got = forms(sink)
        assert [form["event"] for form in got] == ["ONOFFLINEEVENT"] * 2
        assert "data" not in got[0] and "refresh_token" in got[0]["auth"]
        assert len(portal.offline_queue()) == 3


async def test_old_rows_are_purged() -> None:
    clock = FakeClock()
    portal = FakePortal(users=5, rate=200.0, burst=400, clock=clock, token_lifetime=1e8)
    async with portal, app_client(portal) as app, Bitrix24(portal.webhook_url) as hook:
        assert await app(BindEvent("ONCALENDARENTRYADD", offline=True))
        old = await add_entry(hook)
        clock.advance(2_000_000)
        new = await add_entry(hook)
        clock.advance(1_000_000)  # the first row is now 3,000,000 s old: past 2,952,000
        rows = await app.list_all(ListOfflineEvents())
        assert [row.event.data for row in rows] == [CalendarEntryChange(new)]
        assert old != new


async def test_a_connector_has_its_own_queue(
    portal: FakePortal, app: Bitrix24, hook: Bitrix24
) -> None:
    assert await app(BindEvent("ONCALENDARENTRYADD", offline=True, connector="crm-sync"))
    entry = await add_entry(hook)
    async with app.offline_events(follow=False) as events:
        assert [event async for event in events] == []
    async with app.offline_events(follow=False, connector="crm-sync") as events:
        got = [event.data async for event in events]
    assert got == [CalendarEntryChange(entry)]
    assert portal.offline_queue() == []


async def test_onofflineevent_carries_the_token_of_the_user_who_wrote(
    portal: FakePortal, app: Bitrix24, sink: Sink
) -> None:
    assert await app(BindEvent("ONCALENDARENTRYADD", offline=True))
    assert await app(BindEvent("ONOFFLINEEVENT", handler=sink.url))
    async with Bitrix24(portal.add_webhook(3)) as user3:
        await add_entry(user3, owner=3)
    await portal.deliveries_settled()
    (form,) = forms(sink)
    assert form["event"] == "ONOFFLINEEVENT" and form["auth"]["user_id"] == "3"
    assert (await app(GetOfflineEvents())).events[0].offline.user_id == 3  # type: ignore[union-attr]


async def test_event_test_fires_onapptest(portal: FakePortal, app: Bitrix24, sink: Sink) -> None:
    assert await app(BindEvent("ONAPPTEST", handler=sink.url))
    assert (await app.call("event.test", {"ping": "1"})).result == 1
    await portal.deliveries_settled()
    (form,) = forms(sink)
    assert form["event"] == "ONAPPTEST" and form["data"]["QUERY"] == {"ping": "1"}
    assert "refresh_token" in form["auth"]
