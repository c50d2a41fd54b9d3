"""A FakePortal served from a background thread, for callers without an event loop.

:meth:`FakePortal.running <b24async.testing.FakePortal.running>` serves the portal from a
daemon thread running its own event loop (pytest fixtures, the CLI, examples);
its test helpers (``stats()``, ``add_webhook()``, ...) hand their work to that loop's thread
(:func:`run_on_loop`), so the portal's state is only ever touched from the loop that serves it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from b24async.testing.portal import FakePortal

__all__ = ["run_on_loop", "serve_in_thread"]

_T = TypeVar("_T")


@contextlib.contextmanager
def serve_in_thread(portal: FakePortal) -> Iterator[FakePortal]:
    """Start ``portal`` in a new thread with its own event loop; stop it on exit.

    A failure to start (a port in use) is raised here, in the caller's thread.
    """
    ready = threading.Event()
    stop: list[Callable[[], None]] = []
    failure: list[BaseException] = []

    async def serve() -> None:
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        try:
            await portal.start()
        except BaseException as error:
            failure.append(error)
            ready.set()
            return

        def request_stop() -> None:
            loop.call_soon_threadsafe(stopped.set)

        stop.append(request_stop)
        ready.set()
        try:
            await stopped.wait()
        finally:
            await portal.stop()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.name = "b24async-fake-portal"
    thread.start()
    ready.wait()
    if failure:
        thread.join()
        raise failure[0]
    try:
        yield portal
    finally:
        stop[0]()
        thread.join()


def run_on_loop(
    loop: asyncio.AbstractEventLoop | None, loop_thread: int | None, action: Callable[[], _T]
) -> _T:
    """Run ``action`` on ``loop``'s thread and return its result (or raise its exception).

    Directly when there is no running loop or the caller is already on ``loop_thread``.
    """
    if loop is None or loop_thread == threading.get_ident() or not loop.is_running():
        return action()
    future: concurrent.futures.Future[_T] = concurrent.futures.Future()

    def call() -> None:
        try:
            future.set_result(action())
        except BaseException as error:  # handed to the caller's thread
            future.set_exception(error)

    loop.call_soon_threadsafe(call)
    return future.result()
