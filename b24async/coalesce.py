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
import sys
import time
from collections.abc import Callable, Container, Coroutine, Hashable, Mapping
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
from b24async.lifecycle import Lifecycle, Operation, current_operation
from b24async.methods.merging import MergeRule, merge_rule_for
from b24async.protocol import Response, Timing
from b24async.retry import is_read
from b24async.sending import Tries, is_transient
from b24async.spreading import SPREAD_MIN, CostLog, Costs, Reading, plan_spread

__all__ = ["Coalescer"]

logger = logging.getLogger("b24async")

T = TypeVar("T")

_MAX_WIRE = 50
#: A shortcut call's rule and group (:meth:`Coalescer.shortcut`).
_Shortcut = tuple[MergeRule, tuple[Hashable, list[Hashable]]]
_UNPARSED = object()  # a command's answer its rule would not or could not parse at once
#: The params of a merged part (its wire's params come from its rule): never read, never changed.
_NO_PARAMS: dict[str, Any] = {}


@attrs.define(eq=False)
class _Call:
    method: str
    future: asyncio.Future[Any]  # a Response, or the parsed result of a typed call
    remaining: int  # parts not answered yet
    rule: MergeRule | None = None  # merged calls: how to pick and join their items' results
    merged: dict[str, Any] = attrs.field(factory=dict)  # merged calls: results so far
    last_time: Timing | None = None
    progress: Callable[[int, int], None] | None = None
    items_total: int = 0
    dropped: bool = False  # counted once in ``dropped_calls``
    parse: Callable[[Any], Any] | None = None  # typed calls: result -> typed value
    # Typed merged calls: parsed parts so far. None until the first (a list per waiting call
    # would be one more object for the cyclic GC to walk, thousands of times in a fan-in).
    typed: list[Any] | None = None
    picked: int = 0  # typed merged calls: entries picked so far (for ``progress``)
    error: Exception | None = None  # typed merged calls: a part's parser error
    shortcut: bool = False  # queued by enqueue_shortcut: its rule may parse for it

    def resolve(self, response: Response) -> None:
        """Complete the call: its Response, or its typed result (or the parser's error)."""
        if self.parse is None:
            self.future.set_result(response)
            return
        self.settle(_parsed(self.parse, response.result))

    def settle(self, ready: _Ready) -> None:
        """Complete the call with a value or error made ready beforehand."""
        if isinstance(ready.value, _Failed):
            self.future.set_exception(ready.value.error)
        else:
            self.future.set_result(ready.value)


@attrs.frozen
class _Failed:
    error: Exception  # a parser's error: it fails its caller only


@attrs.frozen
class _Ready:
    """One part's share of an answer, made ready as the answer is read (see _Delivery.take).

    ``kind``: "response" (an untyped lone call: the Response), "value" (a call's typed
    result, or _Failed), "picked" (a merged part's raw entries), "part" (a typed merged part:
    its parsed value, or _Failed; ``count`` entries picked).
    """

    kind: str
    value: Any
    count: int = 0


def _parsed(parse: Callable[[Any], Any], result: Any) -> _Ready:
    try:
        return _Ready("value", parse(result))
    except Exception as exc:  # a malformed answer fails this caller only
        return _Ready("value", _Failed(exc))


@attrs.define(eq=False)
class _Part:
    call: _Call
    method: str
    params: dict[str, Any]
    key: Hashable = None  # merged parts: the rule's group key
    items: tuple[Hashable, ...] | None = None  # merged parts: this part's items
    failures: int = 0  # ambiguous failures so far (the retry policy's ``attempts`` bounds them)
    limit_hits: int = 0  # times held back after OPERATION_TIME_LIMIT inside a batch
    maybe_sent: bool = False  # an earlier attempt may have been executed


@attrs.define(eq=False)
class _Wire:
    """One command on the wire, serving one or more parts."""

    method: str
    params: dict[str, Any]
    parts: list[_Part]
    items: list[Hashable] | None = None  # merged wires: the items of all their parts

    def finish(self) -> None:
        """Build a merged wire's params from the items its parts brought."""
        part = self.parts[0]
        if self.items is not None and part.call.rule is not None:
            self.params = part.call.rule.params(part.key, self.items)


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
        self._queue: collections.deque[_Part] = collections.deque()
        self._changed = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        # Sender tasks and their wires: kept alive here, and asked whether the client is idle.
        self._senders: dict[asyncio.Task[Any], list[_Wire]] = {}
        self._closed = False
        #: What large reads cost per command, per method (the portal's and ours): the spreading
        #: plan's input. ``cpu`` is the clock their decode is measured on (this thread's CPU).
        self.costs = CostLog()
        self.cpu: Callable[[], float] = time.thread_time

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
        parse: Callable[[Any], Any],
        progress: Callable[[int, int], None] | None = None,
    ) -> asyncio.Future[Any]:
        """Queue a typed call found by :meth:`shortcut`; its future gets the typed result.

        Its rule may parse a command's answer once for all such calls in it
        (:meth:`MergeRule.parse_command`), otherwise ``parse`` does, as for :meth:`enqueue`.
        """
        self._check_open()
        rule, grouped = shortcut
        return self._enqueue_merged(method, rule, grouped, progress, parse, shortcut=True)

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
        call = _Call(method, asyncio.get_running_loop().create_future(), 1, parse=parse)
        self._queue.append(_Part(call, method, params))
        self._queued()
        return call.future

    def _enqueue_merged(
        self,
        method: str,
        rule: MergeRule,
        grouped: tuple[Hashable, list[Hashable]],
        progress: Callable[[int, int], None] | None,
        parse: Callable[[Any], Any] | None,
        *,
        shortcut: bool = False,
    ) -> asyncio.Future[Any]:
        key, items = grouped
        size = self.items_per_command
        future = asyncio.get_running_loop().create_future()
        count = len(items)
        parts = 1 if count <= size else -(-count // size)
        call = _Call(
            method,
            future,
            parts,
            rule,
            progress=progress,
            items_total=count,
            parse=parse,
            shortcut=shortcut,
        )
        if parts == 1:  # the usual case
            self._queue.append(_Part(call, method, _NO_PARAMS, key, tuple(items)))
        else:
            self._queue.extend(
                _Part(call, method, _NO_PARAMS, key, tuple(items[i : i + size]))
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
            self._fail(part, _closed_error(part, sent=False))

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

    def _start(self, sender: Coroutine[Any, Any, Any], wires: list[_Wire]) -> None:
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

    def _plan(self, wires: list[_Wire]) -> _Spread | None:
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
        groups: list[list[_Wire]] = []
        start = 0
        for size in sizes:
            groups.append(wires[start : start + size])
            start += size
        return _Spread(groups, Reading(method, len(wires), self.cpu()))

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
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)

    def _take(self) -> list[_Wire]:
        """Take up to 50 wire commands' worth of parts whose methods are not held.

        Parts whose caller is gone (cancelled) are dropped here: they never leave.
        """
        throttle = self._engine.throttle
        wires: list[_Wire] = []
        merging: dict[tuple[str, Hashable], _Wire] = {}
        room: dict[str, int | None] = {}  # commands each method's operating budget still admits
        kept: list[_Part] = []  # held parts, put back in front in their order
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
                wire = _Wire(part.method, {}, [part], list(part.items))
                merging[(part.method, part.key)] = wire
            else:
                wire = _Wire(part.method, part.params, [part])
            wires.append(wire)
            if left is not None:
                room[part.method] = left - 1
        self._queue.extendleft(reversed(kept))
        for wire in wires:
            wire.finish()
        return wires

    def _dropped(self, call: _Call) -> None:
        if not call.dropped:
            call.dropped = True
            self._engine.counters.dropped_calls += 1

    # -- sending -----------------------------------------------------------------------------

    async def _send(self, wires: list[_Wire], reading: Reading | None = None) -> None:
        """Send ``wires`` as one request and settle their callers (``reading``: a planned
        read's measurement, told about each command)."""
        engine = self._engine
        # The sender is an operation of the client's lifecycle: close() sees what it has on
        # the wire, and cancels it at the grace deadline (or at once if it has nothing there).
        operation = Operation(self._lifecycle, asyncio.current_task())
        # The request goes on with the most-tried part's count; each part is charged with the
        # failures of this request (see _failed).
        tries = Tries(max(part.failures for wire in wires for part in wire.parts))
        delivery = _Delivery(self, wires, reading)
        try:
            with operation:
                if len(wires) == 1:  # a lone call goes as a plain call: no batch envelope
                    wire = wires[0]
                    outcome = await send_alone(engine, "0", wire.method, wire.params, tries=tries)
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
                    self._fail(part, _closed_error(part, sent=exc.sent))
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
                    self._fail(part, _closed_error(part, sent=operation.may_have_applied))
            raise
        except Exception as exc:  # e.g. raised by on_token_refresh: it belongs to the callers
            delivery.fail()
            delivered = [self._fail(part, exc) for wire in wires for part in wire.parts]
            if not any(delivered):  # nobody is waiting any more: say it once, never orphan it
                text = self._engine.credentials.redact(f"{type(exc).__name__}: {exc}")
                logger.warning("a coalesced request failed with no caller left: %s", text)
            return
        blocked: list[str] = []  # the method of each blocked command
        typed = any(part.call.parse is not None for wire in wires for part in wire.parts)
        # Typed calls are parsed right here: many small models from one decoded answer.
        with jsonio.gc_paused() if typed else contextlib.nullcontext():
            self._settle(wires, outcome, blocked, delivery.delivered, reading)
        if blocked:
            hold_blocked(engine, blocked)
            self._changed.set()
        if delivery.interrupted is not None:
            raise delivery.interrupted  # cancelled from outside while delivering: now

    def _settle(
        self,
        wires: list[_Wire],
        outcome: ChunkOutcome,
        blocked: list[str],
        delivered: Container[int] = (),
        reading: Reading | None = None,
    ) -> None:
        """Deliver each wire's answer or error to its parts; collect blocked methods.

        Wires in ``delivered`` got their answer while it was read (:class:`_Delivery`);
        ``reading`` (a planned read's measurement) hears of every other wire.
        """
        engine = self._engine
        for i, wire in enumerate(wires):
            if i in delivered:
                continue
            name = str(i)
            if name in outcome.responses:
                response = outcome.responses[name]
                parts = self._deliver_parsed(wire, response) if len(wire.parts) > 1 else wire.parts
                for part in parts:
                    self._deliver(part, response)
                self._measured(reading, response)
            else:
                if reading is not None:
                    reading.failed = True
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
                    self._fail(part, error or unmentioned(wire.method))

    @staticmethod
    def _deliver_parsed(wire: _Wire, response: Response) -> list[_Part]:
        """Resolve a merged command's one-part typed calls from one parse of its answer.

        Only calls that came by the shortcut (:meth:`enqueue_shortcut`) qualify: their rule
        vouches that its slice of the parsed command is what their own parse would give. The
        parts left over (other calls, or all of them if the rule would not or could not parse
        the answer at once) are returned, to be delivered one by one.
        """
        rule = wire.parts[0].call.rule
        if wire.items is None or rule is None:
            return wire.parts
        parsed: Any = None
        rest: list[_Part] = []
        for part in wire.parts:
            call = part.call
            if call.future.done():
                continue  # the caller is gone (cancelled): the result is discarded
            if not call.shortcut or part.items is None or len(part.items) != call.items_total:
                # not by the shortcut, or one part of a call split over several commands
                rest.append(part)
                continue
            if parsed is None:
                try:
                    parsed = rule.parse_command(response.result)
                except Exception:  # malformed: each caller parses its own slice (own error)
                    parsed = _UNPARSED
                if parsed is None:
                    parsed = _UNPARSED
            if parsed is _UNPARSED:
                rest.append(part)
                continue
            _resolve_picked(call, rule.pick_parsed(parsed, part.items))
        return rest

    def _failed(self, wires: list[_Wire], exc: B24Error, tries: Tries) -> None:
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
                    self._fail(part, exc)
        self._changed.set()

    def _requeue(self, parts: list[_Part]) -> None:
        if self._closed:
            for part in parts:
                self._fail(part, _closed_error(part, sent=False))
            return
        self._queue.extendleft(reversed(parts))
        self._ensure_dispatcher()

    def _ready(self, part: _Part, response: Response) -> _Ready:
        """What ``part`` keeps of ``response``: its typed value, typed part or raw entries.

        A pure conversion (no state changes), run as the answer is read, so that a typed
        call's share of a large answer is typed before the next command is decoded.
        """
        call = part.call
        if part.items is None or call.rule is None:
            if call.parse is None:
                return _Ready("response", response)
            return _parsed(call.parse, response.result)
        picked = call.rule.pick(response.result, part.items)
        if call.parse is None:
            return _Ready("picked", picked)
        if call.items_total <= self.items_per_command:  # the call's only part
            return _parsed(call.parse, call.rule.join(picked))
        if not call.rule.typed_parts:
            return _Ready("picked", picked)
        try:
            return _Ready("part", call.rule.parse_part(picked), len(picked))
        except Exception as exc:  # a malformed answer fails this caller only
            return _Ready("part", _Failed(exc), len(picked))

    def _deliver(self, part: _Part, response: Response, ready: _Ready | None = None) -> None:
        """Hand ``part`` its share of ``response`` (or ``ready``, made from it beforehand)."""
        call = part.call
        if call.future.done():
            return  # the caller is gone (cancelled): the result is discarded
        if ready is None:
            ready = self._ready(part, response)
        if ready.kind == "response":
            call.future.set_result(ready.value)
            return
        if ready.kind == "value" and (part.items is None or call.rule is None):
            call.settle(ready)
            return
        assert call.rule is not None
        if ready.kind == "part":
            if call.typed is None:
                call.typed = []
            call.typed.append(ready.value)
            call.picked += ready.count
            if isinstance(ready.value, _Failed) and call.error is None:
                call.error = ready.value.error
        elif ready.kind == "picked":
            call.merged.update(ready.value)
        call.last_time = response.time
        call.remaining -= 1
        if call.progress is not None:
            done = call.items_total if call.remaining == 0 else len(call.merged) + call.picked
            call.progress(done, call.items_total)
        if call.remaining:
            return
        if ready.kind == "value":  # the call's only part, parsed already
            call.settle(ready)
        elif call.typed or call.error is not None:
            parts, call.typed = call.typed or [], None
            if call.error is not None:
                call.future.set_exception(call.error)
            else:
                assert call.parse is not None  # typed parts are made for typed calls only
                try:
                    call.future.set_result(call.rule.join_parsed(call.parse, parts))
                except Exception as exc:  # a malformed answer fails this caller only
                    call.future.set_exception(exc)
        else:
            joined = call.rule.join(call.merged)
            call.merged = {}  # the answer's entries now belong to the result alone
            call.resolve(Response(part.method, joined, call.last_time))

    @staticmethod
    def _fail(part: _Part, exc: BaseException) -> bool:
        """Fail the part's call with ``exc``; False if the call already had its outcome."""
        if part.call.future.done():
            return False
        part.call.future.set_exception(exc)
        return True


class _Delivery:
    """Hands each command's answer to its callers while a batch answer is read.

    ``take`` delivers a wire's answer as soon as its command is decoded (so a typed caller
    holds its typed value, not the decoded JSON, and can run and drop it while the rest is
    read: ``pause`` lets other tasks run). Errors, unmentioned and blocked commands are
    settled after the whole answer, as before. Each wire is delivered once: a repeat (an
    answer decoded again) is ignored, and a request failing later leaves delivered wires alone.
    """

    def __init__(
        self, coalescer: Coalescer, wires: list[_Wire], reading: Reading | None = None
    ) -> None:
        self._coalescer = coalescer
        self._wires = wires
        self._reading = reading
        self.delivered: set[int] = set()
        self.interrupted: asyncio.CancelledError | None = None
        self._quiet = False

    def take(self, command: Command, response: Response) -> Response:
        """Deliver ``response`` to the parts of the command's wire; keep only its time block."""
        i = int(command.name)
        if i not in self.delivered:
            self.delivered.add(i)
            wire = self._wires[i]
            parts = wire.parts
            if len(parts) > 1:  # the shortcut's callers share one parse of the answer
                parts = self._coalescer._deliver_parsed(wire, response)
            for part in parts:
                self._coalescer._deliver(part, response)
            self._coalescer._measured(self._reading, response)
            # The callers hold their results now: once they have run, nothing here keeps
            # them (or their futures) alive while the rest of the answer is read.
            wire.parts = [part for part in wire.parts if not part.call.future.done()]
        return Response(response.method, None, response.time, response.total, response.next)

    def reads_text(self) -> bool:
        """Whether a wire's rule may read its command's JSON text (:meth:`take_text`)."""
        return any(
            wire.items is not None and rule is not None and rule.reads_text()
            for wire in self._wires
            for rule in (wire.parts[0].call.rule if wire.parts else None,)
        )

    def take_text(self, command: Command, text: str, response: Response) -> Response | None:
        """:meth:`take` from the command's JSON text, read by its rule; ``None`` to decline.

        Taken when every caller still waiting is a typed call the rule's parse serves
        (:meth:`MergeRule.parse_command_text`): one by the shortcut that this command answers
        whole, or one part of a typed call split over commands (``typed_parts``); and the rule
        reads the text. Otherwise nothing is delivered and the text is decoded for :meth:`take`.
        """
        i = int(command.name)
        if i in self.delivered:
            return response  # a repeat (an answer decoded again): ignored
        wire = self._wires[i]
        rule = wire.parts[0].call.rule if wire.parts else None
        if wire.items is None or rule is None:
            return None
        coalescer = self._coalescer
        whole: list[_Part] = []
        split: list[_Part] = []
        for part in wire.parts:
            call = part.call
            if call.future.done():
                continue
            if part.items is None or call.parse is None:
                return None
            if call.shortcut and len(part.items) == call.items_total:
                whole.append(part)
            elif rule.typed_parts and call.items_total > coalescer.items_per_command:
                split.append(part)
            else:
                return None
        parsed = rule.parse_command_text(text)
        if parsed is None:
            return None
        self.delivered.add(i)
        for part in whole:
            assert part.items is not None
            _resolve_picked(part.call, rule.pick_parsed(parsed, part.items))
        for part in split:
            assert part.items is not None
            value, count = rule.pick_part_parsed(parsed, part.items)
            coalescer._deliver(part, response, _Ready("part", value, count))
        wire.parts = [part for part in wire.parts if not part.call.future.done()]
        return response

    async def pause(self) -> None:
        """Let other tasks run. The answer is in hand: a cancellation waits until it is
        delivered (close() cancels senders with nothing on the wire at once; their callers
        still get what arrived)."""
        if self._quiet or self.interrupted is not None:
            return  # after a cancellation the rest is delivered at once
        try:
            await asyncio.sleep(0)
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            operation = current_operation()
            if operation is not None and operation.closed_by_client:
                # close()'s cancellation: as if it came after the delivery, which ends
                # the operation anyway.
                if task is not None and sys.version_info >= (3, 11):
                    task.uncancel()
                self._quiet = True
                return
            self.interrupted = exc

    def fail(self) -> None:
        """The request failed: its planned read's measurement would mislead."""
        if self._reading is not None:
            self._reading.failed = True

    def undelivered(self) -> list[_Wire]:
        """The wires still waiting for an outcome."""
        return [w for i, w in enumerate(self._wires) if i not in self.delivered]


def _resolve_picked(call: _Call, value: Any) -> None:
    """Complete a shortcut call with its slice of its command's one parse."""
    call.remaining = 0
    if call.progress is not None:
        call.progress(call.items_total, call.items_total)
    call.future.set_result(value)


@attrs.frozen
class _Spread:
    """A planned read: its requests' wires, smallest first, and its measurement."""

    groups: list[list[_Wire]]
    reading: Reading


def _room(throttle: object) -> float | None:
    """Requests the throttle would let go at once (``None``: a policy that cannot tell)."""
    room = getattr(throttle, "room", None)  # optional beyond ThrottlePolicy
    return float(room()) if callable(room) else None


def _closed_error(part: _Part, *, sent: bool) -> ClientClosed:
    return ClientClosed.cut_short(sent or part.maybe_sent, part.method)
