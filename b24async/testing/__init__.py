"""A fake Bitrix24 portal for tests: real HTTP on 127.0.0.1, real limits, seeded data.

::

    from b24async.testing import FakePortal

    async with FakePortal(users=50, seed=0) as portal:
        ...  # call portal.webhook_url with any HTTP client

    with FakePortal.running(users=2000) as portal:  # served from a background thread
        ...

The portal enforces the leaky bucket (HTTP 503 ``QUERY_LIMIT_EXCEEDED``) and the per-method
operating budget (HTTP 429 ``OPERATION_TIME_LIMIT``), answers ``batch`` like the real server,
issues and refreshes OAuth tokens, injects faults on request (:class:`Faults`), and records what
happened (:attr:`FakePortal.stats`, :attr:`FakePortal.ledger`). ``python -m b24async.testing``
serves one from the command line; the pytest plugin provides the ``fake_portal`` and
``fake_portal_factory`` fixtures. :class:`LoopClock` runs the portal and the client on the event
loop's time, virtual time included (see :mod:`b24async.testing.clock`).

The names below are imported on first use (PEP 562), so importing this package, or the pytest
plugin inside it that every pytest run of a project with b24async installed loads, does not
load the ~4,000 lines of the portal until a test asks for it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from b24async.testing.clock import LoopClock
    from b24async.testing.faults import FaultKind, Faults
    from b24async.testing.oauth import OAuthTokens
    from b24async.testing.portal import FakePortal
    from b24async.testing.state import LedgerEntry
    from b24async.testing.stats import PortalStats

__all__ = [
    "FakePortal",
    "FaultKind",
    "Faults",
    "LedgerEntry",
    "LoopClock",
    "OAuthTokens",
    "PortalStats",
]

_HOMES = {
    "FakePortal": "b24async.testing.portal",
    "FaultKind": "b24async.testing.faults",
    "Faults": "b24async.testing.faults",
    "LedgerEntry": "b24async.testing.state",
    "LoopClock": "b24async.testing.clock",
    "OAuthTokens": "b24async.testing.oauth",
    "PortalStats": "b24async.testing.stats",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
