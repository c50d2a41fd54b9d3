"""b24.offline_events(): at-least-once reading of the offline queue."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiohttp import web

from b24async import Bitrix24
from b24async.events import CalendarEntryChange, Event, EventReceiver, OfflineEvents
from b24async.methods import BindEvent, GetOfflineEvents
from b24async.testing import FakePortal
from tests.events.conftest import app_client
from tests.events.helpers import add_entry, entry_params


async def fill(app: Bitrix24, hook: Bitrix24, count: int) -> list[int]:
    """Bind the offline handler and queue ``count`` ONCALENDARENTRYADD rows (webhook writes)."""
    assert await app(BindEvent("ONCALENDARENTRYADD", offline=True))
    result = await hook.batch(
        [("calendar.event.add", entry_params(name=f"e{i}")) for i in range(count)]
    )
    return [int(result[str(i)]) for i in range(count)]


def entry_id(event: Event) -> int:
    assert isinstance(event.data, CalendarEntryChange)
    return event.data.id


class StepClock:
    """A clock that only moves when slept on (or set): a stream's polls take no real time."""

    def __init__(self) -> None:
        self.now = 0.0

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


async def test_reads_everything_and_clears_after_moving_past(
    portal: FakePortal, app: Bitrix24, hook: Bitrix24
) -> None:
    ids = await fill(app, hook, 120)
    seen: list[int] = []
    async with app.offline_events(limit=50, follow=False) as events:
        async for event in events:
            seen.append(entry_id(event))
            # The event in hand and the rest of its batch are still on the portal.
            assert len(portal.offline_queue()) >= 120 - len(seen) + 1
    assert seen == ids
    assert portal.offline_queue() == []


async def test_a_crash_mid_batch_loses_nothing_and_a_restart_sees_the_rest(
    portal: FakePortal, app: Bitrix24, hook: Bitrix24
) -> None:
    ids = await fill(app, hook, 30)
    done: list[int] = []

    async def consume() -> None:
        async with app.offline_events(limit=10, follow=False) as events:
            async for event in events:
                if len(done) == 14:
                    raise RuntimeError("crash")
                done.append(entry_id(event))

    with pytest.raises(RuntimeError, match="crash"):
        await consume()
    assert done == ids[:14]
    left = portal.offline_queue()
    assert len(left) == 16  # the crashed event and everything after it are still there
    async with app.offline_events(follow=False) as events:
        rest = [entry_id(event) async for event in events]
    assert sorted(rest) == ids[14:]
    assert portal.offline_queue() == []


async def test_a_dead_consumers_reserved_batch_is_adopted(
    portal: FakePortal, app: Bitrix24, hook: Bitrix24
) -> None:
    ids = await fill(app, hook, 8)
    dead = app.offline_events(limit=5, follow=False)
    first = await dead.__anext__()  # then the consumer dies: no async with, no clear
    assert entry_id(first) == ids[0]
    reserved = [row for row in portal.offline_queue() if row["PROCESS_ID"]]
    assert len(reserved) == 5
    # A stream with the default lease does not take a batch it sees for the first time...
    cautious = OfflineEvents(app, follow=False)
    assert sorted([entry_id(e) async for e in cautious]) == ids[5:]
    assert len(portal.offline_queue()) == 5
    # ...one that may adopt at once takes it over, so no reserved row is stranded.
    async with app.offline_events(follow=False, adopt_after=0) as events:
        assert sorted([entry_id(e) async for e in events]) == ids[:5]
    assert portal.offline_queue() == []


async def test_a_batch_is_adopted_once_it_stays_reserved_for_the_lease(
    portal: FakePortal, app: Bitrix24, hook: Bitrix24
) -> None:
    ids = await fill(app, hook, 3)
    await app(GetOfflineEvents(3, clear=False))  # reserved by a consumer that then died
    got: list[int] = []
    stream = OfflineEvents(app, poll_interval=60.0, adopt_after=300.0, clock=StepClock())
    async for event in stream:
        got.append(entry_id(event))
        if len(got) == 3:
            break
    await stream.aclose()
    assert sorted(got) == ids  # after ~5 polls of 60 s on the stream's clock
    # break left the last event unacknowledged: it was handed back as a failed row.
    (left,) = portal.offline_queue()
    assert left["EVENT_DATA"]["id"] == got[-1] and left["ERROR"] == "1"
    async with app.offline_events(follow=False) as events:
        assert [entry_id(e) async for e in events] == [got[-1]]


async def test_a_busy_queue_still_looks_for_stranded_batches(
    portal: FakePortal, app: Bitrix24, hook: Bitrix24
) -> None:
    ids = await fill(app, hook, 3)
    await app(GetOfflineEvents(3, clear=False))  # a dead consumer's batch
    busy = [await add_entry(hook) for _ in range(60)]
    clock = StepClock()
    order: list[int] = []
    stream = OfflineEvents(app, limit=1, adopt_after=10.0, follow=False, clock=clock)
    async with stream:
        async for event in stream:
            order.append(entry_id(event))
            clock.now += 1.0  # the queue never empties: time passes while it is busy
    assert sorted(order) == sorted(ids + busy)
    assert max(order.index(i) for i in ids) < order.index(busy[-1])  # adopted mid-run


async def test_two_workers_never_process_one_row_twice(
    portal: FakePortal, app: Bitrix24, hook: Bitrix24
) -> None:
    ids = await fill(app, hook, 200)
    seen: dict[str, list[int]] = {"a": [], "b": []}

    async def worker(name: str) -> None:
        async with app.offline_events(limit=7, follow=False) as events:
            async for event in events:
                seen[name].append(entry_id(event))
                await asyncio.sleep(0)

    await asyncio.gather(worker("a"), worker("b"))
    assert seen["a"] and seen["b"]
    assert not set(seen["a"]) & set(seen["b"])
    assert sorted(seen["a"] + seen["b"]) == ids
    assert len(seen["a"]) + len(seen["b"]) == 200


async def test_wrong_license_falls_back_to_at_most_once_and_says_so_once(
    portal: FakePortal, app: Bitrix24, hook: Bitrix24, caplog: pytest.LogCaptureFixture
) -> None:
    ids = await fill(app, hook, 120)
    portal.set_features(offline_extended=False)
    caplog.set_level(logging.WARNING, "b24async.events")
    async with app.offline_events(follow=False) as events:
        seen = [entry_id(event) async for event in events]
        assert events.at_most_once
    assert seen == ids
    assert caplog.text.count("at-most-once") == 1


async def test_wakes_on_onofflineevent_and_stops_on_close(
    portal: FakePortal, hook: Bitrix24
) -> None:
    async def ignore(event: Event) -> None:
        pass

    receiver = EventReceiver(ignore, tokens=None)
    runner = web.AppRunner(receiver.app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/"
    portal.install_app(url)  # the receiver learns the application token
    await portal.deliveries_settled()
    app = app_client(portal)
    try:
        assert await app(BindEvent("ONCALENDARENTRYADD", offline=True))
        assert await app(BindEvent("ONOFFLINEEVENT", handler=url, min_timeout=0))
        # A poll interval far beyond the test timeout: only the notification can wake it.
        events = app.offline_events(poll_interval=3600.0, wakeup=receiver.offline_signal)
        got: list[int] = []
        arrived = asyncio.Event()

        async def consume() -> None:
            async for event in events:
                got.append(entry_id(event))
                arrived.set()

        task = asyncio.ensure_future(consume())
        await asyncio.sleep(0.05)
        entry = await add_entry(hook)
        await arrived.wait()
        assert got == [entry]
        arrived.clear()
        later = await add_entry(hook)
        await arrived.wait()
        await app.close()
        await task  # the iteration ends cleanly on close
        assert got == [entry, later]
        assert receiver.stats.accepted >= 3
        # The first was moved past and cleared; the last is cleared or, if the close came
        # before the consumer asked for more, still on the portal: never lost.
        assert [row["EVENT_DATA"]["id"] for row in portal.offline_queue()] in ([], [later])
    finally:
        await app.close()
        await runner.cleanup()


async def test_close_mid_batch_leaves_the_rest_reserved(portal: FakePortal, hook: Bitrix24) -> None:
    async with app_client(portal) as app:
        ids = await fill(app, hook, 3)
        events = app.offline_events(follow=False)
        first = await events.__anext__()
    with pytest.raises(StopAsyncIteration):
        await events.__anext__()
    assert entry_id(first) == ids[0]
    assert len(portal.offline_queue()) == 3  # nothing lost; a later stream adopts them
