"""Suite-wide test set-up: virtual time for the tests marked ``@pytest.mark.looptime``.

The looptime plugin fast-forwards a marked test's event loop whenever it is idle; the client and
the FakePortal share a :class:`~b24async.testing.LoopClock` so that wall time moves with it.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest

HAVE_LOOPTIME = importlib.util.find_spec("looptime") is not None


def pytest_configure(config: pytest.Config) -> None:
    if not HAVE_LOOPTIME:  # looptime registers its marker itself
        config.addinivalue_line("markers", "looptime: run on virtual time (looptime plugin)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Without looptime (it needs Python 3.11) the virtual-time tests cannot run: skip them.

    Their assertions are on virtual durations, which real time would only approximate.
    """
    if HAVE_LOOPTIME:
        return
    skip = pytest.mark.skip(reason="virtual time needs the looptime plugin (Python >= 3.11)")
    for item in items:
        if item.get_closest_marker("looptime") is not None:
            item.add_marker(skip)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Iterator[None]:
    """Keep looptime away from plain (sync) tests.

    looptime 0.9 asks the event-loop policy of every test for its loop; in a sync test none is
    set, and on Python < 3.14 the policy then creates one that nobody closes (a
    ``ResourceWarning``, an error under ``filterwarnings=error``; on 3.12-3.13 also a
    ``DeprecationWarning``). Without the policy among the test's fixture values it leaves the
    test alone, which is what it would do anyway: a sync test has no loop to fast-forward.
    (pytest-asyncio marks every async test ``asyncio`` in auto mode.)
    """
    funcargs = pyfuncitem.funcargs
    if pyfuncitem.get_closest_marker("asyncio") or "event_loop_policy" not in funcargs:
        return (yield)
    policy = funcargs.pop("event_loop_policy")
    try:
        return (yield)
    finally:
        funcargs["event_loop_policy"] = policy
