"""Reading whole lists: :meth:`~b24async.Bitrix24.paginate` and :meth:`~b24async.Bitrix24.list_all`.

Both resolve the request the same way (a method name and params, or a typed list request whose
rows are parsed), refuse on a closed client, and walk the pages with :mod:`b24async.paging`:
``paginate`` row by row (each step an operation that ``close()`` may end, memory bounded by
``prefetch``), ``list_all`` page by page as one operation, keeping every row. A failed page or
a close mid-read raises with where the read stopped (``list_all``: and the rows read so far).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, overload

from b24async import jsonio
from b24async.batch import ProgressCallback
from b24async.client_calls import Calls
from b24async.engine import Engine
from b24async.errors import ClientClosed
from b24async.paging import CallFn, PageError, ReadPosition, paginate_pages, paginate_raw
from b24async.protocol import encode_params, normalize_method

__all__ = ["ListReads"]

T = TypeVar("T")

if TYPE_CHECKING:  # (a Protocol class costs import time: only the type checker needs _Walk)
    from b24async.methods.base import ListMethod

    W = TypeVar("W", covariant=True)

    class _Walk(Protocol[W]):
        """:func:`~b24async.paging.paginate_raw` or :func:`~b24async.paging.paginate_pages`."""

        def __call__(
            self,
            engine: Engine,
            call: CallFn,
            method: str,
            params: dict[str, Any],
            *,
            keyset: bool,
            prefetch: int | None,
            progress: ProgressCallback | None,
            position: ReadPosition | None,
        ) -> W: ...


class _Read:
    """One read of a list method, resolved: what it sends, how rows are parsed, where it is."""

    __slots__ = ("encoded", "name", "parse", "position")

    def __init__(
        self, name: str, encoded: dict[str, Any], parse: Callable[[Any], Any] | None
    ) -> None:
        self.name = name
        self.encoded = encoded
        self.parse = parse
        self.position = ReadPosition()


class ListReads(Calls):
    """The list reads of :class:`~b24async.Bitrix24` (a base class of it, not used alone)."""

    def _read(self, method: str | ListMethod[Any], params: Mapping[str, Any] | None) -> _Read:
        """Resolve a list read's request, then check the client is open (before any request)."""
        if isinstance(method, str):
            read = _Read(normalize_method(method), encode_params(params), None)
        elif params is not None:
            raise TypeError("params come from the typed request; do not pass them too")
        else:
            read = _Read(method.api_method, encode_params(method.to_params()), method.parse_item)
        self._check_open()
        return read

    def _walk(
        self,
        read: _Read,
        walk: _Walk[W],
        *,
        keyset: bool,
        prefetch: int | None,
        progress: ProgressCallback | None,
    ) -> W:
        """Start ``walk`` over ``read``'s pages through this client (its first page a call)."""
        return walk(
            self._engine,
            self._call_encoded,
            read.name,
            read.encoded,
            keyset=keyset,
            prefetch=prefetch,
            progress=progress,
            position=read.position,
        )

    @overload
    def paginate(
        self,
        method: ListMethod[T],
        params: None = None,
        *,
        keyset: bool = False,
        prefetch: int | None = 4,
        progress: ProgressCallback | None = None,
    ) -> AsyncGenerator[T, None]: ...

    @overload
    def paginate(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        keyset: bool = False,
        prefetch: int | None = 4,
        progress: ProgressCallback | None = None,
    ) -> AsyncGenerator[Any, None]: ...

    async def paginate(
        self,
        method: str | ListMethod[Any],
        params: Mapping[str, Any] | None = None,
        *,
        keyset: bool = False,
        prefetch: int | None = 4,
        progress: ProgressCallback | None = None,
    ) -> AsyncGenerator[Any, None]:
        """Stream every row of a list method, fetching many pages per request.

        Memory stays bounded by ``prefetch`` batch requests of rows (2,500 rows each; ``None``
        for no bound, the fastest read), whatever the list's size. ``keyset=True`` walks by
        ``ID`` with ``start=-1`` (no row counting on the portal: the fast way through huge
        lists; needs a method that filters and sorts by ID).
        A typed list request (e.g. ``GetUsers``) yields typed rows.

        A page that fails after the retry policy is never skipped: the rows before it are
        yielded, then :class:`~b24async.paging.PageError` names the page (``start``, or the
        ``ID`` it follows) and carries its error. Closing the client mid-read raises
        :class:`~b24async.paging.PageClosed`, a :class:`~b24async.ClientClosed` that is also
        a ``PageError`` saying where the read stopped.
        """
        read = self._read(method, params)
        name, parse, position = read.name, read.parse, read.position
        rows = self._walk(read, paginate_raw, keyset=keyset, prefetch=prefetch, progress=progress)
        try:
            while True:
                # Each step is an operation of its own (close() may end it); the caller's
                # code between rows is not.
                try:
                    with self._lifecycle.operation():
                        try:
                            row = await rows.__anext__()
                        except StopAsyncIteration:
                            break
                except ClientClosed as exc:  # say where the read stopped
                    raise position.closed(name, exc) from exc
                yield parse(row) if parse is not None else row
        finally:
            if isinstance(rows, AsyncGenerator):
                await rows.aclose()

    @overload
    async def list_all(
        self,
        method: ListMethod[T],
        params: None = None,
        *,
        keyset: bool = False,
        prefetch: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> list[T]: ...

    @overload
    async def list_all(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        keyset: bool = False,
        prefetch: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> list[Any]: ...

    async def list_all(
        self,
        method: str | ListMethod[Any],
        params: Mapping[str, Any] | None = None,
        *,
        keyset: bool = False,
        prefetch: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> list[Any]:
        """Every row of a list method as one list (see :meth:`paginate`).

        It keeps every row anyway, so by default it sends every page request the throttle
        lets through at once (``prefetch=None``): the fastest way to read a list. A typed list
        request (e.g. ``GetUsers``) gives typed rows. A page that fails raises
        :class:`~b24async.paging.PageError`, a close mid-read
        :class:`~b24async.paging.PageClosed` (a ``ClientClosed`` and a ``PageError``); either
        way the rows read so far are on ``error.rows``.
        """
        read = self._read(method, params)
        name, parse, position = read.name, read.parse, read.position
        rows: list[Any] = []
        # Page by page, as one operation: stepping through the rows one by one (two async
        # generators and a lifecycle operation per row) cost more client CPU than decoding them.
        # Every row is kept: the answers skip the collector's young generations (jsonio.kept).
        try:
            with self._lifecycle.operation(), jsonio.kept():
                pages = self._walk(
                    read, paginate_pages, keyset=keyset, prefetch=prefetch, progress=progress
                )
                try:
                    async for page in pages:
                        if parse is None:
                            rows.extend(page)
                            continue
                        with jsonio.gc_paused() as paused:  # typed rows are kept too: age them
                            rows.extend(map(parse, page))
                            if paused:
                                jsonio.age_if_kept()
                finally:
                    await pages.aclose()
        except ClientClosed as exc:  # say where the read stopped; keep what was read
            error = position.closed(name, exc)
            error.rows = rows
            if error is exc:
                raise
            raise error from exc
        except PageError as exc:
            exc.rows = rows
            raise
        return rows
