"""A plain call's answer with its result as text: exactly decode_response's, or not read."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from b24async import batchstream, plainread
from b24async.errors import DecodeError
from b24async.protocol import RawResponse, Response, decode_response

pytestmark = pytest.mark.skipif(plainread._result_length is None, reason="no msgspec")

METHOD = "calendar.accessibility.get"
TIME = {
    "start": 1767600000.25,
    "finish": 1767600000.75,
    "duration": 0.5,
    "processing": 0.25,
    "date_start": "2026-01-05T09:00:00+03:00",
    "date_finish": "2026-01-05T09:00:01+03:00",
    "operating": 1.5,
    "operating_reset_at": 1767600600,
}


@pytest.fixture(autouse=True)
def any_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batchstream, "TEXT_MIN_BYTES", 0)


def raw(body: str | bytes, status: int = 200) -> RawResponse:
    return RawResponse(status, {}, body.encode() if isinstance(body, str) else body)


def check_exact(body: str, status: int = 200) -> tuple[str, Response] | None:
    """``result_text`` of ``body``: when not None, its text decodes to decode_response's
    result and the rest is decode_response's."""
    read = plainread.result_text(raw(body, status), METHOD)
    if read is not None:
        text, response = read
        expected = decode_response(raw(body, status), METHOD)
        assert json.loads(text) == expected.result
        assert Response(METHOD, expected.result, response.time, response.total, response.next) == (
            expected
        )
    return read


def test_the_portals_layout_gives_the_results_exact_text() -> None:
    result = {"5": [{"ID": "1", "NAME": "a"}], "7": []}
    body = json.dumps({"result": result, "total": 2, "next": 50, "time": TIME})
    read = check_exact(body)
    assert read is not None
    text, response = read
    assert text == json.dumps(result)
    assert response.result is None and response.total == 2 and response.next == 50
    assert response.time is not None and response.time.duration == 0.5


@pytest.mark.parametrize(
    "body",
    [
        '{"result": {"5": []}}',
        ' \n{ "result" : [1, 2, {"a": "b"}] , "time" : {"duration": 1.0} }\n',
        '{"result": "x"}',
        '{"result": null, "time": null}',
        '{"result": {"5": []}, "extra": {"nested": [1, 2]}, "time": {}}',
    ],
)
def test_other_spacing_and_members_read_the_same(body: str) -> None:
    assert check_exact(body) is not None


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ('{"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many"}', 503),
        ('{"result": {}, "error": "INTERNAL", "error_description": "x"}', 200),
        ('{"time": {}, "result": {"5": []}}', 200),  # result not first
        ('{"result": {"5": []}, "result": {"7": []}}', 200),  # a second result: the last counts
        ('{"result": {"5": []}} trailing', 200),
        ('{"result": {"5": []}', 200),  # cut short
        ('{"result": {"5": []}}', 400),  # not a success status
        ('{"result": {"5": [NaN]}}', 200),  # not JSON to msgspec; the stdlib's to judge
        ("[1, 2]", 200),
        ("{}", 200),
        ("<html>502</html>", 502),
    ],
)
def test_any_other_layout_is_left_to_decode_response(body: str, status: int) -> None:
    assert plainread.result_text(raw(body, status), METHOD) is None


def test_non_ascii_and_small_bodies_are_left_to_decode_response(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert plainread.result_text(raw('{"result": {"5": ["é"]}}'), METHOD) is None
    monkeypatch.setattr(batchstream, "TEXT_MIN_BYTES", 1 << 20)
    assert plainread.result_text(raw('{"result": {"5": []}}'), METHOD) is None


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=("Cs",))),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(st.characters(exclude_categories=("Cs",))), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(
    members=st.dictionaries(
        st.sampled_from(["result", "time", "total", "next", "error", "x"]), json_values, max_size=4
    ),
    indent=st.sampled_from([None, 1]),
)
def test_any_envelope_reads_as_decode_response_or_not_at_all(
    members: dict[str, Any], indent: int | None
) -> None:
    body = json.dumps(members, indent=indent)  # ASCII: non-ASCII text is escaped
    read = check_exact(body)
    if members and next(iter(members)) == "result" and "error" not in members:
        assert read is not None  # the portal's layout is always read


def test_a_body_that_is_not_json_still_raises_decode_responses_error() -> None:
    assert plainread.result_text(raw(b"\xff\xfe not json"), METHOD) is None
    with pytest.raises(DecodeError):
        decode_response(raw(b"\xff\xfe not json"), METHOD)
