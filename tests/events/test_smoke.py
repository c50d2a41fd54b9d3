from __future__ import annotations

from b24async import Bitrix24
from b24async.methods import BindEvent
from b24async.testing import FakePortal
from tests.events.conftest import Sink


async def test_smoke(portal: FakePortal, app: Bitrix24, hook: Bitrix24, sink: Sink) -> None:
    assert await app(BindEvent("ONCALENDARENTRYADD", handler=sink.url))
    assert await app(BindEvent("ONCALENDARENTRYADD", offline=True))
    await hook.call("calendar.event.add", {"type": "user", "ownerId": 1, "name": "x", "from": "2026-01-01T10:00:00", "to": "2026-01-01T11:00:00"})
    await portal.deliveries_settled()
    print(portal.deliveries, sink.bodies)
    print(portal.offline_queue())
    async with app.offline_events(follow=False) as events:
        got = [e async for e in events]
    print(got)
    assert got
    assert portal.offline_queue() == []
