"""The coalescer's fan-out: a command's answer (or error) to each call it serves.

The coalescer (:mod:`b24async.coalesce`) packs queued calls into wire commands: a
:class:`Call` is one caller's call, split into :class:`Part` s (one per command it needs; a
merged call's items may share a :class:`Wire` command with other calls). When a command's
answer is in, each part gets its share (:func:`deliver`): its Response, its typed value, or its
items, joined into the call's result with its last part. :class:`Delivery` does this while a
batch answer is read, one command at a time. No I/O here beyond yielding to other tasks.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Hashable
from typing import Any

import attrs

from b24async.batch import Command
from b24async.lifecycle import current_operation
from b24async.methods.merging import MergeRule
from b24async.protocol import Response, Timing
from b24async.spreading import Reading

__all__ = ["Call", "Delivery", "Part", "Wire", "deliver", "deliver_parsed", "fail"]

_UNPARSED = object()  # a command's answer its rule would not or could not parse at once


@attrs.define(eq=False)
class Call:
    """One queued call: its future, and what it gathered of its parts so far.

    Thousands wait at once in a fan-in: a slotted object, its gathering state ``None`` until a
    part arrives (the README states the bytes per waiting call).
    """

    future: asyncio.Future[Any]  # a Response, or the parsed result of a typed call
    remaining: int  # parts not answered yet
    rule: MergeRule | None = None  # merged calls: how to pick and join their items' results
    # Merged calls: raw results so far. None until the first (no dict per waiting call).
    merged: dict[str, Any] | None = None
    last_time: Timing | None = None
    progress: Callable[[int, int], None] | None = None
    items_total: int = 0
    dropped: bool = False  # counted once in ``dropped_calls``
    parser: Callable[[Any], Any] | None = None  # typed calls the general way: result -> typed
    # Queued by ``Coalescer.enqueue_shortcut``: its typed request (its rule may parse for it,
    # else its ``parse`` does). Kept instead of a bound ``parse``: one object less per call.
    request: Any = None
    # Typed merged calls: parsed parts so far. None until the first (a list per waiting call
    # would be one more object for the cyclic GC to walk, thousands of times in a fan-in).
    typed: list[Any] | None = None
    picked: int = 0  # typed merged calls: entries picked so far (for ``progress``)
    error: Exception | None = None  # typed merged calls: a part's parser error

    @property
    def parse(self) -> Callable[[Any], Any] | None:
        """How the call's result is typed; ``None`` for an untyped call (a Response)."""
        if self.request is not None:
            parse: Callable[[Any], Any] = self.request.parse
            return parse
        return self.parser

    @property
    def shortcut(self) -> bool:
        """Queued by ``Coalescer.enqueue_shortcut``: its rule may parse for it."""
        return self.request is not None

    def resolve(self, response: Response) -> None:
        """Complete the call: its Response, or its typed result (or the parser's error)."""
        parse = self.parse
        if parse is None:
            self.future.set_result(response)
            return
        self.settle(_parsed(parse, response.result))

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
    """One part's share of an answer, made ready as the answer is read (see Delivery.take).

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
class Part:
    """A call's share of one wire command: its items (merged calls), its tries so far."""

    call: Call
    method: str
    params: dict[str, Any]
    key: Hashable = None  # merged parts: the rule's group key
    items: tuple[Hashable, ...] | None = None  # merged parts: this part's items
    failures: int = 0  # ambiguous failures so far (the retry policy's ``attempts`` bounds them)
    limit_hits: int = 0  # times held back after OPERATION_TIME_LIMIT inside a batch
    maybe_sent: bool = False  # an earlier attempt may have been executed


@attrs.define(eq=False)
class Wire:
    """One command on the wire, serving one or more parts."""

    method: str
    params: dict[str, Any]
    parts: list[Part]
    items: list[Hashable] | None = None  # merged wires: the items of all their parts

    def finish(self) -> None:
        """Build a merged wire's params from the items its parts brought."""
        part = self.parts[0]
        if self.items is not None and part.call.rule is not None:
            self.params = part.call.rule.params(part.key, self.items)


def deliver_parsed(wire: Wire, response: Response) -> list[Part]:
    """Resolve a merged command's one-part typed calls from one parse of its answer.

    Only calls that came by the shortcut (``Coalescer.enqueue_shortcut``) qualify: their rule
    vouches that its slice of the parsed command is what their own parse would give. The
    parts left over (other calls, or all of them if the rule would not or could not parse
    the answer at once) are returned, to be delivered one by one.
    """
    rule = wire.parts[0].call.rule
    if wire.items is None or rule is None:
        return wire.parts
    parsed: Any = None
    rest: list[Part] = []
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


def _ready(part: Part, response: Response, items_per_command: int) -> _Ready:
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
    if call.items_total <= items_per_command:  # the call's only part
        return _parsed(call.parse, call.rule.join(picked))
    if not call.rule.typed_parts:
        return _Ready("picked", picked)
    try:
        return _Ready("part", call.rule.parse_part(picked), len(picked))
    except Exception as exc:  # a malformed answer fails this caller only
        return _Ready("part", _Failed(exc), len(picked))


def deliver(
    part: Part, response: Response, items_per_command: int, ready: _Ready | None = None
) -> None:
    """Hand ``part`` its share of ``response`` (or ``ready``, made from it beforehand)."""
    call = part.call
    if call.future.done():
        return  # the caller is gone (cancelled): the result is discarded
    if ready is None:
        ready = _ready(part, response, items_per_command)
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
        if call.merged is None:
            call.merged = {}
        call.merged.update(ready.value)
    call.last_time = response.time
    call.remaining -= 1
    if call.progress is not None:
        done = call.items_total if call.remaining == 0 else len(call.merged or ()) + call.picked
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
        joined = call.rule.join(call.merged or {})
        call.merged = None  # the answer's entries now belong to the result alone
        call.resolve(Response(part.method, joined, call.last_time))


def fail(part: Part, exc: BaseException) -> bool:
    """Fail the part's call with ``exc``; False if the call already had its outcome."""
    if part.call.future.done():
        return False
    part.call.future.set_exception(exc)
    return True


class Delivery:
    """Hands each command's answer to its callers while a batch answer is read.

    ``take`` delivers a wire's answer as soon as its command is decoded (so a typed caller
    holds its typed value, not the decoded JSON, and can run and drop it while the rest is
    read: ``pause`` lets other tasks run). Errors, unmentioned and blocked commands are
    settled after the whole answer, as before. Each wire is delivered once: a repeat (an
    answer decoded again) is ignored, and a request failing later leaves delivered wires alone.
    """

    def __init__(
        self,
        wires: list[Wire],
        items_per_command: int,
        reading: Reading | None = None,
        on_delivered: Callable[[Reading, Response], None] | None = None,
    ) -> None:
        self._wires = wires
        self._items_per_command = items_per_command
        self._reading = reading
        self._on_delivered = on_delivered
        self.delivered: set[int] = set()
        self.interrupted: asyncio.CancelledError | None = None
        self._quiet = False

    def take(self, command: Command, response: Response) -> Response:
        """Deliver ``response`` to the parts of the command's wire; keep only its time block."""
        self.deliver_wire(int(command.name), response)
        return Response(response.method, None, response.time, response.total, response.next)

    def deliver_wire(self, i: int, response: Response) -> None:
        """Deliver wire ``i``'s answer to its parts, unless it was delivered already."""
        if i in self.delivered:
            return
        self.delivered.add(i)
        wire = self._wires[i]
        parts = wire.parts
        if len(parts) > 1:  # the shortcut's callers share one parse of the answer
            parts = deliver_parsed(wire, response)
        for part in parts:
            deliver(part, response, self._items_per_command)
        self._delivered(wire, response)

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
        whole: list[Part] = []
        split: list[Part] = []
        for part in wire.parts:
            call = part.call
            if call.future.done():
                continue
            if part.items is None or call.parse is None:
                return None
            if call.shortcut and len(part.items) == call.items_total:
                whole.append(part)
            elif rule.typed_parts and call.items_total > self._items_per_command:
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
            deliver(part, response, self._items_per_command, _Ready("part", value, count))
        self._delivered(wire, response)
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

    def _delivered(self, wire: Wire, response: Response) -> None:
        if self._reading is not None and self._on_delivered is not None:
            self._on_delivered(self._reading, response)
        # The callers hold their results now: once they have run, nothing here keeps
        # them (or their futures) alive while the rest of the answer is read.
        wire.parts = [part for part in wire.parts if not part.call.future.done()]

    def fail(self) -> None:
        """The request, or one of its commands, failed: its planned read's measurement would
        mislead."""
        if self._reading is not None:
            self._reading.failed = True

    def undelivered(self) -> list[Wire]:
        """The wires still waiting for an outcome."""
        return [w for i, w in enumerate(self._wires) if i not in self.delivered]


def _resolve_picked(call: Call, value: Any) -> None:
    """Complete a shortcut call with its slice of its command's one parse."""
    call.remaining = 0
    if call.progress is not None:
        call.progress(call.items_total, call.items_total)
    call.future.set_result(value)
