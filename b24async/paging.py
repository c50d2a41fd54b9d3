"""Fast list reads: stream every row of a ``*.list``/``*.get`` method, many pages per request.

Two strategies (RU ``settings/performance/huge-data.md``; facts file §5):

* **offset** (default, any list method): the first page tells ``total``; the remaining ``start``
  offsets are fetched 50 pages to a ``batch`` request, a few requests in flight at once.
* **keyset** (``keyset=True``; methods that filter and sort by ``ID``): pages chained inside each
  batch with ``>ID`` = ``$result[previous][49][ID]`` and ``start=-1``, so the portal never counts
  rows: the fast way through millions of rows.

Either way at most ``prefetch`` batch requests of rows are in flight or held at once: memory does
not grow with the list. ``prefetch=None`` (what :meth:`Bitrix24.list_all` uses, since it keeps
every row anyway) sends every batch the throttle lets through: the fastest read.

A page that fails (after the retry policy) is never a silent gap: the rows before it are
yielded in order, then :class:`PageError` is raised naming the page (``start``, or the ``ID``
the keyset page would have followed) and carrying the page's own error. A client closed
mid-read raises :class:`PageClosed`: a :class:`~b24async.ClientClosed` (as every call of a
closed client) that is also a :class:`PageError` saying where the read stopped. Method-specific
keyset shapes come from :mod:`b24async.methods.paging`.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine, Mapping
from typing import Any

from b24async.batch import BatchResult, Command, run_batch
from b24async.batchcodec import page_commands, query_problem
from b24async.engine import Engine
from b24async.errors import B24Error, ClientClosed
from b24async.methods.paging import keyset_params
from b24async.protocol import Response

__all__ = [
    "PAGE_SIZE",
    "PageClosed",
    "PageError",
    "ReadPosition",
    "paginate_pages",
    "paginate_raw",
]

#: The portal's fixed page size.
PAGE_SIZE = 50
_PAGES_PER_REQUEST = 50

CallFn = Callable[[str, dict[str, Any]], Coroutine[Any, Any, Response]]
Progress = Callable[[int, int], None]


def _rows(result: Any, method: str) -> list[Any]:
    if isinstance(result, list):
        return result
    if isinstance(result, Mapping):
        # Some list methods wrap rows: {"items": [...]}, {"tasks": [...]}.
        lists = [v for v in result.values() if isinstance(v, list)]
        if len(lists) == 1:
            return lists[0]
        if not result:
            return []
    raise TypeError(f"{method}: result is not a list of rows; it cannot be paginated")


class PageError(B24Error):
    """A page of a list could not be read; the rows before it were already yielded.

    Attributes:
        method: the list method.
        start: the page's offset (offset paging), or None.
        after: the ``ID`` the page would have followed (keyset paging), or None.
        rows_before: how many rows were yielded before the failed page.
        error: the page's own error (also the ``__cause__``).
        rows: from :meth:`~b24async.Bitrix24.list_all`, the rows read before the failure.

    Resume with the same params and ``>ID`` after the last row you kept, or re-run the read:
    reads are safe to repeat (``may_have_applied`` is False).
    """

    def __init__(
        self,
        method: str,
        error: B24Error,
        *,
        start: int | None = None,
        after: Any = None,
        rows_before: int = 0,
    ) -> None:
        where = f"start={start}" if start is not None else f"ID > {after!r}"
        super().__init__(f"{method}: the page at {where} failed after {rows_before} rows: {error}")
        self.method = method
        self.error = error
        self.start = start
        self.after = after
        self.rows_before = rows_before
        self.rows: list[Any] = []

    @property
    def may_have_applied(self) -> bool:
        """A read changes nothing."""
        return False


class PageClosed(PageError, ClientClosed):
    """The client was closed in the middle of a read.

    Both a :class:`~b24async.ClientClosed` (as every call of a closed client) and a
    :class:`PageError` saying where the read stopped: ``start`` (offset paging) or ``after``
    (keyset), ``rows_before`` (rows yielded before it stopped), ``error`` (the close), and from
    :meth:`~b24async.Bitrix24.list_all` the rows read so far on ``rows``. ``sent`` is False:
    the read changed nothing on the portal.
    """


class ReadPosition:
    """Where a read by :func:`paginate_raw` is, kept up to date as it goes.

    ``start``: the offset of the page being read (offset paging); ``after``: the ``ID`` the
    next keyset page follows; ``rows``: rows yielded so far.
    """

    def __init__(self) -> None:
        self.start: int | None = 0
        self.after: Any = None
        self.rows = 0

    def closed(self, method: str, error: ClientClosed) -> PageClosed:
        """The :class:`PageClosed` for a read of ``method`` that the close stopped here."""
        if isinstance(error, PageClosed):
            return error
        return PageClosed(method, error, start=self.start, after=self.after, rows_before=self.rows)


async def paginate_raw(
    engine: Engine,
    call: CallFn,
    method: str,
    params: dict[str, Any],
    *,
    keyset: bool = False,
    prefetch: int | None = 4,
    progress: Progress | None = None,
    position: ReadPosition | None = None,
) -> AsyncIterator[Any]:
    """Yield every row of ``method`` (see module docs). ``call`` sends the first page;
    ``position`` follows where the read is (for the caller's :class:`PageClosed`)."""
    where = position if position is not None else ReadPosition()
    pages = _walk(engine, call, method, params, keyset, prefetch, progress, where)
    try:
        async for page in pages:
            for row in page:
                _advance(where, row, method, keyset)
                yield row
    finally:
        await pages.aclose()


def paginate_pages(
    engine: Engine,
    call: CallFn,
    method: str,
    params: dict[str, Any],
    *,
    keyset: bool = False,
    prefetch: int | None = 4,
    progress: Progress | None = None,
    position: ReadPosition | None = None,
) -> AsyncGenerator[list[Any], None]:
    """Like :func:`paginate_raw`, a page (a list of rows) at a time: no step per row.

    ``position`` is advanced by whole pages, as they are handed out.
    """
    where = position if position is not None else ReadPosition()
    return _walk(engine, call, method, params, keyset, prefetch, progress, where, by_page=True)


async def _walk(
    engine: Engine,
    call: CallFn,
    method: str,
    params: dict[str, Any],
    keyset: bool,
    prefetch: int | None,
    progress: Progress | None,
    where: ReadPosition,
    by_page: bool = False,
) -> AsyncGenerator[list[Any], None]:
    """The pages of a read, first to last (non-empty lists of rows); see :func:`paginate_raw`.

    ``by_page``: advance ``where`` by each page as it is handed out (:func:`paginate_pages`).
    """
    if prefetch is not None and prefetch < 1:
        raise ValueError("prefetch must be >= 1 (or None: no limit)")
    if "start" in params:
        raise ValueError("paginate() walks the pages itself: do not pass start")
    if keyset and (problem := query_problem(keyset_params(method, params, 0))) is not None:
        raise ValueError(f"keyset=True chains pages inside a batch, and the params hold {problem}")
    try:
        first = await call(method, params)
    except ClientClosed as exc:  # the client's end, not the page's: say where the read stopped
        raise where.closed(method, exc) from exc
    except B24Error as exc:
        raise PageError(method, exc, start=0) from exc
    rows = _rows(first.result, method)
    total = first.total if first.total is not None else len(rows)
    seen = len(rows)
    if progress is not None:
        progress(seen, total)
    if rows:
        if by_page:
            _handed(where, rows, method, keyset)
        yield rows
    if first.next is None or not rows:
        return
    if keyset:
        walker = _keyset_pages(engine, method, params, rows[-1], total - seen)
    else:
        walker = _offset_pages(engine, method, params, first.next, total, prefetch, where)
    async for page in walker:
        if isinstance(page, _Failed):
            if isinstance(page.error, ClientClosed):
                raise where.closed(method, page.error) from page.error
            raise PageError(
                method, page.error, start=page.start, after=page.after, rows_before=seen
            ) from page.error
        size = len(page)
        seen += size
        if progress is not None:
            progress(seen, max(total, seen))
        if size:
            if by_page:  # (_handed, inline)
                where.rows += size
                if keyset:
                    where.start, where.after = None, _row_id(page[-1], method)
            yield page


def _handed(where: ReadPosition, page: list[Any], method: str, keyset: bool) -> None:
    """Count a page about to be handed out whole; a keyset read resumes after its last ``ID``."""
    where.rows += len(page)
    if keyset:
        where.start, where.after = None, _row_id(page[-1], method)


def _advance(where: ReadPosition, row: Any, method: str, keyset: bool) -> None:
    """Count a row about to be yielded; a keyset read resumes after its ``ID``."""
    where.rows += 1
    if keyset:
        where.start, where.after = None, _row_id(row, method)


class _Failed:
    """A page that failed: where it was and why (turned into :class:`PageError` above)."""

    def __init__(self, error: B24Error, start: int | None = None, after: Any = None) -> None:
        self.error, self.start, self.after = error, start, after


def _page(result: BatchResult[Any], name: str, method: str) -> list[Any] | B24Error:
    if name in result.responses:
        return _rows(result.responses[name].result, method)
    error = result.errors.get(name)
    if error is not None:
        return error
    return B24Error(f"{method}: the page {name} did not run")


async def _offset_pages(
    engine: Engine,
    method: str,
    params: dict[str, Any],
    start: int,
    total: int,
    prefetch: int | None,
    where: ReadPosition,
) -> AsyncIterator[list[Any] | _Failed]:
    starts = list(range(start, total, PAGE_SIZE))
    groups = [starts[i : i + _PAGES_PER_REQUEST] for i in range(0, len(starts), _PAGES_PER_REQUEST)]

    async def fetch(group: list[int]) -> BatchResult[Any]:
        commands = page_commands(method, params, group)
        return await run_batch(engine, commands, halt=False, results_only=True)

    in_flight: list[asyncio.Task[BatchResult[Any]]] = []
    next_group = 0
    try:
        while next_group < len(groups) or in_flight:
            while next_group < len(groups) and (prefetch is None or len(in_flight) < prefetch):
                in_flight.append(asyncio.create_task(fetch(groups[next_group])))
                next_group += 1
            group = groups[next_group - len(in_flight)]
            where.start = group[0]
            result = await in_flight.pop(0)
            responses = result.responses
            for start, name in zip(group, result.names, strict=True):  # in start order
                where.start = start
                response = responses.get(name)
                if response is not None and type(response.result) is list:
                    yield response.result  # (the usual page: _page's first case, inline)
                    continue
                page = _page(result, name, method)
                if isinstance(page, B24Error):
                    yield _Failed(page, start=start)
                    return
                yield page
    finally:
        for task in in_flight:
            task.cancel()


async def _keyset_pages(
    engine: Engine,
    method: str,
    params: dict[str, Any],
    last_row: Any,
    expected: int,
) -> AsyncIterator[list[Any] | _Failed]:
    after = _row_id(last_row, method)
    while True:
        pages = max(1, min(_PAGES_PER_REQUEST, math.ceil(max(expected, 1) / PAGE_SIZE)))
        commands = [Command("k0", method, keyset_params(method, params, after))]
        for i in range(1, pages):
            ref = f"$result[k{i - 1}][{PAGE_SIZE - 1}][ID]"
            commands.append(Command(f"k{i}", method, keyset_params(method, params, ref)))
        result = await run_batch(engine, commands, halt=True)
        for i in range(pages):
            page = _page(result, f"k{i}", method)
            if isinstance(page, B24Error):
                yield _Failed(page, after=after)
                return
            if page:
                yield page
            if len(page) < PAGE_SIZE:
                return  # a short page is the last; later pages in this batch are noise
            after = _row_id(page[-1], method)
            expected -= len(page)


def _row_id(row: Any, method: str) -> Any:
    if isinstance(row, Mapping):
        for key in ("ID", "id"):
            if key in row:
                return row[key]
    raise TypeError(f"{method}: rows have no ID; use keyset=False")
