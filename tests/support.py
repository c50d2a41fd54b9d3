"""Helpers shared by several test modules (importable as ``support``: ``tests/`` is on the path)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web


def calendar_add(i: int) -> tuple[str, dict[str, Any]]:
    """A non-idempotent write (``calendar.event.add``), distinct per ``i``, for batch jobs."""
    return (
        "calendar.event.add",
        {
            "type": "user",
            "ownerId": 1,
            "name": f"evt-{i}",
            "from": "2026-01-05 10:00:00",
            "to": "2026-01-05 11:00:00",
        },
    )


@asynccontextmanager
async def redirecting_server(
    location: Callable[[str], str], hits: list[str] | None = None
) -> AsyncIterator[str]:
    """A loopback server that answers every request with a 302 to ``location(path)``.

    Each request's path is appended to ``hits`` when given.
    """

    async def moved(request: web.Request) -> web.Response:
        if hits is not None:
            hits.append(request.path)
        raise web.HTTPFound(location(request.path))

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", moved)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
