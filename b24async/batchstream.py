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

A consumer that reads a command's JSON text itself (``take_text``: the typed availability read
with ``msgspec``, :mod:`b24async.models._calendar_msgspec`) gets the command's slice of the
text instead of its decoded value. Where each value ends comes from one pass of ``msgspec``
over the answer (``msgspec.Raw`` values: their lengths, no values built), for ASCII text
(there, byte and character offsets agree; the portal escapes non-ASCII characters). A slice is
proven right when it reads as one whole JSON value (a value starting at an index has one end);
a consumer that declines it gets it decoded with :func:`json.loads` (the same values as the
scanner), and a slice that does not read makes the whole answer go to ``decode_batch``.
Such a consumer's answers are walked from :data:`TEXT_MIN_BYTES` (not only from
:data:`STREAM_MIN_BYTES`) when their body is ASCII: for typed reads the slices read by msgspec
cost less than a whole decode (``orjson``) and the typed build from its dicts, at sizes the
spread's parts have (:mod:`b24async.spreading`). The outcome is the same either way, but for
:mod:`~b24async.jsonio`'s one documented difference: an integer beyond 64 bits (which the
portal's PHP cannot send) stays exact, as in the stdlib's decode, where ``orjson`` makes it a
``float``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

import attrs

from b24async import jsonio
from b24async.batchcodec import ChunkOutcome, Command, as_map, command_error, decode_batch
from b24async.codec import int_or_none
from b24async.errors import ApiError
from b24async.protocol import RawResponse, Response, Timing

__all__ = [
    "STREAM_MIN_BYTES",
    "TEXT_MIN_BYTES",
    "Take",
    "TakeText",
    "decode_batch_each",
    "read_batch_each",
    "streams",
]

#: Answers at least this large (bytes) are walked one command at a time; smaller ones are
#: decoded whole (with ``orjson`` when installed: it is faster, and small enough here).
STREAM_MIN_BYTES = jsonio.ORJSON_MAX_BYTES
#: Smaller answers are walked too when a consumer reads commands' text (``take_text``),
#: ``msgspec`` is installed and the body is ASCII, from this size (bytes) up: each command's
#: text read straight to typed objects then costs less than decoding the answer whole to dicts
#: and building from those. ``benchmarks/small_answers.py`` (client CPU per typed read): even
#: near 128 KiB, ~0.8x from 0.2 MB, 0.65-0.8x from 0.5 MB; below, the walk's fixed cost wins.
TEXT_MIN_BYTES = 128 << 10

#: ``take(command, response)``: what to keep of a command's response (e.g. nothing, once it is
#: handed to its consumer). It may be called again for a command already taken (an answer of
#: another layout is decoded again whole): it must then give the same, or ignore the repeat.
Take = Callable[[Command, Response], Response]
#: ``take_text(command, text, response)``: the command's value as its JSON text (``response``
#: holds everything else; its ``result`` is ``None``), for a consumer that reads the text
#: itself: what to keep, or ``None`` to have the value decoded and passed to ``take`` instead.
TakeText = Callable[[Command, str, Response], "Response | None"]

_value_lengths: Callable[[str], Any] | None = None
try:
    import msgspec  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # the optional ``speed`` extra is not installed: no text slices
    pass
else:

    class _Commands(msgspec.Struct):  # type: ignore[misc,unused-ignore]  # Any without msgspec
        result: dict[str, msgspec.Raw] | list[msgspec.Raw]  # PHP: "0", "1"... make a list

    class _Envelope(msgspec.Struct):  # type: ignore[misc,unused-ignore]
        result: _Commands

    _value_lengths = msgspec.json.Decoder(_Envelope).decode

# The C scanner, strict as json.loads: (value, index after it) at an index.
_scan_once: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_scanstring: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]
_WS = re.compile(r"[ \t\n\r]*")  # JSON's whitespace, as json.decoder skips it


def _ws(text: str, i: int) -> int:
    """The index of the first non-blank at or after ``i``."""
    return _WS.match(text, i).end()  # type: ignore[union-attr]  # matches the empty string


_TAIL_KEYS = ('"result_error"', '"result_total"', '"result_next"', '"result_time"')


class _Layout(Exception):
    """The answer is not laid out as the walk expects: decode it whole instead."""


class _Broken(Exception):
    """The command map did not read as expected (only the walk's own reading: never an
    exception of ``take``, which is the caller's)."""


def decode_batch_each(
    raw: RawResponse, chunk: Sequence[Command], take: Take, take_text: TakeText | None = None
) -> ChunkOutcome:
    """:func:`~b24async.batchcodec.decode_batch`, each response passed through ``take`` on arrival.

    The outcome holds ``take``'s values; everything else (errors, skipped commands, the time
    block, exceptions) is exactly ``decode_batch``'s (see the module docs). ``take_text`` is
    offered each command's text first, when the answer is walked and ``msgspec`` is installed.
    """
    reading = read_batch_each(raw, chunk, take, _no_pause, take_text)
    try:
        reading.send(None)  # ``_no_pause`` never suspends: the read ends within this one send
    except StopIteration as done:
        outcome: ChunkOutcome = done.value
        return outcome
    reading.close()  # pragma: no cover
    raise AssertionError("a batch read suspended without a pause")  # pragma: no cover


async def _no_pause() -> None:
    """The pause of a read run to its end at once (:func:`decode_batch_each`)."""


async def read_batch_each(
    raw: RawResponse,
    chunk: Sequence[Command],
    take: Take,
    pause: Callable[[], Awaitable[None]],
    take_text: TakeText | None = None,
) -> ChunkOutcome:
    """:func:`decode_batch_each`, awaiting ``pause()`` after each command of a large answer.

    Other tasks run meanwhile (e.g. callers consuming what ``take`` handed them), so that a
    large answer's values need not all be alive at once.
    """
    walk = _Walk.start(raw, chunk, take, take_text)
    if walk is None:
        return _whole(raw, chunk, take)
    try:
        # The cyclic GC waits for the whole walk (as for a whole decode): run between
        # commands, each collection would walk every object still alive, many times over.
        with jsonio.gc_paused():
            while walk.step():
                await pause()
            return walk.outcome()
    except _Broken:
        return _whole(raw, chunk, take)


def streams(raw: RawResponse) -> bool:
    """Whether an answer is large enough to be read one command at a time."""
    return raw.size >= STREAM_MIN_BYTES


def _walks(raw: RawResponse, take_text: TakeText | None) -> bool:
    """Whether to walk ``raw``: a large answer, or one whose commands' text a consumer reads
    (:data:`TEXT_MIN_BYTES`; ASCII only, as slices need it: checked before any text is made)."""
    if raw.size >= STREAM_MIN_BYTES:
        return True
    return (
        take_text is not None
        and _value_lengths is not None
        and raw.size >= TEXT_MIN_BYTES
        and raw.content.isascii()
    )


def _whole(raw: RawResponse, chunk: Sequence[Command], take: Take) -> ChunkOutcome:
    outcome = decode_batch(raw, chunk)
    responses = {
        c.name: take(c, outcome.responses[c.name]) for c in chunk if c.name in outcome.responses
    }
    return attrs.evolve(outcome, responses=responses)


_MALFORMED = (_Layout, ValueError, StopIteration, IndexError)


class _Walk:
    """One answer's command map, decoded one command per :meth:`step`."""

    def __init__(
        self, text: str, chunk: Sequence[Command], take: Take, take_text: TakeText | None = None
    ) -> None:
        self.text = text
        self.chunk = chunk
        self.take = take
        self.take_text = take_text
        self.at = _command_map_at(text)
        self.tail_at, inner, self.outer = _tail(text)
        if "result" in inner or "result" in self.outer or "error" in self.outer:
            raise _Layout  # a second command map (the last one counts), or an error body
        self.errors = as_map(inner.get("result_error"))
        self.totals = as_map(inner.get("result_total"))
        self.nexts = as_map(inner.get("result_next"))
        self.times = as_map(inner.get("result_time"))
        self.by_name = {c.name: c for c in chunk}
        self.taken: dict[str, Response] = {}
        lengths: dict[str, int] = {}
        if take_text is not None:  # slices for the commands taken (others are checked by reading)
            known = _lengths(text).items()
            lengths = {n: k for n, k in known if n in self.by_name and n not in self.errors}
        self.members = _members_of(text, self.at, self.tail_at, lengths)

    @classmethod
    def start(
        cls,
        raw: RawResponse,
        chunk: Sequence[Command],
        take: Take,
        take_text: TakeText | None = None,
    ) -> _Walk | None:
        """A walk over an answer laid out as the portal does (a large one, or one whose
        commands' text ``take_text`` reads: :func:`_walks`); None: decode it whole."""
        if not _walks(raw, take_text):
            return None
        try:
            return cls(raw.text(), chunk, take, take_text)
        except _MALFORMED:
            return None

    def step(self) -> bool:
        """Decode and hand on the next command; False once the command map is done."""
        try:
            item = next(self.members, None)
        except _MALFORMED:
            raise _Broken from None
        if item is None:
            return False
        name, value = item
        command = self.by_name.get(name)
        if command is None or name in self.errors:
            return True  # not asked for, or failed (the error wins): not kept
        timing = Timing.from_wire(self.times.get(name))
        total, following = int_or_none(self.totals.get(name)), int_or_none(self.nexts.get(name))
        if type(value) is _Slice:  # its text: the consumer's, else decoded here
            if self.take_text is not None:
                kept = self.take_text(
                    command, value.text, Response(command.method, None, timing, total, following)
                )
                if kept is not None:
                    self.taken[name] = kept
                    return True
            try:
                value = json.loads(value.text)
            except ValueError:  # not one whole value: the answer is read whole instead
                raise _Broken from None
        response = Response(command.method, value, timing, total, following)
        del value  # one command's tree at a time
        self.taken[name] = self.take(command, response)  # a repeated name: the last counts
        return True

    def outcome(self) -> ChunkOutcome:
        """The outcome, once every command is walked."""
        failed: dict[str, ApiError] = {}
        responses: dict[str, Response] = {}
        skipped: list[str] = []
        for command in self.chunk:
            name = command.name
            if name in self.errors:
                failed[name] = command_error(command, self.errors[name])
            elif name in self.taken:
                responses[name] = self.taken[name]
            else:
                skipped.append(name)
        time = Timing.from_wire(self.outer.get("time"))
        return ChunkOutcome(responses, failed, tuple(skipped), time)


def _key(text: str, i: int) -> tuple[str, int]:
    """The key at ``i`` (a string, then ``:``): the key and the index of its value."""
    if text[i] != '"':
        raise _Layout
    key, i = _scanstring(text, i + 1)
    i = _ws(text, i)
    if text[i] != ":":
        raise _Layout
    return key, _ws(text, i + 1)


def _result_at(text: str, i: int) -> int:
    """Where ``result``'s value begins, in the object at ``i`` (after blanks) whose first key
    it must be."""
    i = _ws(text, i)
    if text[i] != "{":
        raise _Layout
    key, i = _key(text, _ws(text, i + 1))
    if key != "result":
        raise _Layout
    return i


def _command_map_at(text: str) -> int:
    """Where ``result.result`` begins, when ``result`` is the first key at both levels."""
    i = _result_at(text, _result_at(text, 0))
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
        except _MALFORMED:
            continue
    raise _Layout


def _read_tail(text: str, i: int) -> tuple[dict[str, Any], dict[str, Any]]:
    inner: dict[str, Any] = {}
    outer: dict[str, Any] = {}
    i = _members(text, i, inner)  # the rest of ``result``
    i = _close(text, i, outer)  # the envelope's after ``result``
    if i != len(text):
        raise _Layout
    return inner, outer


def _close(text: str, i: int, into: dict[str, Any]) -> int:
    """After a member's value (``i`` past its blanks): the object's further members, read
    into ``into``, and the index after its ``}`` (+ws)."""
    if text[i] == ",":
        return _members(text, _ws(text, i + 1), into)
    if text[i] == "}":
        return _ws(text, i + 1)
    raise _Layout


def _members(text: str, i: int, into: dict[str, Any]) -> int:
    """Read ``key: value`` members up to the object's ``}``; the index after it (+ws)."""
    while True:
        key, i = _key(text, i)
        into[key], i = _scan_once(text, i)
        i = _ws(text, i)
        if text[i] == "}":
            return _ws(text, i + 1)
        if text[i] != ",":
            raise _Layout
        i = _ws(text, i + 1)


@attrs.frozen
class _Slice:
    """A command's value as its text (where ``_lengths`` knew its end)."""

    text: str


def _lengths(text: str) -> dict[str, int]:
    """Each command's value's length in ``text`` (ASCII only), by name; ``{}`` if unknown."""
    if _value_lengths is None or not text.isascii():
        return {}
    try:
        commands = _value_lengths(text).result.result
    except msgspec.MsgspecError:
        return {}
    if isinstance(commands, list):
        return {str(index): len(value) for index, value in enumerate(commands)}
    return {name: len(value) for name, value in commands.items()}


def _members_of(
    text: str, i: int, tail_at: int, lengths: dict[str, int]
) -> Iterator[tuple[str, Any]]:
    """The members of the object or array at ``i`` (the command map), decoded one at a time.

    A member whose value's length ``lengths`` knows (once: a repeated name is decoded) comes as
    a :class:`_Slice`, not decoded. Raises ``_Layout`` at the end unless the read tail (at
    ``tail_at``) follows the map.
    """
    close = "}" if text[i] == "{" else "]"
    i = _ws(text, i + 1)
    index = 0
    if text[i] != close:
        while True:
            if close == "}":
                name, i = _key(text, i)
            else:
                name, index = str(index), index + 1
            length = lengths.pop(name, None)
            if length is not None:
                value, i = _Slice(text[i : i + length]), i + length
            else:
                try:
                    value, i = _scan_once(text, i)
                except StopIteration:  # not a value (inside a generator it must not escape)
                    raise _Layout from None
            yield name, value
            del value
            i = _ws(text, i)
            if text[i] == close:
                break
            if text[i] != ",":
                raise _Layout
            i = _ws(text, i + 1)
    end = _ws(text, i + 1)
    if text[end] != "," or _ws(text, end + 1) != tail_at:
        raise _Layout  # the read tail does not follow the command map
