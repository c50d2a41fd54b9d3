"""What a waiting fan-in caller costs the client, in bytes and objects (tracemalloc, no timing).

Thousands of coroutines each ``await b24(GetAccessibility(users=[u], ...))``: while they wait,
the client holds per call one queued part, its call (keeping the request, not a bound
``parse``), its future and the caller's request (its own tuple of users, shared, not copied);
the window's key is shared by every call of the window. The byte bound is generous (object
sizes vary between Python versions; README "Speed and memory" states the measured bytes); the
object count fails when a per-call copy (a params dict, a list or tuple of the items, the key's
strings, a dict per call, a bound method) comes back: each is one more object per call.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import os
import tracemalloc

import b24async
from b24async import Bitrix24
from b24async.methods import GetAccessibility
from b24async.testing import FakePortal

ANCHOR = dt.date(2026, 1, 5)
CALLERS = 2000
#: Bytes allocated by b24async's own code per waiting call: 340-361 measured on CPython
#: 3.10-3.13 (633-638 with the per-call copies this guards against).
OURS_PER_CALL = 448
#: Blocks allocated by it per waiting call: 4.02 measured (the Call, the Part, the request's
#: tuple of users, the await of the future); any per-call copy or bound method is one more.
OBJECTS_PER_CALL = 4.5

PACKAGE = os.path.dirname(b24async.__file__)


def ours(snapshot: tracemalloc.Snapshot) -> tuple[int, int]:
    """Bytes and blocks allocated by code in the b24async package (the innermost frame's
    file)."""
    only = snapshot.filter_traces([tracemalloc.Filter(True, os.path.join(PACKAGE, "*"))])
    stats = only.statistics("filename")
    return sum(stat.size for stat in stats), sum(stat.count for stat in stats)


async def test_a_waiting_fan_in_call_holds_a_few_hundred_bytes_of_ours() -> None:
    async with FakePortal(users=10) as fake, Bitrix24(fake.webhook_url) as b24:
        await b24.call("server.time")  # the client's own one-time state, before counting
        end = ANCHOR + dt.timedelta(days=27)

        async def one(user: int) -> int:
            return len((await b24(GetAccessibility(users=[user], start=ANCHOR, end=end)))[user])

        gc.collect()
        tracemalloc.start(1)
        try:
            size, count = ours(tracemalloc.take_snapshot())
            callers = [asyncio.ensure_future(one(u)) for u in range(1, CALLERS + 1)]
            await asyncio.sleep(0)  # every caller has run up to its await: all are queued
            assert b24._coalescer is not None and len(b24._coalescer._queue) == CALLERS
            after, blocks = ours(tracemalloc.take_snapshot())
            per_call, objects = (after - size) / CALLERS, (blocks - count) / CALLERS
        finally:
            tracemalloc.stop()
        for caller in callers:
            caller.cancel()  # dropped unsent
        await asyncio.gather(*callers, return_exceptions=True)
    assert 100 < per_call <= OURS_PER_CALL, per_call
    assert objects <= OBJECTS_PER_CALL, objects
