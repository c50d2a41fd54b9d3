"""Reading JSON answers: ``orjson`` when it is installed, the standard library otherwise.

``pip install b24async[speed]`` adds `orjson <https://pypi.org/project/orjson/>`_, which parses
the portal's answers several times faster than :func:`json.loads` (a 2,000-user availability
answer is ~18 MB of JSON). Without it the stdlib decoder is used; both give the same values:
whatever ``orjson`` refuses (NaN, integers beyond 64 bits, a byte-order mark, lone surrogates,
non-UTF-8 text) is handed to :func:`json.loads`, so the result, or the ``ValueError``, is the
stdlib's.

The decoder is chosen once, at import: ``B24ASYNC_JSON=stdlib`` in the environment forces the
stdlib (e.g. to rule ``orjson`` out when reporting a bug); :func:`use` switches at run time
(tests and benchmarks measure both paths). :data:`BACKEND` names the decoder in use.

:func:`gc_paused` wraps the building of many small objects from one answer (JSON values, typed
models): CPython's cyclic garbage collector would otherwise run dozens of times while they are
built, each time walking every container still alive (the whole answer), which costs more than
the building itself. They form no cycles (reference counting frees them), so it waits until the
answer is built; then it runs as usual.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["BACKEND", "BIG", "gc_paused", "loads", "use"]

#: Answers at least this large (bytes of JSON, or entries to build) pause the cyclic GC.
BIG = 1 << 16

_orjson_loads: Callable[[bytes | str], Any] | None
try:
    from orjson import loads as _orjson_loads
except ImportError:  # the optional ``speed`` extra is not installed
    _orjson_loads = None

#: The decoder in use: ``"orjson"`` or ``"stdlib"``.
BACKEND = "stdlib"
_impl: Callable[[bytes | str], Any] = json.loads


def _orjson_or_stdlib(data: bytes | str) -> Any:
    assert _orjson_loads is not None
    try:
        return _orjson_loads(data)
    except ValueError:  # orjson.JSONDecodeError: let the stdlib decide (value or its error)
        return json.loads(data)


def use(backend: str) -> None:
    """Select the decoder: ``"orjson"``, ``"stdlib"`` or ``"auto"`` (orjson if installed).

    ``ImportError`` for ``"orjson"`` when it is not installed; ``ValueError`` for other names.
    """
    global BACKEND, _impl
    if backend not in ("auto", "orjson", "stdlib"):
        raise ValueError(f"unknown JSON backend {backend!r}: use 'auto', 'orjson' or 'stdlib'")
    if backend == "orjson" and _orjson_loads is None:
        raise ImportError("orjson is not installed: pip install b24async[speed]")
    if backend != "stdlib" and _orjson_loads is not None:
        BACKEND, _impl = "orjson", _orjson_or_stdlib
    else:
        BACKEND, _impl = "stdlib", json.loads


def loads(data: bytes | str) -> Any:
    """Parse one JSON document (``bytes`` are UTF-8); ``ValueError`` if it is not JSON.

    A document of :data:`BIG` bytes or more is parsed with the cyclic GC paused.
    """
    if len(data) < BIG:
        return _impl(data)
    with gc_paused():
        return _impl(data)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause CPython's cyclic garbage collector for the block (see the module docs).

    Re-enables it only if it was enabled on entry, so an application that keeps it off, or a
    nested pause, is left as it was.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


use("stdlib" if os.environ.get("B24ASYNC_JSON", "").strip().lower() == "stdlib" else "auto")
