"""Reading JSON answers: ``orjson`` when it is installed, the standard library otherwise.

``pip install b24async[speed]`` adds `orjson <https://pypi.org/project/orjson/>`_, which parses
the portal's answers several times faster than :func:`json.loads` (a 2,000-user availability
answer is ~18 MB of JSON). Without it the stdlib decoder is used; both give the same values:
whatever ``orjson`` refuses (NaN, integers beyond 64 bits, a byte-order mark, lone surrogates,
non-UTF-8 text) is handed to :func:`json.loads`, so the result, or the ``ValueError``, is the
stdlib's. One difference remains: ``orjson`` reads an integer beyond 64 bits as a ``float``
(the portal's IDs and counts are far below ``2**63``).

Memory decides the split: while parsing, ``orjson`` holds about 12 times the document's size
(its parse tree is sized from the input's length), the stdlib about once. Documents larger than
:data:`ORJSON_MAX_BYTES` (2 MiB: at most ~25 MB held for a moment) therefore go to the stdlib
even when ``orjson`` is installed, so peak memory stays bounded by the answer's own size.

The decoder is chosen once, at import: ``B24ASYNC_JSON=stdlib`` in the environment forces the
stdlib (e.g. to rule ``orjson`` out when reporting a bug); :func:`use` switches at run time
(tests and benchmarks measure both paths). :data:`BACKEND` names the decoder in use.

:func:`gc_paused` wraps the building of many small objects from one answer (JSON values, typed
models): CPython's cyclic garbage collector would otherwise run dozens of times while they are
built, each time walking every container still alive (the whole answer), which costs more than
the building itself. They form no cycles (reference counting frees them), so it waits until the
answer is built; then it runs as usual.

:func:`kept` marks a read whose answers are kept (:meth:`~b24async.Bitrix24.list_all` keeps every
row until it returns them). The collector is generational: it assumes that new objects die
young and walks each survivor again as it ages (twice per row here, cold in the cache by the
second walk). For a bulk read that assumption is wrong, and those walks were about a quarter of
``list_all``'s client CPU. Inside :func:`kept`, a large answer, once parsed (with the collector
still paused), is moved straight to the oldest generation: ``gc.freeze()`` then
``gc.unfreeze()``, which on CPython 3.10-3.13 moves whole generation lists, whatever their
size. Everything then alive moves with it, the application's young objects too: they are still
tracked and collected by the next full collection, which the read does not bring forward.
Nothing happens when the collector is off, when anything is frozen already
(``gc.get_freeze_count()``: ``unfreeze`` would thaw it; the application's own, and CPython 3.12.1
keeps a few hundred objects of its own frozen from startup, so there it never applies), or on
interpreters where freezing walks every object (3.14's incremental collector, free-threaded
builds, PyPy).
"""

from __future__ import annotations

import contextlib
import contextvars
import gc
import json
import os
import sys
import sysconfig
from collections.abc import Callable, Iterator
from typing import Any

__all__ = [
    "BACKEND",
    "BIG",
    "CAN_AGE",
    "ORJSON_MAX_BYTES",
    "age_if_kept",
    "gc_paused",
    "kept",
    "loads",
    "promote_young",
    "use",
]

#: Answers at least this large (bytes of JSON) are parsed with the cyclic GC paused.
BIG = 1 << 16
#: Larger documents are parsed by the stdlib, whose peak memory is ~1x the input, not ~12x.
ORJSON_MAX_BYTES = 2 << 20

_orjson_loads: Callable[[bytes | str], Any] | None = None
try:
    import orjson  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # the optional ``speed`` extra is not installed
    pass
else:
    _orjson_loads = orjson.loads

#: The decoder in use: ``"orjson"`` or ``"stdlib"``.
BACKEND = "stdlib"
_impl: Callable[[bytes | str], Any] = json.loads


def _orjson_or_stdlib(data: bytes | str) -> Any:
    assert _orjson_loads is not None
    if len(data) > ORJSON_MAX_BYTES:
        return json.loads(data)
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

    A document of :data:`BIG` bytes or more is parsed with the cyclic GC paused, and inside
    :func:`kept` its values are then moved to the oldest generation (see the module docs).
    """
    if len(data) < BIG:
        return _impl(data)
    with gc_paused() as paused:
        value = _impl(data)
        if paused:
            age_if_kept()
        return value


def age_if_kept() -> None:
    """Inside :func:`kept`, move everything alive to the oldest generation (see the module docs).

    For code that builds a large answer's values itself, as :func:`loads` does: call it with
    the collector paused, right after building them (before a young collection walks them).
    """
    if _kept.get():
        promote_young()


def promote_young() -> None:
    """Move everything alive to the oldest generation, unwalked (see the module docs).

    Call it with the collector paused, right after building long-lived values. A no-op where
    :data:`CAN_AGE` is False or anything is frozen already (``unfreeze`` would thaw it).
    """
    if CAN_AGE and gc.get_freeze_count() == 0:
        gc.freeze()  # everything alive, the new values too, leaves the young generations
        gc.unfreeze()  # ... for the oldest, unwalked


#: Whether :func:`kept` moves answers to the oldest generation here: ``gc.freeze()``/``unfreeze()``
#: splice generation lists in O(1) only with CPython's classic collector (3.10-3.13, GIL builds).
CAN_AGE = (
    sys.implementation.name == "cpython"
    and sys.version_info < (3, 14)
    and not sysconfig.get_config_var("Py_GIL_DISABLED")
)
_kept: contextvars.ContextVar[bool] = contextvars.ContextVar("b24async_jsonio_kept", default=False)


@contextlib.contextmanager
def kept() -> Iterator[None]:
    """Mark the answers parsed in this block as kept: large ones go to the oldest generation.

    For reads that keep what they parse (:meth:`~b24async.Bitrix24.list_all`); it applies to
    the tasks started inside the block too (they copy the context). A no-op where moving them
    would cost more than it saves, or would touch the application's frozen objects (see the
    module docs).
    """
    token = _kept.set(CAN_AGE and gc.get_freeze_count() == 0)
    try:
        yield
    finally:
        _kept.reset(token)


@contextlib.contextmanager
def gc_paused() -> Iterator[bool]:
    """Pause CPython's cyclic garbage collector for the block (see the module docs).

    Re-enables it only if it was enabled on entry, so an application that keeps it off, or a
    nested pause, is left as it was. The block gets whether this pause turned it off (then
    :func:`age_if_kept` may follow).
    """
    if not gc.isenabled():
        yield False
        return
    gc.disable()
    try:
        yield True
    finally:
        gc.enable()


use("stdlib" if os.environ.get("B24ASYNC_JSON", "").strip().lower() == "stdlib" else "auto")
