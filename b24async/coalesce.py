"""Automatic coalescing: concurrent ``call()``s travel together in ``batch`` requests.

A dispatcher waits until the throttle would let a request go; whatever calls queued up meanwhile
(up to 50 wire commands) leave in that request. On an idle client the first call finds a free
slot at once and goes alone, as a plain call, with no batching delay. Under load the throttle
withholds slots, the queue grows, and every request carries a full batch.

Availability queries (``calendar.accessibility.get``, which takes a list of users) for the same
window are merged into multi-user commands, and a query for thousands of users is split into
commands of ``users_per_command``; each caller gets exactly its own users back.

Each caller gets its own result or its own exception, as if it had called alone: per-command
errors keep their class; commands blocked by their operating budget are held and re-sent;
after an ambiguous failure only reads and idempotent writes are re-sent.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from b24async.batch import NOT_BATCHABLE, ChunkOutcome, Command, send_chunk
from b24async.engine import Engine
from b24async.errors import ApiError, B24Error, OperationTimeLimit, TransportError
from b24async.protocol import RawResponse, Response, Timing, decode_response

__all__ = ["ACCESSIBILITY", "Coalescer", "survives_query_encoding"]

logger = logging.getLogger("b24async")

ACCESSIBILITY = "calendar.accessibility.get"
_MAX_WIRE = 50


def survives_query_encoding(value: Any) -> bool:
    """Whether ``value`` means the same in a ``batch`` query string as in a JSON body.

    PHP's query format has no null, no empty array and no typed scalars beyond strings; a call
    whose params need those is sent alone rather than changed in flight.
    """
    if value is None:
        return False
    if isinstance(value, Mapping):
        return bool(value) and all(survives_query_encoding(v) for v in value.values())
    if isinstance(value, list):
        return bool(value) and all(survives_query_encoding(v) for v in value)
    return isinstance(value, (str, int, float, bool))


@attrs.define(eq=False)
class _Call:
    method: str
    future: asyncio.Future[Response]
    remaining: int  # parts not answered yet
    merged: dict[str, Any] | None = None  # availability: the caller's users' results so far
    last_time: Timing | None = None
    progress: Callable[[int, int], None] | None = None
    users_total: int = 0


@attrs.define(eq=False)
class _Part:
    call: _Call
    method: str
    params: dict[str, Any]
    users: tuple[int, ...] | None = None  # availability parts only
    attempts: int = 0


@attrs.define(eq=False)
class _Wire:
    """One command on the wire, serving one or more parts."""

    method: str
    params: dict[str, Any]
    parts: list[_Part]


def _availability_key(params: Mapping[str, Any]) -> tuple[str, str] | None:
    users, start, end = params.get("users"), params.get("from"), params.get("to")
    if (
        not isinstance(users, list)
        or not users
        or not isinstance(start, str)
        or not isinstance(end, str)
    ):
        return None
    if not all(isinstance(u, int) and not isinstance(u, bool) and u > 0 for u in users):
        return None  # odd ids: send as given, let the portal judge
    if set(params) - {"users", "from", "to"}:
        return None
    return start, end


class Coalescer:
    """Packs concurrent calls into batch requests (see module docs)."""

    def __init__(self, engine: Engine, *, users_per_command: int = 50) -> None:
        if users_per_command < 1:
            raise ValueError("users_per_command must be >= 1")
        self._engine = engine
        self.users_per_command = users_per_command
        self._queue: collections.deque[_Part] = collections.deque()
        self._changed = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        self._senders: set[asyncio.Task[None]] = set()

    @staticmethod
    def accepts(method: str, params: Mapping[str, Any]) -> bool:
        """Whether a call can travel inside a batch unchanged."""
        return method not in NOT_BATCHABLE and all(
            survives_query_encoding(v) for v in params.values()
        )

    async def submit(
        self,
        method: str,
        params: dict[str, Any],
        progress: Callable[[int, int], None] | None = None,
    ) -> Response:
        """Queue one call and wait for its own result.

        ``progress(done, total)`` reports users answered so far for availability queries.
        """
        loop = asyncio.get_running_loop()
        key = _availability_key(params) if method == ACCESSIBILITY else None
        if key is not None:
            users = list(dict.fromkeys(params["users"]))  # portal semantics: a user once
            groups = [
                tuple(users[i : i + self.users_per_command])
                for i in range(0, len(users), self.users_per_command)
            ]
            call = _Call(
                method,
                loop.create_future(),
                len(groups),
                merged={},
                progress=progress,
                users_total=len(users),
            )
            parts = [_Part(call, method, {"from": key[0], "to": key[1]}, g) for g in groups]
        else:
            call = _Call(method, loop.create_future(), 1)
            parts = [_Part(call, method, params)]
        self._queue.extend(parts)
        self._changed.set()
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.create_task(self._dispatch())
        return await call.future

    async def close(self) -> None:
        """Stop dispatching; fail anything still queued."""
        if self._dispatcher is not None:
            self._dispatcher.cancel()
        for task in list(self._senders):
            task.cancel()
        while self._queue:
            part = self._queue.popleft()
            if not part.call.future.done():
                part.call.future.set_exception(RuntimeError("the Bitrix24 client was closed"))

    # -- dispatching -------------------------------------------------------------------------

    async def _dispatch(self) -> None:
        throttle = self._engine.throttle
        while self._queue:
            await throttle.wait_ready()
            wires = self._take()
            if not wires:
                await self._sleep_until_release()
                continue
            task = asyncio.create_task(self._send(wires))
            self._senders.add(task)
            task.add_done_callback(self._senders.discard)
            await asyncio.sleep(0)  # let the sender take its slot before we look again

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
        """Take up to 50 wire commands' worth of parts whose methods are not held."""
        throttle = self._engine.throttle
        wires: list[_Wire] = []
        merging: dict[tuple[str, str], _Wire] = {}
        room: dict[str, int | None] = {}  # commands each method's operating budget still admits
        kept: collections.deque[_Part] = collections.deque()
        while self._queue:
            part = self._queue.popleft()
            if part.method not in room:
                room[part.method] = throttle.admissible(part.method)
            if part.users is not None:
                wire = merging.get((part.params["from"], part.params["to"]))
                if (
                    wire is not None
                    and len(wire.params["users"]) + len(part.users) <= self.users_per_command
                ):
                    wire.params["users"].extend(part.users)  # rides in a command already taken
                    wire.parts.append(part)
                    continue
            left = room[part.method]
            if left is not None and left <= 0:
                kept.append(part)  # held: wait in the queue, never inside another's batch
                continue
            if len(wires) >= _MAX_WIRE:
                kept.append(part)
                kept.extend(self._queue)
                self._queue.clear()
                break
            if part.users is not None:
                wire = _Wire(part.method, {**part.params, "users": list(part.users)}, [part])
                merging[(part.params["from"], part.params["to"])] = wire
            else:
                wire = _Wire(part.method, part.params, [part])
            wires.append(wire)
            if left is not None:
                room[part.method] = left - 1
        self._queue = kept
        return wires

    # -- sending -----------------------------------------------------------------------------

    async def _send(self, wires: list[_Wire]) -> None:
        engine = self._engine
        try:
            if len(wires) == 1:
                outcome = await self._send_alone(wires[0])
            else:
                commands = [Command(str(i), w.method, w.params) for i, w in enumerate(wires)]
                engine.counters.coalesced_calls += sum(len(w.parts) for w in wires)
                outcome = await send_chunk(engine, commands, halt=False)
        except B24Error as exc:
            self._failed(wires, exc)
            return
        except Exception as exc:  # never leave a caller waiting forever
            for wire in wires:
                for part in wire.parts:
                    self._fail(part, exc)
            raise
        blocked: set[str] = set()
        for i, wire in enumerate(wires):
            name = str(i)
            if name in outcome.responses:
                for part in wire.parts:
                    self._deliver(part, outcome.responses[name])
            else:
                error = outcome.errors.get(name)
                # A blocked command inside a batch did not run: hold and re-send it. A lone
                # call's OPERATION_TIME_LIMIT is final: the engine already spent its retries.
                if (
                    len(wires) > 1
                    and isinstance(error, OperationTimeLimit)
                    and wire.parts[0].attempts + 1 < engine.retry.limit_attempts
                ):
                    blocked.add(wire.method)
                    self._requeue(wire.parts)
                    continue
                for part in wire.parts:
                    self._fail(
                        part,
                        error
                        or ApiError("", "command did not run", status=200, method=wire.method),
                    )
        if blocked:
            engine.counters.operation_limit_hits += len(blocked)
            for method in blocked:
                engine.throttle.on_operation_limit(method)
            self._changed.set()

    async def _send_alone(self, wire: _Wire) -> ChunkOutcome:
        """A lone command goes as a plain call: no batch envelope, no batching delay."""
        method = wire.method

        def decode(raw: RawResponse) -> tuple[Response, Sequence[tuple[str, Timing | None]]]:
            response = decode_response(raw, method)
            return response, ((method, response.time),)

        try:
            response = await self._engine.send(
                method,
                wire.params,
                commands=(method,),
                idempotent=self._engine.retry.idempotent(method),
                decode=decode,
            )
        except ApiError as exc:  # the call's own error (limit retries already spent)
            return ChunkOutcome({}, {"0": exc}, ())
        return ChunkOutcome({"0": response}, {}, ())

    def _failed(self, wires: list[_Wire], exc: B24Error) -> None:
        """The request as a whole failed: re-send what may be re-sent, fail the rest."""
        engine = self._engine
        batch_idempotent = all(engine.retry.idempotent(w.method) for w in wires)
        retryable = isinstance(exc, TransportError) or not isinstance(exc, ApiError)
        for wire in wires:
            idempotent = engine.retry.idempotent(wire.method)
            again = (
                retryable
                and not batch_idempotent  # the engine already retried an all-idempotent request
                and idempotent
                and wire.parts[0].attempts + 1 < engine.retry.attempts
            )
            if again:
                self._requeue(wire.parts)
            else:
                for part in wire.parts:
                    self._fail(part, exc)
        self._changed.set()

    def _requeue(self, parts: list[_Part]) -> None:
        for part in parts:
            part.attempts += 1
        self._queue.extendleft(reversed(parts))
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.create_task(self._dispatch())

    def _deliver(self, part: _Part, response: Response) -> None:
        call = part.call
        if call.future.done():
            return
        if part.users is None or call.merged is None:
            call.future.set_result(response)
            return
        result = response.result if isinstance(response.result, Mapping) else {}
        for user in part.users:
            if str(user) in result:
                call.merged[str(user)] = result[str(user)]
        call.last_time = response.time
        call.remaining -= 1
        if call.progress is not None:
            done = call.users_total if call.remaining == 0 else len(call.merged)
            call.progress(done, call.users_total)
        if call.remaining == 0:
            # PHP sends an empty map as []: keep the wire shape a lone call would get.
            merged: Any = call.merged if call.merged else []
            call.future.set_result(Response(part.method, merged, call.last_time))

    @staticmethod
    def _fail(part: _Part, exc: BaseException) -> None:
        if not part.call.future.done():
            part.call.future.set_exception(exc)
