"""``b24.offline_events()``: the app's offline event queue as an at-least-once async iterator.

How it reads (events facts §4): it reserves a batch (``event.offline.get`` with ``clear=0``,
which stamps the rows with a process ID), yields the batch's events one by one, and deletes
them (``event.offline.clear`` by ``MESSAGE_ID``) only when the consumer asks for the event after
the batch's last one. A change that arrives meanwhile makes a new pending row, so nothing is
missed; a row processed twice is possible (at-least-once): handle events idempotently.

When the consumer stops inside ``async with`` (an exception, or ``break``), the events it has
moved past are cleared and the rest of the batch, the one in hand included, is handed back
with ``event.offline.error`` (the API has no other way to un-reserve a row); the next stream
reads those failed rows before new ones. A consumer that dies without ``async with`` (or is
killed) leaves its batch reserved: a later stream that has seen the same reserved process ID
for ``adopt_after`` seconds (``event.offline.list``) takes it over, so no row is stranded.

Where the licence refuses ``clear=0`` (``WRONG_LICENSE``), it reads with ``clear=1`` instead,
which deletes rows as they are read: processing is then at-most-once, and it says so once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import TracebackType
from typing import TYPE_CHECKING

from b24async.clock import SYSTEM_CLOCK, Clock
from b24async.errors import ClientClosed, WrongLicense
from b24async.methods.events import (
    ClearOfflineEvents,
    GetOfflineEvents,
    ListOfflineEvents,
    MarkOfflineEventsFailed,
)
from b24async.models.events import Event

if TYPE_CHECKING:
    from b24async.client import Bitrix24

__all__ = ["OfflineEvents"]

_log = logging.getLogger("b24async.events")
_WAIT_SLICE = 1.0  # seconds between checks for close() while idle
_SCAN_ROWS = 1000  # event.offline.list rows read looking for stranded batches
_CHECK_EVERY = 20  # batches between looks for failed rows and stranded batches on a busy queue


class OfflineEvents:
    """An async iterator of offline :class:`Event`\\ s (use ``b24.offline_events()``).

    Args:
        client: the app's client (an admin's OAuth token: the methods are admin-only).
        limit: rows reserved per batch.
        poll_interval: seconds between reads of an empty queue.
        wakeup: an ``asyncio.Event`` set when the portal says there is something to read,
            e.g. :attr:`EventReceiver.offline_signal` (``ONOFFLINEEVENT``); the stream reads
            as soon as it is set and clears it.
        follow: keep waiting for new events; False stops once the queue is empty (a drain).
        adopt_after: seconds another process ID must stay reserved, as seen by this stream,
            before it is taken as stranded by a dead consumer and processed here; 0 takes
            every reserved batch at once (safe with one worker only).
        connector: the ``auth_connector`` queue to read (None: the default queue).
        clock: time source for waiting.
    """

    def __init__(
        self,
        client: Bitrix24,
        *,
        limit: int = 50,
        poll_interval: float = 30.0,
        wakeup: asyncio.Event | None = None,
        follow: bool = True,
        adopt_after: float = 300.0,
        connector: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit!r}")
        if poll_interval <= 0:
            raise ValueError(f"poll_interval must be positive, got {poll_interval!r}")
        if adopt_after < 0:
            raise ValueError(f"adopt_after must be >= 0, got {adopt_after!r}")
        self._client = client
        self._limit = limit
        self._poll = poll_interval
        self._wakeup = wakeup
        self._follow = follow
        self._adopt_after = adopt_after
        self._connector = connector
        self._clock = clock
        self._batch: list[Event] = []
        self._process_id: str | None = None
        self._adopted = False  # the batch is another consumer's: re-read it until empty
        self._next = 0
        self._reserve = True
        self._seen: dict[str, float] = {}
        self._owned: set[str] = set()
        self._check_stranded = True
        self._since_check = 0
        self._stopped = False

    @property
    def at_most_once(self) -> bool:
        """True once the portal refused ``clear=0`` and rows are deleted as they are read."""
        return not self._reserve

    def __repr__(self) -> str:
        mode = "at-most-once" if self.at_most_once else "at-least-once"
        return f"OfflineEvents({mode}, limit={self._limit}, stopped={self._stopped})"

    # -- iteration ---------------------------------------------------------------------------

    def __aiter__(self) -> OfflineEvents:
        return self

    async def __anext__(self) -> Event:
        try:
            while not self._stopped and not self._client.closed:
                if self._next < len(self._batch):
                    self._next += 1
                    return self._batch[self._next - 1]
                await self._finish_batch()
                if await self._fetch():
                    continue
                if not self._follow:
                    break
                await self._wait()
        except ClientClosed:
            pass  # what was not cleared stays reserved on the portal: nothing is lost
        self._stopped = True
        raise StopAsyncIteration

    async def __aenter__(self) -> OfflineEvents:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop: clear the events moved past, hand the rest of the batch back (see above)."""
        if self._stopped and not self._batch:
            return
        self._stopped = True
        done = self._batch[: max(self._next - 1, 0)]
        rest = self._batch[len(done) :]
        process_id = self._process_id
        self._batch, self._next, self._process_id = [], 0, None
        if process_id is None:
            return
        try:
            if done:
                await self._client(self._clear(process_id, done))
            if rest:
                ids = tuple(event.offline.message_id for event in rest if event.offline)
                await self._client(
                    MarkOfflineEventsFailed(process_id, ids, connector=self._connector)
                )
        except ClientClosed:
            pass  # left reserved: a later stream adopts the batch

    # -- the queue ---------------------------------------------------------------------------

    def _clear(self, process_id: str, events: list[Event]) -> ClearOfflineEvents:
        ids = tuple(event.offline.message_id for event in events if event.offline)
        return ClearOfflineEvents(process_id, message_ids=ids, connector=self._connector)

    async def _finish_batch(self) -> None:
        """The consumer moved past the whole batch: delete it on the portal."""
        if self._batch and self._process_id is not None:
            await self._client(self._clear(self._process_id, self._batch))
        self._batch, self._next = [], 0
        if not self._adopted:
            self._process_id = None

    async def _fetch(self) -> bool:
        """Load the next batch; False when there is nothing to read."""
        if self._wakeup is not None:
            self._wakeup.clear()  # a notification from now on means rows newer than this read
        if self._adopted and self._process_id is not None:
            if await self._read(process_id=self._process_id):
                return True
            self._adopted, self._process_id = False, None
        self._since_check += 1
        if self._since_check > _CHECK_EVERY:
            self._check_stranded = True  # a queue that never empties must not starve them
        if self._check_stranded and self._reserve:
            self._check_stranded, self._since_check = False, 0
            if await self._read(error=True):
                return True
            if await self._adopt():
                return True
        if await self._read():
            return True
        self._check_stranded = True  # the queue is empty: look again after the next wait
        return False

    async def _read(self, *, error: bool = False, process_id: str | None = None) -> bool:
        if self._reserve:
            request = GetOfflineEvents(
                self._limit,
                clear=False,
                error=error,
                process_id=process_id,
                connector=self._connector,
            )
            try:
                batch = await self._client(request)
            except WrongLicense:
                self._reserve = False
                _log.warning(
                    "the portal refuses reserved reads of offline events (WRONG_LICENSE): "
                    "reading with clear=1, so processing is at-most-once from now on"
                )
                return False if error or process_id else await self._read()
        else:
            batch = await self._client(
                GetOfflineEvents(self._limit, clear=True, connector=self._connector)
            )
        if not batch.events:
            return False
        self._batch, self._next = list(batch.events), 0
        self._process_id = batch.process_id
        if batch.process_id is not None:
            self._owned.add(batch.process_id)
        return True

    async def _adopt(self) -> bool:
        """Take over a batch reserved by someone else for at least ``adopt_after`` seconds."""
        now = self._clock.monotonic()
        reserved: set[str] = set()
        request = ListOfflineEvents(order={"PROCESS_ID": "DESC"}, connector=self._connector)
        rows = self._client.paginate(request, prefetch=1)
        async with contextlib.aclosing(rows):
            scanned = 0
            async for row in rows:
                if not row.process_id or scanned >= _SCAN_ROWS:
                    break  # reserved rows sort first
                reserved.add(row.process_id)
                scanned += 1
        self._seen = {pid: self._seen.get(pid, now) for pid in reserved - self._owned}
        for process_id, first_seen in sorted(self._seen.items(), key=lambda item: item[1]):
            if now - first_seen >= self._adopt_after:
                _log.info("taking over a stranded offline batch (%d seen reserved)", len(reserved))
                del self._seen[process_id]
                self._owned.add(process_id)
                self._adopted, self._process_id = True, process_id
                if await self._read(process_id=process_id):
                    return True
                self._adopted, self._process_id = False, None
        return False

    async def _wait(self) -> None:
        deadline = self._clock.monotonic() + self._poll
        while not self._stopped and not self._client.closed:
            left = deadline - self._clock.monotonic()
            if left <= 0:
                return
            step = min(left, _WAIT_SLICE)
            if self._wakeup is None:
                await self._clock.sleep(step)
                continue
            try:
                await asyncio.wait_for(self._wakeup.wait(), step)
                return
            except asyncio.TimeoutError:
                pass
