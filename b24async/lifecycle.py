"""Shutdown bookkeeping: which operations are running and which of their requests are on the wire.

``Bitrix24.close()`` must refuse new work at once, let requests already on the wire finish
within a grace period, then fail everything still pending with :class:`ClientClosed` that says
truthfully whether the command may have been sent. Three pieces make that possible:

* an :class:`Operation` per public call (``call``, ``batch``, a page of ``paginate``), stored
  in a context variable so every task the operation spawns (batch chunks, prefetched pages)
  reports into it;
* a :class:`GatedTransport` in front of the real transport: it counts requests on the wire
  (globally and per operation) and refuses to send anything once the client is closing, so no
  request leaves and no HTTP session is created after ``close()``;
* a :class:`Lifecycle` that owns the closed flag and, on close, cancels the operations that
  have nothing on the wire (they are waiting for the throttle or a backoff and would otherwise
  sit there for minutes), waits for the wire to drain, and cancels the rest at the deadline.
  The cancelled operation turns its ``CancelledError`` into :class:`ClientClosed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager
from types import TracebackType

from b24async.errors import B24Error, ClientClosed, TransportError
from b24async.protocol import HttpRequest, RawResponse, decode_envelope, error_from_body
from b24async.sending import REDIRECT_STATUSES
from b24async.transport import Transport

__all__ = ["GatedTransport", "Lifecycle", "Operation", "current_operation"]

# Statuses whose answer may prove the portal did not execute the request (an expired or
# invalid token, a full bucket, a blocked method): the error table decides, from the body.
_MAYBE_REFUSED = frozenset({401, 429, 503})


def _not_executed(raw: RawResponse) -> bool:
    """Whether an answer proves that the portal did not execute the request.

    A redirect does; a 401/429/503 does when its body is a Bitrix24 error whose class says so
    (``B24Error.may_have_applied``, the one table in :mod:`b24async.errors`). A proxy's HTML
    503 page, or a 503 with an unknown code, proves nothing: the request may have run.
    """
    if raw.status in REDIRECT_STATUSES:
        return True
    if raw.status not in _MAYBE_REFUSED:
        return False
    try:
        error = error_from_body(decode_envelope(raw, ""), raw.status, "")
    except B24Error:  # not a Bitrix24 envelope
        return False
    return error is not None and not error.may_have_applied


_OPERATION: contextvars.ContextVar[Operation | None] = contextvars.ContextVar(
    "b24async_operation", default=None
)


def current_operation() -> Operation | None:
    """The operation the running code belongs to, if any."""
    return _OPERATION.get()


class Operation:
    """One public call in progress, and what is known about its requests.

    ``on_wire`` counts its HTTP requests in flight; ``sent`` becomes True once any of its
    requests may have been executed by the portal (it left and the answer does not prove
    otherwise). ``delegated`` counts waits on the coalescer, which accounts for those commands
    itself at close.
    """

    def __init__(self, lifecycle: Lifecycle | None, task: asyncio.Task[object] | None) -> None:
        self._lifecycle = lifecycle
        self.task = task
        self.on_wire = 0
        self.sent = False
        self.delegated = 0
        self.closed_by_client = False  # cancelled by close(), not by its caller
        self._token: contextvars.Token[Operation | None] | None = None

    @contextlib.contextmanager
    def delegating(self) -> Iterator[None]:
        """Count a wait on the coalescer, which accounts for its commands at close.

        While it lasts, ``close()`` neither cancels this operation for having nothing on the
        wire itself nor ends its grace period: the coalescer delivers the answer (or fails the
        call) and the caller must resume to take it before the operation may be cut.
        """
        self.delegated += 1
        try:
            yield
        finally:
            self.delegated -= 1
            if self._lifecycle is not None:
                self._lifecycle.wire_changed()  # a waiting close() looks again

    @property
    def may_have_applied(self) -> bool:
        """Whether a request of this operation is on the wire or may have been executed."""
        return self.sent or self.on_wire > 0

    def closed_error(self) -> ClientClosed:
        """The :class:`ClientClosed` this operation ends with."""
        return ClientClosed.cut_short(self.may_have_applied)

    # A plain (sync) context manager: entering and leaving never waits.
    def __enter__(self) -> Operation:
        if self._lifecycle is not None:
            self._lifecycle.check_open()
            self._lifecycle.operations.add(self)
        self._token = _OPERATION.set(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is not None:
            _OPERATION.reset(self._token)
        if self._lifecycle is not None:
            self._lifecycle.operations.discard(self)
        cancelled = exc_type is not None and issubclass(exc_type, asyncio.CancelledError)
        if cancelled and self.closed_by_client:
            if self.task is not None and sys.version_info >= (3, 11):
                self.task.uncancel()  # the cancellation was ours, not the caller's
            raise self.closed_error() from None


class Lifecycle:
    """The client's open/closing/closed state and the operations running under it."""

    def __init__(self) -> None:
        self.closed = False
        self.operations: set[Operation] = set()
        self._wire_changed: asyncio.Event | None = None

    def check_open(self) -> None:
        """Raise :class:`ClientClosed` (nothing sent) once ``close()`` has begun."""
        if self.closed:
            raise ClientClosed("the Bitrix24 client is closed; nothing was sent", sent=False)

    def operation(self) -> AbstractContextManager[Operation]:
        """A context manager for one public call (nested calls join the outer operation)."""
        outer = _OPERATION.get()
        if outer is not None and outer._lifecycle is self:
            self.check_open()
            return contextlib.nullcontext(outer)  # joins: the outer one is accounted for
        return Operation(self, asyncio.current_task())

    def wire_changed(self) -> None:
        """A request left or came back (wakes a waiting ``close()``)."""
        if self._wire_changed is not None:
            self._wire_changed.set()

    async def drain(self, gate: GatedTransport, timeout: float) -> None:
        """After ``closed`` is set: end every operation within ``timeout`` seconds.

        Operations with nothing on the wire are cancelled at once; the others get until the
        deadline for their requests to come back, then they are cancelled too.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(timeout, 0.0)
        self._wire_changed = asyncio.Event()
        while True:
            self._wire_changed.clear()
            for op in list(self.operations):
                if op.on_wire == 0 and op.delegated == 0:
                    self._cancel(op)
            if gate.in_flight == 0 and not self._waiting_operations():
                break
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                await asyncio.wait_for(self._wire_changed.wait(), remaining)
            except asyncio.TimeoutError:
                break
        self.abort()
        # Let the cancelled operations unwind (close their responses) before the session goes.
        for _ in range(3):
            await asyncio.sleep(0)

    def abort(self) -> None:
        """Cancel every operation still running (they end with :class:`ClientClosed`)."""
        for op in list(self.operations):
            self._cancel(op)

    def _waiting_operations(self) -> bool:
        # A delegated wait ends when the coalescer delivers or fails its call: the callers of
        # an answer that came back are let resume before anything is cut (see delegating()).
        return any(op.on_wire > 0 or op.delegated > 0 for op in self.operations)

    @staticmethod
    def _cancel(op: Operation) -> None:
        if op.task is not None and not op.task.done() and not op.closed_by_client:
            op.closed_by_client = True
            op.task.cancel()


class GatedTransport:
    """A :class:`Transport` wrapper that counts requests on the wire and shuts at close."""

    def __init__(self, inner: Transport, lifecycle: Lifecycle) -> None:
        self.inner = inner
        self._lifecycle = lifecycle
        self.in_flight = 0

    async def send(self, request: HttpRequest) -> RawResponse:
        """Send through the wrapped transport unless the client is closing."""
        op = _OPERATION.get()
        if self._lifecycle.closed:
            raise op.closed_error() if op is not None else ClientClosed(sent=False)
        self.in_flight += 1
        if op is not None:
            op.on_wire += 1
        try:
            raw = await self.inner.send(request)
        except TransportError as exc:
            if op is not None and exc.sent:
                op.sent = True
            raise
        except BaseException:
            if op is not None:
                op.sent = True  # cancelled or failed mid-request: it may have arrived
            raise
        else:
            if op is not None and not op.sent and not _not_executed(raw):
                op.sent = True
            return raw
        finally:
            self.in_flight -= 1
            if op is not None:
                op.on_wire -= 1
            self._lifecycle.wire_changed()

    async def close(self) -> None:
        """Close the wrapped transport."""
        await self.inner.close()
