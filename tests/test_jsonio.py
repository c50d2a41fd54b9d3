"""``b24async.jsonio``: orjson when installed, the stdlib otherwise, with the same results."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from b24async import jsonio
from b24async.errors import DecodeError
from b24async.protocol import RawResponse, decode_response

try:
    import orjson  # noqa: F401

    HAVE_ORJSON = True
except ImportError:
    HAVE_ORJSON = False

BACKENDS = [
    "stdlib",
    pytest.param("orjson", marks=pytest.mark.skipif(not HAVE_ORJSON, reason="no orjson")),
]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test once per decoder, and restore the default afterwards."""
    before = jsonio.BACKEND
    jsonio.use(request.param)
    try:
        yield request.param
    finally:
        jsonio.use(before)


DOCUMENTS = [
    b'{"result": {"5": [{"ID": "1", "NAME": "\\u0418\\u0432\\u0430\\u043d"}]}, "total": 1}',
    '{"result": "Иван"}'.encode(),
    b'{"result": [1.5, -0, 1e300, 9223372036854775807, -9223372036854775808]}',
    b'{"result": NaN}',  # not JSON, but the stdlib reads it: so must we, with either decoder
    b'\xef\xbb\xbf{"result": 1}',  # a byte-order mark
    b'{"a": 1, "a": 2}',  # duplicate keys: the last wins
    b'{"s": "\\ud800"}',  # a lone surrogate
]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_both_decoders_give_the_stdlib_value(backend: str, document: bytes) -> None:
    assert backend == jsonio.BACKEND
    expected = json.loads(document)
    got = jsonio.loads(document)
    assert repr(got) == repr(expected)  # repr: NaN != NaN, and -0 vs 0 types show


@pytest.mark.parametrize("document", [b"", b"<html>502</html>", b'{"a": ', b"\xff\xfe{}"])
def test_both_decoders_refuse_what_the_stdlib_refuses(backend: str, document: bytes) -> None:
    with pytest.raises(ValueError):
        json.loads(document)
    with pytest.raises(ValueError):
        jsonio.loads(document)
    raw = RawResponse(502, {}, document)
    with pytest.raises(DecodeError):
        decode_response(raw, "user.get")


def test_integers_beyond_64_bits_are_the_one_documented_difference(backend: str) -> None:
    value = jsonio.loads(b"[12345678901234567890123]")[0]
    # orjson reads them as floats (documented in b24async.jsonio); the portal's IDs and counts
    # are far below 2**63.
    assert value == (12345678901234567890123 if backend == "stdlib" else 1.2345678901234568e22)


def test_a_big_answer_decodes_alike_and_leaves_the_gc_as_it_was(backend: str) -> None:
    rows = [{"ID": str(i), "NAME": f"user {i}", "ACTIVE": True} for i in range(45_000)]
    body = json.dumps({"result": rows, "total": 45_000}).encode()
    assert len(body) > jsonio.ORJSON_MAX_BYTES  # the stdlib path of the orjson backend too
    assert jsonio.loads(body) == json.loads(body)
    assert gc.isenabled()
    gc.disable()
    try:
        jsonio.loads(body)
        assert not gc.isenabled()  # an application's choice is left alone
    finally:
        gc.enable()


# One list row per user: lists are always tracked by the collector (a dict of strings is not).
KEPT_DOC = json.dumps({"result": [{"ID": str(i), "DEP": [i, 1]} for i in range(3_000)]}).encode()


# Some interpreters keep objects of their own frozen from startup (CPython 3.12.1: 375); kept()
# never thaws them, so it ages nothing there.
FROZEN_AT_START = gc.get_freeze_count()
AGES = jsonio.CAN_AGE and FROZEN_AT_START == 0


def _in_oldest_generation(value: object) -> bool:
    return any(o is value for o in gc.get_objects(generation=2))


@pytest.mark.skipif(not AGES, reason="kept() is a no-op on this interpreter")
def test_kept_answers_skip_the_young_generations(backend: str) -> None:
    assert len(KEPT_DOC) >= jsonio.BIG
    gc.collect()  # counts at zero: the young collections below cannot reach the oldest one
    with jsonio.kept():
        kept = jsonio.loads(KEPT_DOC)
        small = jsonio.loads(b'{"result": [[1]]}')  # under BIG: parsed as usual
    fresh = jsonio.loads(KEPT_DOC)
    assert gc.isenabled() and gc.get_freeze_count() == FROZEN_AT_START
    assert _in_oldest_generation(kept["result"][0]["DEP"])
    assert _in_oldest_generation(kept["result"][-1]["DEP"])
    assert not _in_oldest_generation(small["result"][0])
    assert not _in_oldest_generation(fresh["result"][0]["DEP"])  # outside kept(): young
    assert kept == fresh == json.loads(KEPT_DOC)


def test_a_decoder_of_its_own_ages_what_it_built_inside_kept() -> None:
    gc.collect()
    with jsonio.gc_paused():
        outside = [[i] for i in range(1_000)]
        jsonio.age_if_kept()  # not inside kept(): nothing moves
    assert not _in_oldest_generation(outside[0])
    with jsonio.kept(), jsonio.gc_paused():
        inside = [[i] for i in range(1_000)]
        jsonio.age_if_kept()  # everything alive moves: `outside` too
    assert _in_oldest_generation(inside[0]) is AGES
    assert _in_oldest_generation(outside[0]) is AGES


def test_promote_young_moves_what_is_alive_wherever_it_can() -> None:
    gc.collect()
    with jsonio.gc_paused():
        built = [[i] for i in range(1_000)]
        jsonio.promote_young()  # no kept() needed: the caller knows its values are long-lived
    assert _in_oldest_generation(built[0]) is AGES
    assert gc.isenabled() and gc.get_freeze_count() == FROZEN_AT_START


@pytest.mark.skipif(AGES, reason="kept() ages answers on this interpreter")
def test_kept_is_a_no_op_where_freezing_walks_every_object_or_would_thaw() -> None:
    gc.collect()
    with jsonio.kept():
        kept = jsonio.loads(KEPT_DOC)
    assert gc.isenabled() and gc.get_freeze_count() == FROZEN_AT_START
    assert not _in_oldest_generation(kept["result"][0]["DEP"])


def _frozen(value: object) -> bool:
    return not any(o is value for o in gc.get_objects())  # in no generation: permanent


def test_kept_leaves_an_applications_frozen_objects_frozen() -> None:
    marker: list[object] = []  # a tracked container of the application's
    gc.collect()  # counts at zero: the young collections below cannot reach the oldest one
    with jsonio.kept():  # the application freezes after the read began
        gc.freeze()
        try:
            kept = jsonio.loads(KEPT_DOC)
            assert _frozen(marker)
            assert not _in_oldest_generation(kept["result"][0]["DEP"])
        finally:
            gc.unfreeze()
    gc.freeze()  # frozen before the read began: kept() does nothing at all
    try:
        with jsonio.kept():
            kept = jsonio.loads(KEPT_DOC)
        assert _frozen(marker)
        assert not _in_oldest_generation(kept["result"][0]["DEP"])
    finally:
        gc.unfreeze()
    assert not _frozen(marker)


def test_kept_leaves_a_disabled_collector_alone() -> None:
    gc.collect()
    gc.disable()
    try:
        with jsonio.kept():
            kept = jsonio.loads(KEPT_DOC)
        assert not gc.isenabled()
        assert not _in_oldest_generation(kept["result"][0]["DEP"])
    finally:
        gc.enable()


def test_use_refuses_unknown_names() -> None:
    with pytest.raises(ValueError, match="unknown JSON backend"):
        jsonio.use("simdjson")


@pytest.mark.skipif(HAVE_ORJSON, reason="orjson is installed")
def test_use_orjson_without_it_says_how_to_get_it() -> None:
    with pytest.raises(ImportError, match=r"b24async\[speed\]"):
        jsonio.use("orjson")


def test_the_environment_can_force_the_stdlib() -> None:
    code = "from b24async import jsonio; print(jsonio.BACKEND)"
    env = {"B24ASYNC_JSON": "stdlib", "PATH": ""}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "stdlib"
    out = subprocess.run(
        [sys.executable, "-c", code], env={"PATH": ""}, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ("orjson" if HAVE_ORJSON else "stdlib")
