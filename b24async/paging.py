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
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from typing import Any

from b24async.batch import BatchResult, Command, run_batch
from b24async.engine import Engine
from b24async.protocol import Response

__all__ = ["PAGE_SIZE", "paginate_raw"]

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


def _keyset_params(method: str, params: Mapping[str, Any], after: Any) -> dict[str, Any]:
    """Params for one keyset page: rows with ID > ``after``, by ID ascending, uncounted."""
    out = dict(params)
    out["start"] = -1
    if method == "user.get":
        # user.get sorts with top-level SORT/ORDER and filters in FILTER (facts file §7.5).
        filter_key = next((k for k in out if k.upper() == "FILTER"), "FILTER")
        out["SORT"], out["ORDER"] = "ID", "ASC"
    else:
        filter_key = next((k for k in out if k.lower() == "filter"), "filter")
        out["order"] = {"ID": "ASC"}
    current = out.get(filter_key)
    merged = dict(current) if isinstance(current, Mapping) else {}
    merged[">ID"] = after
    out[filter_key] = merged
    return out


async def paginate_raw(
    engine: Engine,
    call: CallFn,
    method: str,
    params: dict[str, Any],
    *,
    keyset: bool = False,
    prefetch: int | None = 4,
    progress: Progress | None = None,
) -> AsyncIterator[Any]:
    """Yield every row of ``method`` (see module docs). ``call`` sends the first page."""
    if prefetch is not None and prefetch < 1:
        raise ValueError("prefetch must be >= 1 (or None: no limit)")
    if "start" in params:
        raise ValueError("paginate() walks the pages itself: do not pass start")
    first = await call(method, params)
    rows = _rows(first.result, method)
    total = first.total if first.total is not None else len(rows)
    seen = len(rows)
    if progress is not None:
        progress(seen, total)
    for row in rows:
        yield row
    if first.next is None or not rows:
        return
    if keyset:
        walker = _keyset_pages(engine, method, params, rows[-1], total - seen)
    else:
        walker = _offset_pages(engine, method, params, first.next, total, prefetch)
    async for page in walker:
        seen += len(page)
        if progress is not None:
            progress(seen, max(total, seen))
        for row in page:
            yield row


def _page_rows(result: BatchResult, name: str, method: str) -> list[Any]:
    return _rows(result.responses[name].result, method) if name in result.responses else []


async def _offset_pages(
    engine: Engine,
    method: str,
    params: dict[str, Any],
    start: int,
    total: int,
    prefetch: int | None,
) -> AsyncIterator[list[Any]]:
    starts = list(range(start, total, PAGE_SIZE))
    groups = [starts[i : i + _PAGES_PER_REQUEST] for i in range(0, len(starts), _PAGES_PER_REQUEST)]

    async def fetch(group: list[int]) -> BatchResult:
        commands = [Command(f"p{s}", method, {**params, "start": s}) for s in group]
        result = await run_batch(engine, commands, halt=False)
        result.raise_for_errors()
        return result

    in_flight: list[asyncio.Task[BatchResult]] = []
    next_group = 0
    try:
        while next_group < len(groups) or in_flight:
            while next_group < len(groups) and (prefetch is None or len(in_flight) < prefetch):
                in_flight.append(asyncio.create_task(fetch(groups[next_group])))
                next_group += 1
            result = await in_flight.pop(0)
            for s in sorted(result.responses, key=lambda n: int(n[1:])):
                yield _page_rows(result, s, method)
    finally:
        for task in in_flight:
            task.cancel()


async def _keyset_pages(
    engine: Engine,
    method: str,
    params: dict[str, Any],
    last_row: Any,
    expected: int,
) -> AsyncIterator[list[Any]]:
    after = _row_id(last_row, method)
    while True:
        pages = max(1, min(_PAGES_PER_REQUEST, math.ceil(max(expected, 1) / PAGE_SIZE)))
        commands = [Command("k0", method, _keyset_params(method, params, after))]
        for i in range(1, pages):
            ref = f"$result[k{i - 1}][{PAGE_SIZE - 1}][ID]"
            commands.append(Command(f"k{i}", method, _keyset_params(method, params, ref)))
        result = await run_batch(engine, commands, halt=True)
        result.raise_for_errors()
        for i in range(pages):
            page = _page_rows(result, f"k{i}", method)
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
