"""How one call reaches the portal: coalesced into a batch, or sent alone; typed requests parsed.

The sending part of :class:`~b24async.Bitrix24` (:meth:`~b24async.Bitrix24.call` and calling
the client with a typed request): a call the coalescer accepts is queued and its caller awaits
the coalescer's future directly; any other call is one request of its own. A typed request is
parsed as its answer arrives (by the coalescer, which then drops the raw answer).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, overload

from b24async.batch import ProgressCallback
from b24async.coalesce import Coalescer
from b24async.engine import Decoded, Engine
from b24async.lifecycle import Lifecycle, current_operation
from b24async.protocol import (
    RawResponse,
    Response,
    decode_response,
    encode_params,
    normalize_method,
)

if TYPE_CHECKING:
    from b24async.methods.base import Method

__all__ = ["Calls"]

T = TypeVar("T")

_METHOD_NAMES: dict[str, str] = {}  # api_method -> normalized (one entry per request class)


def _method_name(api_method: str) -> str:
    """``normalize_method(api_method)``, remembered: typed requests repeat a few names."""
    name = _METHOD_NAMES.get(api_method)
    if name is None:
        name = normalize_method(api_method)
        if len(_METHOD_NAMES) < 1024:
            _METHOD_NAMES[api_method] = name
    return name


class Calls:
    """The calls of :class:`~b24async.Bitrix24` (a base class of it, not used alone)."""

    # Set up by Bitrix24.__init__.
    _engine: Engine
    _lifecycle: Lifecycle
    _coalescer: Coalescer | None

    def _check_open(self) -> None:
        """Refuse when the client is closed (:class:`~b24async.ClientClosed`): Bitrix24's."""
        raise NotImplementedError

    async def call(self, method: str, params: Mapping[str, Any] | None = None) -> Response:
        """Call one REST method and return its :class:`Response`.

        Raises the :class:`~b24async.errors.ApiError` subclass for the server's error code,
        :class:`~b24async.errors.TransportError` when the portal cannot be reached, and
        ``TypeError``/``ValueError`` for bad input before anything is sent.
        """
        name = normalize_method(method)
        encoded = encode_params(params)
        self._check_open()
        return await self._call_encoded(name, encoded)

    async def _call_encoded(self, name: str, encoded: dict[str, Any]) -> Response:
        if self._coalescer is not None and self._coalescer.accepts(name, encoded):
            return await self._submit(name, encoded)
        with self._lifecycle.operation():
            return await self._call_direct(name, encoded)

    @overload
    async def _submit(
        self,
        name: str,
        encoded: dict[str, Any],
        progress: ProgressCallback | None = None,
        *,
        parse: None = None,
    ) -> Response: ...

    @overload
    async def _submit(
        self,
        name: str,
        encoded: dict[str, Any],
        progress: ProgressCallback | None = None,
        *,
        parse: Callable[[Any], T],
    ) -> T: ...

    async def _submit(
        self,
        name: str,
        encoded: dict[str, Any],
        progress: ProgressCallback | None = None,
        *,
        parse: Callable[[Any], Any] | None = None,
    ) -> Any:
        assert self._coalescer is not None
        # The future itself is awaited (no coroutine of the coalescer's in between): thousands
        # of concurrent calls each save two coroutine frames.
        future = self._coalescer.enqueue(name, encoded, progress, parse)
        if current_operation() is None:
            return await future
        return await self._await_delegated(future)

    @staticmethod
    async def _await_delegated(future: asyncio.Future[T]) -> T:
        """Await a coalesced call from inside an operation.

        The coalescer accounts for its commands at close: the enclosing operation (a page of
        ``paginate``) must not be cancelled for having nothing on the wire itself.
        """
        outer = current_operation()
        assert outer is not None
        with outer.delegating():
            return await future

    async def _call_direct(self, name: str, encoded: dict[str, Any]) -> Response:
        def decode(raw: RawResponse) -> Decoded[Response]:
            response = decode_response(raw, name)
            return response, ((name, response.time),)

        return await self._engine.send(
            name,
            encoded,
            commands=(name,),
            idempotent=self._engine.retry.idempotent(name),
            decode=decode,
        )

    async def __call__(self, request: Method[T], *, progress: ProgressCallback | None = None) -> T:
        """Send a typed request (see :mod:`b24async.methods`) and return its typed result.

        ``progress(done, total)`` follows large availability queries (users answered so far).
        """
        name = _method_name(request.api_method)
        coalescer = self._coalescer
        shortcut = coalescer.shortcut(name, request) if coalescer is not None else None
        if shortcut is not None:
            # A mergeable request (a fan-in of availability queries): queued straight from
            # its validated fields, parsed by the coalescer as the answer arrives.
            assert coalescer is not None
            self._check_open()
            future = coalescer.enqueue_shortcut(name, shortcut, request, progress)
            del shortcut  # this frame waits below: thousands of them keep nothing extra alive
            if current_operation() is None:
                result: T = await future
                return result
            return await self._await_delegated(future)
        encoded = encode_params(request.to_params())
        self._check_open()
        if self._coalescer is not None and self._coalescer.accepts(name, encoded):
            # Parsed by the coalescer as the answer arrives (it then drops the raw answer).
            return await self._submit(name, encoded, progress, parse=request.parse)
        with self._lifecycle.operation():
            response = await self._call_direct(name, encoded)
        if progress is not None:
            progress(1, 1)
        return request.parse(response.result)
