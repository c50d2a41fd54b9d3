"""Large batch answers read one command at a time: same outcome as a whole decode, less memory."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import re
import tracemalloc
from collections.abc import Iterator
from typing import Any

import aiohttp
import attrs
import pytest
from aiohttp.base_protocol import BaseProtocol
from hypothesis import given, settings
from hypothesis import strategies as st

from b24async import batchstream, jsonio
from b24async.batch import Command, decode_batch
from b24async.batchcodec import ChunkOutcome
from b24async.batchstream import decode_batch_each, read_batch_each
from b24async.protocol import RawResponse, Response
from b24async.transport import TEXT_MIN_BYTES, read_body


@contextlib.contextmanager
def streaming(min_bytes: int = 0) -> Iterator[None]:
    """Walk answers of any size (the threshold only matters for speed).

    Both sides use the stdlib decoder: a large answer is never given to orjson (see
    b24async.jsonio), which reads integers beyond 64 bits as floats.
    """
    saved, backend = batchstream.STREAM_MIN_BYTES, jsonio.BACKEND
    batchstream.STREAM_MIN_BYTES = min_bytes
    jsonio.use("stdlib")
    try:
        yield
    finally:
        batchstream.STREAM_MIN_BYTES = saved
        jsonio.use(backend)


@contextlib.contextmanager
def text_walking(min_bytes: int = 0) -> Iterator[None]:
    """Answers under 2 MiB walked only when a consumer reads the commands' text (msgspec): the
    large-answer threshold and the JSON decoder (orjson when installed) as shipped."""
    saved = batchstream.TEXT_MIN_BYTES
    batchstream.TEXT_MIN_BYTES = min_bytes
    try:
        yield
    finally:
        batchstream.TEXT_MIN_BYTES = saved


def keep(command: Command, response: Response) -> Response:
    return response


def summary(outcome: ChunkOutcome) -> Any:
    """The outcome as comparable values (errors compare by class and fields)."""
    errors = {
        name: (type(e), e.code, e.description, e.status, e.method)
        for name, e in outcome.errors.items()
    }
    return (
        [(n, r) for n, r in outcome.responses.items()],
        errors,
        outcome.skipped,
        outcome.time,
    )


def whole(body: bytes, chunk: list[Command]) -> Any:
    """What decode_batch makes of ``body``: the outcome, or the exception (class, text)."""
    try:
        return summary(decode_batch(RawResponse(200, {}, body), chunk))
    except Exception as exc:
        return (type(exc), str(exc))


def each(body: bytes, chunk: list[Command], take_text: Any = None) -> Any:
    try:
        return summary(decode_batch_each(RawResponse(200, {}, body), chunk, keep, take_text))
    except Exception as exc:
        return (type(exc), str(exc))


def read_text(command: Command, text: str, response: Response) -> Response | None:
    """A consumer of commands' text: reads it as JSON itself (or declines what is not JSON)."""
    assert response.result is None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return attrs.evolve(response, result=value)


def decline_text(command: Command, text: str, response: Response) -> Response | None:
    return None


async def pause() -> None:
    await asyncio.sleep(0)


def each_async(body: bytes, chunk: list[Command]) -> Any:
    async def run() -> ChunkOutcome:
        return await read_batch_each(RawResponse(200, {}, body), chunk, keep, pause)

    try:
        return summary(asyncio.run(run()))
    except Exception as exc:
        return (type(exc), str(exc))


# -- answers as the portal lays them out, with everything odd the wire allows ----------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)
error_values = st.one_of(
    st.fixed_dictionaries(
        {
            "error": st.sampled_from(
                ["ERROR_CORE", "OPERATION_TIME_LIMIT", "QUERY_LIMIT_EXCEEDED", ""]
            )
        },
        optional={"error_description": st.text(max_size=10)},
    ),
    st.text(max_size=10),
    st.integers(),
)
FATES = ("result", "error", "both", "missing")


@st.composite
def answers(draw: st.DrawFn) -> tuple[bytes, list[Command]]:
    count = draw(st.integers(1, 6))
    numbered = draw(st.booleans())  # names "0".."n-1": PHP may send the maps as lists
    names = [str(i) if numbered else f"c{i}" for i in range(count)]
    chunk = [Command(name, "user.get", {}) for name in names]
    fates = draw(st.lists(st.sampled_from(FATES), min_size=count, max_size=count))
    results = {
        n: draw(json_values) for n, f in zip(names, fates, strict=True) if f in ("result", "both")
    }
    errors = {
        n: draw(error_values) for n, f in zip(names, fates, strict=True) if f in ("error", "both")
    }
    if draw(st.booleans()):
        results["stranger"] = draw(json_values)  # a name nobody asked for
    times = {n: {"start": 1.5, "duration": draw(st.floats(0, 5))} for n in results}
    totals = {n: draw(st.integers(0, 99)) for n in results if draw(st.booleans())}
    nexts = {
        n: draw(st.integers(0, 99) | st.text(max_size=3)) for n in results if draw(st.booleans())
    }

    def php(value: dict[str, Any]) -> Any:
        if not value:
            return draw(st.sampled_from([[], {}]))  # PHP: an empty map is []
        keys = list(value)
        if numbered and keys == [str(i) for i in range(len(keys))] and draw(st.booleans()):
            return [value[k] for k in keys]  # PHP: a map keyed 0..n-1 is a list
        return value

    inner = {
        "result": php(results),
        "result_error": php(errors),
        "result_total": php(totals),
        "result_next": php(nexts),
        "result_time": php(times),
    }
    for key in draw(st.lists(st.sampled_from(list(inner)[1:]), unique=True, max_size=4)):
        del inner[key]  # a map the answer leaves out
    document: dict[str, Any] = {"result": inner}
    if draw(st.booleans()):
        document["time"] = {"start": 1.0, "finish": 2.0, "operating": 0.5}
    indent = draw(st.sampled_from([None, 0, 1, "\t", " \r\n"]))
    separators = draw(st.sampled_from([None, (",", ":"), (" ,", " : ")]))
    text = json.dumps(
        document, indent=indent, separators=separators, ensure_ascii=draw(st.booleans())
    )
    return text.encode(), chunk


@settings(max_examples=300, deadline=None)
@given(answers())
def test_a_walked_answer_gives_exactly_the_whole_decode(
    answer: tuple[bytes, list[Command]],
) -> None:
    body, chunk = answer
    with streaming():
        expected = repr(whole(body, chunk))
        assert repr(each(body, chunk)) == expected
        assert repr(each_async(body, chunk)) == expected
        # Commands handed on as text slices (msgspec installed), read or declined
        assert repr(each(body, chunk, read_text)) == expected
        assert repr(each(body, chunk, decline_text)) == expected
    # Small answers walked for their text (as shipped): the whole decode's outcome, exactly,
    # but for jsonio's one documented difference: orjson reads an integer beyond 64 bits as a
    # float, where the walk (like the stdlib, and the walk of a large answer) keeps it exact.
    with text_walking():
        walked = repr(each(body, chunk, read_text))
        assert repr(each(body, chunk, decline_text)) == walked
        expected = repr(whole(body, chunk))
        if walked != expected:
            assert jsonio.BACKEND == "orjson" and re.search(rb"\d{19}", body)
            with streaming(min_bytes=batchstream.STREAM_MIN_BYTES):  # the stdlib decoder
                assert walked == repr(whole(body, chunk))


@settings(max_examples=150, deadline=None)
@given(answers())
def test_portal_shaped_answers_are_walked_not_decoded_whole(
    answer: tuple[bytes, list[Command]],
) -> None:
    """The walk handles every portal-shaped answer itself (no fallback to a whole decode)."""
    body, chunk = answer
    if b'"result_' not in body.split(b'"result"', 2)[-1]:
        return  # no map after the commands (all left out): decoded whole, by design
    raw = RawResponse(200, {}, body)
    with streaming():
        walk = batchstream._Walk.start(raw, chunk, keep)
        assert walk is not None
        while walk.step():
            pass
        assert repr(summary(walk.outcome())) == repr(whole(body, chunk))
    if body.isascii() and batchstream._value_lengths is not None:  # msgspec installed
        with text_walking():  # a small answer, walked for a consumer of its commands' text
            walk = batchstream._Walk.start(RawResponse(200, {}, body), chunk, keep, read_text)
            assert walk is not None
            while walk.step():
                pass
        # The stdlib's values (orjson's one difference is pinned by the test above)
        with streaming(min_bytes=batchstream.STREAM_MIN_BYTES):
            assert repr(summary(walk.outcome())) == repr(whole(body, chunk))


ODD = [
    b"",
    b"<html>502 Bad Gateway</html>",
    b"[1, 2]",
    b'{"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}',
    b'{"result": {"result": {"a": 1}, "result_error": {}}, "error": "ERROR_CORE"}',
    b'{"result": {"result": {"a": 1}, "result_error": {}}, "result": {"result": {"a": 2}}}',
    b'{"result": {"result": {"a": 1}, "result_error": {}, "result": {"a": 3}}}',
    b'{"result": {"result_error": {"a": "x"}, "result": {"a": 1}}}',
    b'{"time": {}, "result": {"result": {"a": 1}, "result_error": []}}',
    b'{"result": {"result": {"a": 1}, "x": 1, "result_error": {}}}',
    b'{"result": {"result": {"a": 1, "a": 2}, "result_error": []}}',
    b'{"result": {"result": {"a": {"result_error": {"a": 1}}}, "result_error": []}}',
    b'{"result": {"result": {"a": 1}}, "time": {"result_error": {"a": "x"}}}',
    b'{"result": {"result": {"a": "\\"result_error\\": {}}"}, "result_error": {}}}',
    b'{"result": {"result": {"a": 1}, "result_error": {}}',  # cut short
    b'{"result": {"result": {"a": 1,}, "result_error": {}}}',  # broken inside the map
    b'{"result": {"result": {"a": tru}, "result_error": {}}}',
    b'{"result": {"result": {"a": 1}, "result_error": {}}} extra',
    b'{"result": {"result": null, "result_error": {}}}',
    b'{"result": {"result": "a", "result_error": {}}}',
    b'{"result": [], "time": {}}',
    b'\xef\xbb\xbf{"result": {"result": {"a": 1}, "result_error": {}}}',  # UTF-8 BOM
    '{"result": {"result": {"a": "\u0416"}, "result_error": {}}}'.encode("utf-16"),
    b'{"result": {"result": {"a": "\xff"}, "result_error": {}}}',  # not UTF-8
    b'{"result": {"result": {"a": "\xed\xa0\x80"}, "result_error": {}}}',  # a lone surrogate
    b'{"result": {"result": {"a": NaN}, "result_error": {}}}',
    # Repeated names: the first one's slice would have the last one's length
    b'{"result": {"result": {"a": [1, 2], "b": 0, "a": [3]}, "result_error": {}}}',
    b'{"result": {"result": {"a": [3], "b": 0, "a": [1, 2]}, "result_error": {}}}',
    b'{"result": {"result": {"a": 12, "a": 1}, "result_error": {}}}',
    b'{"result": {"result": {"a": 1, "a": 12}, "result_error": {}}}',
    b'{"result": {"result": {"a": "x", "a": "y"}, "result_error": {}}}',
    b'{"result": {"result": {"a" : [1] , "b":\n{"c": 1}\t}, "result_error": {}}}',
    b'{"result": {"result": [[1], {"x": "\\u0416"}], "result_error": []}}',  # a list: "0", "1"
    b'{"result": {"result": {"a": "\\ud800"}, "result_error": {}}}',  # escaped lone surrogate
    b'{"result": {"result": {"a": 1e400}, "result_error": {}}}',
]


@pytest.mark.parametrize("body", ODD)
def test_odd_answers_give_the_whole_decodes_outcome_or_error(body: bytes) -> None:
    chunk = [Command(name, "user.get", {}) for name in ("a", "b", "0", "1")]
    with streaming():
        expected = repr(whole(body, chunk))  # repr: NaN is not equal to itself
        assert repr(each(body, chunk)) == expected
        assert repr(each_async(body, chunk)) == expected
        assert repr(each(body, chunk, read_text)) == expected
        assert repr(each(body, chunk, decline_text)) == expected
    with text_walking():
        expected = repr(whole(body, chunk))
        assert repr(each(body, chunk, read_text)) == expected
        assert repr(each(body, chunk, decline_text)) == expected


def test_an_answer_below_the_threshold_is_decoded_whole() -> None:
    body = b'{"result": {"result": {"a": 1}, "result_error": []}}'
    raw = RawResponse(200, {}, body)
    assert batchstream._Walk.start(raw, [Command("a", "user.get", {})], keep) is None
    assert raw.content is body  # no text made


def test_take_is_called_as_each_command_is_decoded_and_its_value_kept() -> None:
    chunk = [Command(n, "user.get", {}) for n in ("a", "b", "c")]
    body = json.dumps(
        {"result": {"result": {"a": [1], "c": [3]}, "result_error": {"b": {"error": "X"}}}}
    ).encode()
    seen: list[str] = []

    def take(command: Command, response: Response) -> Response:
        seen.append(command.name)
        return Response(response.method, len(response.result))

    with streaming():
        outcome = decode_batch_each(RawResponse(200, {}, body), chunk, take)
    assert seen == ["a", "c"]
    assert {n: r.result for n, r in outcome.responses.items()} == {"a": 1, "c": 1}
    assert list(outcome.errors) == ["b"]


# -- memory: one command's tree at a time ------------------------------------------------------


def big_answer(
    commands: int = 100, users: int = 10, entries: int = 30
) -> tuple[str, list[Command]]:
    """An availability-like answer: many small objects per command (~3x its size decoded)."""
    entry = {
        "ID": "1234",
        "NAME": "Weekly sync",
        "DATE_FROM_TS_UTC": "1767600000",
        "DATE_TO_TS_UTC": "1767603600",
        "ACCESSIBILITY": "busy",
        "IMPORTANCE": "normal",
        "FROM_HR": False,
    }
    result = {
        str(c): {
            str(u): [dict(entry, ID=str(c * 10_000 + u * 100 + i)) for i in range(entries)]
            for u in range(users)
        }
        for c in range(commands)
    }
    names = [str(c) for c in range(commands)]
    document = {
        "result": {
            "result": result,
            "result_error": [],
            "result_total": [],
            "result_next": [],
            "result_time": {n: {"start": 1.0, "duration": 0.1} for n in names},
        },
        "time": {"start": 1.0},
    }
    return json.dumps(document), [Command(n, "calendar.accessibility.get", {}) for n in names]


def peak_of(run: Any) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        run()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def test_a_large_answer_is_never_decoded_whole_at_once() -> None:
    """Walking holds about one command's decoded tree; a whole decode holds every command's.

    Memory, not time: tracemalloc counts the bytes allocated, whatever the machine's load.
    """
    text, chunk = big_answer()
    size = len(text)

    def drop(command: Command, response: Response) -> Response:
        return Response(response.method, None, response.time)

    def walked() -> None:
        raw = RawResponse.from_text(200, {}, text, size)  # as the transport reads it
        outcome = decode_batch_each(raw, chunk, drop)
        assert len(outcome.responses) == len(chunk)

    def at_once() -> None:
        outcome = decode_batch(RawResponse.from_text(200, {}, text, size), chunk)
        assert len(outcome.responses) == len(chunk)

    with streaming(min_bytes=1):
        walk_peak = peak_of(walked)
    whole_peak = peak_of(at_once)
    # A command is 1/100 of the answer: its tree ~3.6% of the answer's size, all of them ~3.6x.
    assert whole_peak > size  # the premise: the decoded answer outweighs its text
    assert walk_peak < 0.15 * size


# -- the transport reads a large body as text ---------------------------------------------------


async def read(pieces: list[bytes], turn: asyncio.Lock | None = None) -> RawResponse:
    loop = asyncio.get_running_loop()
    content = aiohttp.StreamReader(BaseProtocol(loop), 2**30, loop=loop)  # no flow control
    for piece in pieces:
        content.feed_data(piece)
    content.feed_eof()
    return await read_body(200, {"x": "y"}, content, turn)


def split(body: bytes, size: int = 65_537) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


async def test_a_small_body_is_kept_as_bytes() -> None:
    raw = await read([b'{"result": 1}'])
    assert raw.content == b'{"result": 1}' and raw.size == 13


async def test_a_large_utf8_body_is_read_as_text_equal_to_its_bytes() -> None:
    body = json.dumps({"result": ["Жёлтый день " * 10] * 20_000}, ensure_ascii=False).encode()
    assert len(body) > 3 * TEXT_MIN_BYTES
    raw = await read(split(body))  # pieces cut inside two-byte characters
    assert isinstance(raw.content, str)
    assert raw.content == body.decode() and raw.body == body and raw.size == len(body)
    assert raw == RawResponse(200, {"x": "y"}, body)


@pytest.mark.parametrize(
    "body",
    [
        b'{"result": "' + b"x" * (2 * TEXT_MIN_BYTES) + b'\xff"}',  # invalid UTF-8 late
        b'{"result": "' + b"x" * (2 * TEXT_MIN_BYTES) + b"\xd0",  # ends inside a character
        '{"result": "Ж"}'.encode("utf-16") * (TEXT_MIN_BYTES // 8),  # another encoding
        b'{"result": "' + b"\xed\xa0\x80" * TEXT_MIN_BYTES + b'"}',  # lone surrogates
    ],
)
async def test_a_body_that_is_not_plain_utf8_is_kept_exactly(body: bytes) -> None:
    raw = await read(split(body))
    assert raw.body == body and raw.size == len(body)


async def test_a_large_body_waits_for_the_previous_one_to_be_decoded() -> None:
    turn = asyncio.Lock()
    body = b'{"result": "' + b"x" * (2 * TEXT_MIN_BYTES) + b'"}'
    first = await read(split(body), turn)
    assert turn.locked()  # until the engine has decoded it
    second = asyncio.ensure_future(read(split(body), turn))
    await asyncio.sleep(0.01)
    assert not second.done()
    first.done()
    first.done()  # idempotent
    raw = await second
    assert raw.body == body and turn.locked()
    del raw, second  # dropped without done(): the turn is not lost
    await asyncio.sleep(0)  # the loop lets go of the finished task
    gc.collect()
    assert not turn.locked()


def test_an_error_of_take_is_the_callers_not_a_malformed_answer() -> None:
    chunk = [Command("a", "user.get", {})]
    body = b'{"result": {"result": {"a": 1}, "result_error": []}}'

    def take(command: Command, response: Response) -> Response:
        raise ValueError("the consumer's own bug")

    with streaming(), pytest.raises(ValueError, match="consumer's own bug"):
        decode_batch_each(RawResponse(200, {}, body), chunk, take)


def test_without_msgspec_no_command_comes_as_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """As when msgspec is not installed: every command is decoded and goes through ``take``."""
    monkeypatch.setattr(batchstream, "_value_lengths", None)
    chunk = [Command("a", "user.get", {}), Command("b", "user.get", {})]
    body = b'{"result": {"result": {"a": [1], "b": {"c": 2}}, "result_error": []}}'

    def refuse(command: Command, text: str, response: Response) -> Response | None:
        raise AssertionError("no text without msgspec")

    with streaming():
        assert repr(each(body, chunk, refuse)) == repr(whole(body, chunk))


def test_with_msgspec_a_command_comes_as_its_exact_text() -> None:
    pytest.importorskip("msgspec")
    chunk = [Command("a", "user.get", {}), Command("b", "user.get", {})]
    body = b'{"result": {"result": {"a" : [1, "x"] ,\n "b":{"c": 2}}, "result_error": []}}'
    texts: dict[str, str] = {}

    def record(command: Command, text: str, response: Response) -> Response | None:
        texts[command.name] = text
        return read_text(command, text, response)

    with streaming():
        assert repr(each(body, chunk, record)) == repr(whole(body, chunk))
    assert texts == {"a": '[1, "x"]', "b": '{"c": 2}'}


SMALL = b'{"result": {"result": {"a": [1], "b": {"c": 2}}, "result_error": []}, "time": {}}'
SMALL_CHUNK = [Command("a", "user.get", {}), Command("b", "user.get", {})]


def walked_for_text(body: bytes) -> bool:
    """Whether a small answer is walked for a consumer of text (its text made, not bytes)."""
    raw = RawResponse(200, {}, body)
    walk = batchstream._Walk.start(raw, SMALL_CHUNK, keep, read_text)
    assert (walk is not None) == (raw.content is not body)  # no text made unless walked
    return walk is not None


def test_a_small_answer_is_walked_for_its_text_from_the_text_threshold() -> None:
    pytest.importorskip("msgspec")
    texts: list[str] = []

    def record(command: Command, text: str, response: Response) -> Response | None:
        texts.append(text)
        return read_text(command, text, response)

    with text_walking(len(SMALL)):
        assert walked_for_text(SMALL)
        assert repr(each(SMALL, SMALL_CHUNK, record)) == repr(whole(SMALL, SMALL_CHUNK))
        assert texts == ["[1]", '{"c": 2}']
        assert not batchstream._Walk.start(RawResponse(200, {}, SMALL), SMALL_CHUNK, keep)
    with text_walking(len(SMALL) + 1):
        assert not walked_for_text(SMALL)


def test_a_small_answer_is_decoded_whole_without_msgspec_or_ascii(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Slices need ASCII text (and msgspec): otherwise the walk has nothing to offer."""
    pytest.importorskip("msgspec")
    utf8 = SMALL.replace(b"[1]", '["Ж"]'.encode())
    with text_walking():
        assert walked_for_text(SMALL)
        assert not walked_for_text(utf8)
        assert repr(each(utf8, SMALL_CHUNK, read_text)) == repr(whole(utf8, SMALL_CHUNK))
        monkeypatch.setattr(batchstream, "_value_lengths", None)
        assert not walked_for_text(SMALL)


def test_a_small_answer_walked_for_text_keeps_integers_beyond_64_bits_exact() -> None:
    """jsonio's one documented difference goes the stdlib's way: orjson would read a float."""
    pytest.importorskip("msgspec")
    body = (
        b'{"result": {"result": {"a": [12345678901234567890123], "b": {"c": 2}}, '
        b'"result_error": {"x": -9223372036854775809}}}'
    )
    chunk = [*SMALL_CHUNK, Command("x", "user.get", {})]
    with text_walking():
        walked = decode_batch_each(RawResponse(200, {}, body), chunk, keep, read_text)
        assert walked.responses["a"].result == [12345678901234567890123]
        assert "-9223372036854775809" in str(walked.errors["x"])
        with streaming(min_bytes=batchstream.STREAM_MIN_BYTES):  # the stdlib's whole decode
            assert repr(summary(walked)) == repr(whole(body, chunk))
