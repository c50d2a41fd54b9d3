"""The public surface: __all__ is honest, every public name is documented, nothing leaks."""

from __future__ import annotations

import importlib
import inspect

import pytest

import b24async

MODULES = [
    "b24async",
    "b24async.methods",
    "b24async.models",
    "b24async.testing",
    "b24async.errors",
    "b24async.progress",
    "b24async.events",
    "b24async.methods.events",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist_and_are_documented(name: str) -> None:
    module = importlib.import_module(name)
    assert len(set(module.__all__)) == len(module.__all__), "duplicate names in __all__"
    for public in module.__all__:
        obj = getattr(module, public)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), f"{name}.{public} has no docstring"


def test_top_level_names() -> None:
    expected = {
        "Bitrix24",
        "RateLimits",
        "Response",
        "Timing",
        "BatchResult",
        "B24Error",
        "ApiError",
        "TransportError",
        "DecodeError",
        "Availability",
        "BusyInterval",
        "ParticipationStatus",
        "UserStatus",
        "User",
        "TokenPair",
    }
    assert expected <= set(b24async.__all__)
    assert b24async.__version__


def test_public_modules_have_docstrings() -> None:
    for name in MODULES:
        assert importlib.import_module(name).__doc__
