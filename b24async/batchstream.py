"""Reading a large ``batch`` answer one command at a time, each handed on before the next.

:func:`~b24async.batchcodec.decode_batch` decodes a whole answer at once: for a fan-in of 50
multi-user reads that is a ~23 MB body, its text, and ~74 MB of decoded JSON alive together
before anything typed exists. :func:`decode_batch_each` gives the same
:class:`~b24async.batchcodec.ChunkOutcome` (same responses, errors, skipped commands and time
blocks, the same exceptions for a failed or malformed answer), but each command's
:class:`~b24async.protocol.Response` goes through the caller's ``take`` (e.g. a typed parse)
as soon as the command is decoded, and only what ``take`` returns is kept. At any moment the
answer's text, one command's decoded value and the values ``take`` returned so far are alive;
the body bytes are released once the text exists (:meth:`RawResponse.text
<b24async.protocol.RawResponse.text>`).

How: the portal lays a batch answer out as ``{"result": {"result": {<commands>},
"result_error": ..., "result_total": ..., "result_next": ..., "result_time": ...}, "time":
...}``. The small maps after the commands (errors, timings) are read first, from the last
occurrence of their keys, so that a command the answer also names as failed is never taken
(the error wins, as in ``decode_batch``). Then the command map is walked with the C scanner
of :mod:`json` (``scan_once``/``scanstring``: no copies of the text), one value at a time.
The walk must end exactly where the read tail begins; whenever the answer is laid out in any
other way (other key order, duplicate keys, an ``error`` body, not JSON at all...) the whole
answer is decoded by ``decode_batch`` instead and ``take`` applied to its responses, so the
outcome, or the exception, is always ``decode_batch``'s.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from b24async import jsonio
from b24async.batchcodec import ChunkOutcome, Command, as_map, command_error, decode_batch
from b24async.codec import int_or_none
from b24async.errors import ApiError
from b24async.protocol import RawResponse, Response, Timing

__all__ = ["STREAM_MIN_BYTES", "Take", "decode_batch_each"]

#: Answers at least this large (bytes) are walked one command at a time; smaller ones are
#: decoded whole (with ``orjson`` when installed: it is faster, and small enough here).
STREAM_MIN_BYTES = jsonio.ORJSON_MAX_BYTES

#: ``take(command, response)``: what to keep of a command's response. It must only convert
#: (no effects outside its return value): it may be called again for the same command.
Take = Callable[[Command, Response], Response]

_scan_once = json.JSONDecoder().scan_once  # the C scanner, strict as json.loads
_scanstring = json.decoder.scanstring  # type: ignore[attr-defined]
_ws = re.compile(r"[ \t\n\r]*").match  # JSON's whitespace, as json.decoder skips it
_TAIL_KEYS = ('"result_error"', '"result_total"', '"result_next"', '"result_time"')


class _Layout(Exception):
    """The answer is not laid out as the walk expects: decode it whole instead."""


def decode_batch_each(raw: RawResponse, chunk: Sequence[Command], take: Take) -> ChunkOutcome:
    """:func:`~b24async.batchcodec.decode_batch`, each response passed through ``take`` on arrival.

    The outcome holds ``take``'s values; everything else (errors, skipped commands, the time
    block, exceptions) is exactly ``decode_batch``'s (see the module docs).
    """
    if raw.size < STREAM_MIN_BYTES:
        return _whole(raw, chunk, take)
    try:
        text = raw.text()
    except ValueError:  # not text: decode_batch says how (DecodeError)
        return _whole(raw, chunk, take)
    with jsonio.gc_paused():
        try:
            return _stream(text, chunk, take)
        except (_Layout, ValueError, StopIteration, IndexError):
            # Another layout, or not JSON: decode_batch decides (outcome or exception).
            return _whole(raw, chunk, take)


def _whole(raw: RawResponse, chunk: Sequence[Command], take: Take) -> ChunkOutcome:
    outcome = decode_batch(raw, chunk)
    responses = {
        c.name: take(c, outcome.responses[c.name]) for c in chunk if c.name in outcome.responses
    }
    return attrs.evolve(outcome, responses=responses)


def _stream(text: str, chunk: Sequence[Command], take: Take) -> ChunkOutcome:
    start = _command_map_at(text)
    tail_at, inner, outer = _tail(text)
    if "result" in inner or "result" in outer or "error" in outer:
        raise _Layout  # a second command map (the last one counts), or an error body
    errors = as_map(inner.get("result_error"))
    totals = as_map(inner.get("result_total"))
    nexts = as_map(inner.get("result_next"))
    times = as_map(inner.get("result_time"))
    by_name = {c.name: c for c in chunk}
    taken: dict[str, Response] = {}

    def on_command(name: str, value: Any) -> None:
        command = by_name.get(name)
        if command is None or name in errors:
            return  # not asked for, or failed (the error wins): not kept
        response = Response(
            command.method,
            value,
            Timing.from_wire(times.get(name)),
            int_or_none(totals.get(name)),
            int_or_none(nexts.get(name)),
        )
        taken[name] = take(command, response)  # a repeated name: the last one counts

    end = _walk(text, start, on_command)
    if text[end] != "," or _ws(text, end + 1).end() != tail_at:
        raise _Layout  # the read tail does not follow the command map
    failed: dict[str, ApiError] = {}
    responses: dict[str, Response] = {}
    skipped: list[str] = []
    for command in chunk:
        name = command.name
        if name in errors:
            failed[name] = command_error(command, errors[name])
        elif name in taken:
            responses[name] = taken[name]
        else:
            skipped.append(name)
    return ChunkOutcome(responses, failed, tuple(skipped), Timing.from_wire(outer.get("time")))


def _key(text: str, i: int) -> tuple[str, int]:
    """The key at ``i`` (a string, then ``:``): the key and the index of its value."""
    if text[i] != '"':
        raise _Layout
    key, i = _scanstring(text, i + 1)
    i = _ws(text, i).end()
    if text[i] != ":":
        raise _Layout
    return key, _ws(text, i + 1).end()


def _command_map_at(text: str) -> int:
    """Where ``result.result`` begins, when ``result`` is the first key at both levels."""
    i = _ws(text, 0).end()
    for _ in range(2):
        if text[i] != "{":
            raise _Layout
        key, i = _key(text, _ws(text, i + 1).end())
        if key != "result":
            raise _Layout
    if text[i] not in "{[":
        raise _Layout
    return i


def _tail(text: str) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """The members after the command map: (where they begin, ``result``'s, the envelope's).

    Tried from the last occurrence of each ``result_*`` key, earliest first; the one that reads
    as the rest of both objects up to the end of the text is the tail (checked again by the
    walk, which must end right before it).
    """
    found = sorted(at for key in _TAIL_KEYS if (at := text.rfind(key)) >= 0)
    for at in found:
        try:
            return (at, *_read_tail(text, at))
        except (_Layout, ValueError, StopIteration, IndexError):
            continue
    raise _Layout


def _read_tail(text: str, i: int) -> tuple[dict[str, Any], dict[str, Any]]:
    inner: dict[str, Any] = {}
    outer: dict[str, Any] = {}
    i = _members(text, i, inner)  # the rest of ``result``
    if text[i] == ",":
        i = _members(text, _ws(text, i + 1).end(), outer)  # the envelope's after ``result``
    elif text[i] == "}":
        i = _ws(text, i + 1).end()
    else:
        raise _Layout
    if i != len(text):
        raise _Layout
    return inner, outer


def _members(text: str, i: int, into: dict[str, Any]) -> int:
    """Read ``key: value`` members up to the object's ``}``; the index after it (+ws)."""
    while True:
        key, i = _key(text, i)
        into[key], i = _scan_once(text, i)
        i = _ws(text, i).end()
        if text[i] == "}":
            return _ws(text, i + 1).end()
        if text[i] != ",":
            raise _Layout
        i = _ws(text, i + 1).end()


def _walk(text: str, i: int, on_item: Callable[[str, Any], None]) -> int:
    """Decode the object or array at ``i`` one member at a time; the index after it (+ws)."""
    close = "}" if text[i] == "{" else "]"
    i = _ws(text, i + 1).end()
    if text[i] == close:
        return _ws(text, i + 1).end()
    index = 0
    while True:
        if close == "}":
            name, i = _key(text, i)
        else:
            name, index = str(index), index + 1
        value, i = _scan_once(text, i)
        on_item(name, value)
        del value  # one command's tree at a time
        i = _ws(text, i).end()
        if text[i] == close:
            return _ws(text, i + 1).end()
        if text[i] != ",":
            raise _Layout
        i = _ws(text, i + 1).end()
