"""pytest fixtures serving a fake Bitrix24 portal (registered through the ``pytest11`` entry point).

The fixtures are synchronous and backed by :meth:`FakePortal.running`, which serves from its own
thread and event loop, so they work with any async test framework (or none).

pytest imports this module in every run of every project that has b24async installed, before
any test (and before coverage tools start measuring). So it imports only pytest at module level:
the portal is imported when a fixture is first used.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from b24async.testing.portal import FakePortal

__all__ = ["TEST_DEFAULTS", "fake_portal", "fake_portal_factory"]

TEST_DEFAULTS: Mapping[str, Any] = MappingProxyType({"seed": 0, "users": 50})
"""Keyword arguments the fixtures pass unless told otherwise."""


@pytest.fixture
def fake_portal() -> Iterator[FakePortal]:
    """A running fake portal (seed 0, 50 users), stopped after the test."""
    from b24async.testing.portal import FakePortal  # lazy: see the module docstring

    with FakePortal.running(**TEST_DEFAULTS) as portal:
        yield portal


@pytest.fixture
def fake_portal_factory() -> Iterator[Callable[..., FakePortal]]:
    """A callable taking :class:`FakePortal` keyword arguments and returning a running portal.

    Every portal it made is stopped after the test.
    """
    from b24async.testing.portal import FakePortal  # lazy: see the module docstring

    with contextlib.ExitStack() as stack:

        def make(**kwargs: Any) -> FakePortal:
            return stack.enter_context(FakePortal.running(**{**TEST_DEFAULTS, **kwargs}))

        yield make
