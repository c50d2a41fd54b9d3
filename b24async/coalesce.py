"""Automatic coalescing: concurrent ``call()``s travel together in ``batch`` requests.

A dispatcher waits until the throttle would let a request go; whatever calls queued up meanwhile
(up to 50 wire commands) leave in that request. On an idle client the first call finds a free
slot at once and goes alone, as a plain call, with no batching delay. Under load the throttle
withholds slots, the queue grows, and every request carries a full batch.

Methods that take a list of items and answer per item publish a
:class:`~b24async.methods.MergeRule`: concurrent calls with the same other params are merged
into shared commands, and a call with thousands of items is split into commands of
``items_per_command``; each caller gets exactly its own items back.

A caller cancelled while its call waits in the queue is dropped: its command never leaves. One
already on the wire is counted like any request; its result is discarded. At ``close()`` the
queue is failed with :class:`ClientClosed` (not sent) and the senders are left to the client's
:class:`~b24async.lifecycle.Lifecycle`, which lets requests on the wire finish within the grace
period.

Each caller gets its own result or its own exception, as if it had called alone: per-command
errors keep their class; commands blocked by their operating budget are held and re-sent;
after an ambiguous failure only reads and idempotent writes are re-sent.

Typed calls (:meth:`Coalescer.enqueue` with ``parse``) are parsed by the sender as soon as their
answer is in, while it delivers: the decoded answer of a request is then dropped when its last
caller has its typed slice, instead of staying alive until every waiting caller has run (memory
bounded by one decoded answer plus the typed results, whatever the number of callers).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import logging
import time
from collections.abc import Callable, Coroutine, Hashable, Mapping, Sequence
from typing import Any, TypeVar

import attrs

from b24async import jsonio
from b24async.batch import (
    NOT_BATCHABLE,
    Command,
    hold_blocked,
    send_alone,
    send_chunk,
    survives_query_encoding,
    unmentioned,
)
from b24async.batchcodec import ChunkOutcome
from b24async.engine import Engine
from b24async.errors import B24Error, ClientClosed, OperationTimeLimit
from b24async.fanout import Call, Delivery, Part, Wire, fail
from b24async.lifecycle import Lifecycle, Operation
from b24async.methods.merging import MergeRule, merge_rule_for
from b24async.protocol import Response
from b24async.retry import is_read
from b24async.sending import Tries, is_transient
from b24async.spreading import SPREAD_MIN, CostLog, Costs, Reading, plan_spread

__all__ = ["Coalescer"]

logger = logging.getLogger("b24async")

T = TypeVar("T")

_MAX_WIRE = 50
#: A shortcut call's rule and group (:meth:`Coalescer.shortcut`).
_Shortcut = tuple[MergeRule, tuple[Hashable, Sequence[Hashable]]]
#: The params of a merged part (its wire's params come from its rule): never read, never changed.
_NO_PARAMS: dict[str, Any] = {}


class Coalescer:
    """Packs concurrent calls into batch requests (see module docs)."""

    def __init__(
        self,
        engine: Engine,
        *,
        items_per_command: int = 50,
        lifecycle: Lifecycle | None = None,
    ) -> None:
        if items_per_command < 1:
            raise ValueError("items_per_command must be >= 1")
        self._engine = engine
        self.items_per_command = items_per_command
        self._lifecycle = lifecycle or Lifecycle()
        self._queue: collections.deque[Part] = collections.deque()
        self._changed = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        # Sender tasks and their wires: kept alive here, and asked whether the client is idle.
        self._senders: dict[asyncio.Task[Any], list[Wire]] = {}
        self._closed = False
        #: What large reads cost per command, per method (the portal's and ours): the spreading
        #: plan's input. ``cpu`` is the clock their decode is measured on (this thread's CPU).
        self.costs = CostLog()
        self.cpu: Callable[[], float] = time.thread_time
        #: Seconds the queue waited with every queued call held by its method's operating
        #: budget (the coalesced path's part of ``ClientStats.operating_wait``).
        self.held = 0.0

    @staticmethod
    def accepts(method: str, params: Mapping[str, Any]) -> bool:
        """Whether a call can travel inside a batch unchanged."""
        return method not in NOT_BATCHABLE and survives_query_encoding(params)

    def _check_open(self) -> None:
        if self._closed:
            raise ClientClosed("the Bitrix24 client is closed; nothing was sent", sent=False)

    @staticmethod
    def shortcut(method: str, request: Any) -> _Shortcut | None:
        """How a typed request may take the shortcut into the queue, or ``None``.

        The shortcut is for requests of a mergeable method whose :class:`MergeRule` reads the
        call's group off the request itself (:meth:`MergeRule.group_request`): no params are
        built, encoded and checked per call (a fan-in of thousands of typed calls). Pure: it
        sends and queues nothing.
        """
        rule = merge_rule_for(method)
        if rule is None or method in NOT_BATCHABLE:
            return None
        grouped = rule.group_request(request)
        return None if grouped is None else (rule, grouped)

    def enqueue_shortcut(
        self,
        method: str,
        shortcut: _Shortcut,
        request: Any,
        progress: Callable[[int, int], None] | None = None,
    ) -> asyncio.Future[Any]:
        """Queue ``request``, a typed call found by :meth:`shortcut`; its future gets the typed
        result.

        Its rule may parse a command's answer once for all such calls in it
        (:meth:`MergeRule.parse_command`), otherwise ``request.parse`` does, as ``parse`` for
        :meth:`enqueue`. The call keeps the request (which its caller holds anyway), not a
        bound ``parse``.
        """
        self._check_open()
        rule, grouped = shortcut
        return self._enqueue_merged(method, rule, grouped, progress, None, request=request)

    def enqueue(
        self,
        method: str,
        params: dict[str, Any],
        progress: Callable[[int, int], None] | None = None,
        parse: Callable[[Any], Any] | None = None,
    ) -> asyncio.Future[Any]:
        """Queue one call; the future of its Response (or of ``parse(result)``).

        ``progress(done, total)`` reports items answered so far for merged calls. The caller
        awaits the future itself (no coroutine of ours in between: a frame less per waiting
        call). Cancelling the future, or its awaiting caller, before the call leaves drops it
        unsent.
        """
        self._check_open()
        rule = merge_rule_for(method)
        grouped = rule.group(params) if rule is not None else None
        if rule is not None and grouped is not None:
            return self._enqueue_merged(method, rule, grouped, progress, parse)
        call = Call(asyncio.get_running_loop().create_future(), 1, parser=parse)
        self._queue.append(Part(call, method, params))
        self._queued()
        return call.future

    def _enqueue_merged(
        self,
        method: str,
        rule: MergeRule,
        grouped: tuple[Hashable, Sequence[Hashable]],
        progress: Callable[[int, int], None] | None,
        parse: Callable[[Any], Any] | None,
        *,
        request: Any = None,
    ) -> asyncio.Future[Any]:
        key, items = grouped
        size = self.items_per_command
        future = asyncio.get_running_loop().create_future()
        count = len(items)
        parts = 1 if count <= size else -(-count // size)
        call = Call(
            future,
            parts,
            rule,
            progress=progress,
            items_total=count,
            parser=parse,
            request=request,
        )
        if parts == 1:  # the usual case (a tuple's items are kept as they are: no copy)
            self._queue.append(Part(call, method, _NO_PARAMS, key, tuple(items)))
        else:
            self._queue.extend(
                Part(call, method, _NO_PARAMS, key, tuple(items[i : i + size]))
                for i in range(0, count, size)
            )
        self._queued()
        return future

    def _queued(self) -> None:
        self._changed.set()
        if self._dispatcher is None or self._dispatcher.done():
            self._ensure_dispatcher()

    def _ensure_dispatcher(self) -> None:
        if self._dispatcher is None or self._dispatcher.done():
            # A fresh context: the dispatcher and its senders belong to no caller's operation.
            self._dispatcher = contextvars.Context().run(asyncio.create_task, self._dispatch())

    async def close(self) -> None:
        """Stop dispatching and fail everything still queued (nothing of it was sent).

        Requests already on the wire are left to finish; the client's lifecycle cancels their
        senders at the grace deadline, and their callers then get :class:`ClientClosed`.
        """
        self._closed = True
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
        while self._queue:
            part = self._queue.popleft()
            fail(part, _closed_error(part, sent=False))

    # -- dispatching -------------------------------------------------------------------------

    async def _dispatch(self) -> None:
        throttle = self._engine.throttle
        while self._queue:
            await throttle.wait_ready()
            wires = self._take()
            if not wires:
                await self._sleep_until_release()
                continue
            spread = self._plan(wires)
            if spread is None:
                self._start(self._send(wires), wires)
            else:
                for part in spread.groups:
                    self._start(self._send(part, spread.reading), part)
            await asyncio.sleep(0)  # let the sender take its slot before we look again

    def _start(self, sender: Coroutine[Any, Any, Any], wires: list[Wire]) -> None:
        task = asyncio.create_task(sender)
        self._senders[task] = wires
        task.add_done_callback(self._senders.pop)

    def _idle(self) -> bool:
        """Nothing queued, and no caller waits on a request in flight.

        A sender that has delivered everything may still be finishing (reading the rest of
        its answer, or done with its discard still to run): its callers already went on, and
        one of them may be the next large read.
        """
        if self._queue:
            return False
        return all(
            part.call.future.done()
            for wires in self._senders.values()
            for wire in wires
            for part in wire.parts
        )

    def _plan(self, wires: list[Wire]) -> _Spread | None:
        """How a large read on an idle client is spread (:mod:`b24async.spreading`), or None.

        Only a read of :data:`SPREAD_MIN` commands or more with nothing else in flight or
        queued is planned (and measured): a fan-in that fills a whole batch and more keeps
        the fewest requests. The plan's parts go smallest first.
        """
        if len(wires) < SPREAD_MIN or not self._idle():
            return None
        methods = {wire.method for wire in wires}
        method = next(iter(methods)) if len(methods) == 1 else None
        sizes = plan_spread(
            len(wires),
            idle=True,
            reads=all(is_read(m) and self._engine.retry.idempotent(m) for m in methods),
            room=_room(self._engine.throttle),
            costs=self.costs.costs(method) if method is not None else Costs(),
        )
        groups: list[list[Wire]] = []
        start = 0
        for size in sizes:
            groups.append(wires[start : start + size])
            start += size
        return _Spread(groups, Reading(method, len(wires), self.cpu(), requests=len(groups)))

    def _measured(self, reading: Reading | None, response: Response) -> None:
        """A command of a planned read reached its callers: the last one records its costs
        (before any caller runs again, so that a read right after is planned on them)."""
        if reading is None:
            return
        server = response.time.duration if response.time is not None else None
        if reading.delivered(server):
            reading.record(self.costs, self.cpu())

    async def _sleep_until_release(self) -> None:
        throttle = self._engine.throttle
        holds = [throttle.hold_remaining(m) for m in {p.method for p in self._queue}]
        timeouts = [h for h in holds if h is not None]
        self._changed.clear()
        # A report from a call in flight can also free a method: look again within 0.1 s.
        timeout = min(max(min(timeouts), 0.0) + 0.01, 0.1) if timeouts else 0.1
        clock = self._engine.clock
        started = clock.monotonic()
        try:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout)
        finally:
            self.held += clock.monotonic() - started

    def _take(self) -> list[Wire]:
        """Take up to 50 wire commands' worth of parts whose methods are not held.

        Parts whose caller is gone (cancelled) are dropped here: they never leave.
        """
        throttle = self._engine.throttle
        wires: list[Wire] = []
        merging: dict[tuple[str, Hashable], Wire] = {}
        room: dict[str, int | None] = {}  # commands each method's operating budget still admits
        kept: list[Part] = []  # held parts, put back in front in their order
        while self._queue:
            part = self._queue.popleft()
            if part.call.future.done():
                self._dropped(part.call)
                continue
            if part.method not in room:
                room[part.method] = throttle.admissible(part.method)
            if part.items is not None:
                wire = merging.get((part.method, part.key))
                if (
                    wire is not None
                    and wire.items is not None
                    and len(wire.items) + len(part.items) <= self.items_per_command
                ):
                    wire.items.extend(part.items)  # rides in a command already taken
                    wire.parts.append(part)
                    continue
            left = room[part.method]
            if left is not None and left <= 0:
                kept.append(part)  # held: wait in the queue, never inside another's batch
                continue
            if len(wires) >= _MAX_WIRE:
                kept.append(part)
                break
            if part.items is not None:
                wire = Wire(part.method, {}, [part], list(part.items))
                merging[(part.method, part.key)] = wire
            else:
                wire = Wire(part.method, part.params, [part])
            wires.append(wire)
            if left is not None:
                room[part.method] = left - 1
        self._queue.extendleft(reversed(kept))
        for wire in wires:
            wire.finish()
        return wires

    def _dropped(self, call: Call) -> None:
        if not call.dropped:
            call.dropped = True
            self._engine.counters.dropped_calls += 1

    # -- sending -----------------------------------------------------------------------------

    async def _send(self, wires: list[Wire], reading: Reading | None = None) -> None:
        """Send ``wires`` as one request and settle their callers (``reading``: a planned
        read's measurement, told about each command)."""
        engine = self._engine
        # The sender is an operation of the client's lifecycle: close() sees what it has on
        # the wire, and cancels it at the grace deadline (or at once if it has nothing there).
        operation = Operation(self._lifecycle, asyncio.current_task())
        # The request goes on with the most-tried part's count; each part is charged with the
        # failures of this request (see _failed).
        tries = Tries(max(part.failures for wire in wires for part in wire.parts))
        delivery = Delivery(wires, self.items_per_command, reading, self._measured)
        try:
            with operation:
                if len(wires) == 1:  # a lone call goes as a plain call: no batch envelope
                    wire = wires[0]
                    outcome = await send_alone(
                        engine,
                        "0",
                        wire.method,
                        wire.params,
                        tries=tries,
                        # typed callers read its result's text, as a batch command's
                        take_text=delivery.take_text if delivery.reads_text() else None,
                    )
                else:
                    commands = [Command(str(i), w.method, w.params) for i, w in enumerate(wires)]
                    engine.counters.coalesced_calls += sum(len(w.parts) for w in wires)
                    outcome = await send_chunk(
                        engine,
                        commands,
                        halt=False,
                        tries=tries,
                        take=delivery.take,
                        pause=delivery.pause,
                        take_text=delivery.take_text if delivery.reads_text() else None,
                    )
        except ClientClosed as exc:
            delivery.fail()
            for wire in wires:
                for part in wire.parts:
                    fail(part, _closed_error(part, sent=exc.sent))
            return
        except B24Error as exc:
            delivery.fail()
            if delivery.undelivered():
                self._failed(delivery.undelivered(), exc, tries)
            return
        except asyncio.CancelledError:
            # Cancelled from outside the lifecycle (e.g. the loop shutting down).
            delivery.fail()
            for wire in wires:
                for part in wire.parts:
                    fail(part, _closed_error(part, sent=operation.may_have_applied))
            raise
        except Exception as exc:  # e.g. raised by on_token_refresh: it belongs to the callers
            delivery.fail()
            delivered = [fail(part, exc) for wire in wires for part in wire.parts]
            if not any(delivered):  # nobody is waiting any more: say it once, never orphan it
                text = self._engine.credentials.redact(f"{type(exc).__name__}: {exc}")
                logger.warning("a coalesced request failed with no caller left: %s", text)
            return
        blocked: list[str] = []  # the method of each blocked command
        typed = any(part.call.parse is not None for wire in wires for part in wire.parts)
        # Typed calls are parsed right here: many small models from one decoded answer.
        with jsonio.gc_paused() if typed else contextlib.nullcontext():
            self._settle(wires, outcome, blocked, delivery)
        if blocked:
            hold_blocked(engine, blocked)
            self._changed.set()
        if delivery.interrupted is not None:
            raise delivery.interrupted  # cancelled from outside while delivering: now

    def _settle(
        self,
        wires: list[Wire],
        outcome: ChunkOutcome,
        blocked: list[str],
        delivery: Delivery,
    ) -> None:
        """Deliver each wire's answer or error to its parts; collect blocked methods.

        Wires ``delivery`` delivered while the answer was read are done; it delivers the
        others' answers now (and its planned read's measurement hears of every wire).
        """
        engine = self._engine
        for i, wire in enumerate(wires):
            if i in delivery.delivered:
                continue
            name = str(i)
            if name in outcome.responses:
                delivery.deliver_wire(i, outcome.responses[name])
            else:
                delivery.fail()
                error = outcome.errors.get(name)
                # A blocked command inside a batch did not run: hold and re-send it. A lone
                # call's OPERATION_TIME_LIMIT is final: the engine already spent its retries.
                if (
                    len(wires) > 1
                    and isinstance(error, OperationTimeLimit)
                    and wire.parts[0].limit_hits + 1 < engine.retry.limit_attempts
                ):
                    blocked.append(wire.method)
                    for part in wire.parts:
                        part.limit_hits += 1
                    self._requeue(wire.parts)
                    continue
                for part in wire.parts:
                    fail(part, error or unmentioned(wire.method))

    def _failed(self, wires: list[Wire], exc: B24Error, tries: Tries) -> None:
        """The request as a whole failed: re-send what may be re-sent, fail the rest.

        The rule of the engine and the batch runner: only after an ambiguous failure
        (:func:`~b24async.sending.is_transient`), only reads and idempotent writes, only while
        their tries last. Each part is charged with the failures this request had (the engine
        counted them into ``tries``; at least one).
        """
        engine = self._engine
        transient = is_transient(exc)
        spent = max(tries.failures - max(p.failures for w in wires for p in w.parts), 1)
        for wire in wires:
            if transient:
                for part in wire.parts:
                    part.failures += spent
            again = (
                transient
                and engine.retry.idempotent(wire.method)
                and all(part.failures < engine.retry.attempts for part in wire.parts)
            )
            if again:
                for part in wire.parts:
                    part.maybe_sent = part.maybe_sent or exc.may_have_applied
                self._requeue(wire.parts)
            else:
                for part in wire.parts:
                    fail(part, exc)
        self._changed.set()

    def _requeue(self, parts: list[Part]) -> None:
        if self._closed:
            for part in parts:
                fail(part, _closed_error(part, sent=False))
            return
        self._queue.extendleft(reversed(parts))
        self._ensure_dispatcher()


@attrs.frozen
class _Spread:
    """A planned read: its requests' wires, smallest first, and its measurement."""

    groups: list[list[Wire]]
    reading: Reading


def _room(throttle: object) -> float | None:
    """Requests the throttle would let go at once (``None``: a policy that cannot tell)."""
    room = getattr(throttle, "room", None)  # optional beyond ThrottlePolicy
    return float(room()) if callable(room) else None


def _closed_error(part: Part, *, sent: bool) -> ClientClosed:
    return ClientClosed.cut_short(sent or part.maybe_sent, part.method)
