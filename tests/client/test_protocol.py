"""Sans-I/O protocol: param encoding, query building, response decoding. No event loop."""

from __future__ import annotations

import datetime as dt
import enum
import json
from decimal import Decimal
from urllib.parse import parse_qsl, unquote

import pytest

from b24async.errors import (
    DecodeError,
    MethodError,
    MethodNotFound,
    OperationTimeLimit,
    QueryLimitExceeded,
    TokenExpired,
)
from b24async.protocol import (
    RawResponse,
    build_query,
    decode_response,
    encode_params,
    normalize_method,
)


class Color(enum.Enum):
    RED = "red"


def raw(status: int, body: object, *, text: bytes | None = None) -> RawResponse:
    data = text if text is not None else json.dumps(body).encode()
    return RawResponse(status, {"content-type": "application/json"}, data)


def test_encode_params_converts_python_values() -> None:
    tz = dt.timezone(dt.timedelta(hours=3))
    encoded = encode_params(
        {
            "from": dt.date(2025, 9, 10),
            "at": dt.datetime(2025, 9, 10, 12, 30, tzinfo=tz),
            "color": Color.RED,
            "users": (1, 2),
            "tags": {"b", "a"},
            "price": Decimal("1.50"),
            "ACTIVE": True,
            "nested": {"x": [dt.date(2025, 1, 1)]},
            "off": False,
        }
    )
    assert encoded == {
        "from": "2025-09-10",
        "at": "2025-09-10T12:30:00+03:00",
        "color": "red",
        "users": [1, 2],
        "tags": ["a", "b"],
        "price": "1.50",
        "ACTIVE": "Y",
        "nested": {"x": ["2025-01-01"]},
        "off": "N",
    }


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"at": dt.datetime(2025, 1, 1)}, ValueError),  # naive datetime
        ({"x": object()}, TypeError),
        ({"x": float("nan")}, ValueError),
        ({"x": {(1, 2): 3}}, TypeError),
        ([("a", 1)], TypeError),
    ],
)
def test_encode_params_refuses_what_cannot_be_sent(params: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        encode_params(params)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["", "   ", "user/get", "a?b", "a b"])
def test_normalize_method_rejects_bad_names(name: str) -> None:
    with pytest.raises(ValueError):
        normalize_method(name)


def test_normalize_method_lower_cases() -> None:
    assert normalize_method(" User.Get ") == "user.get"


def test_build_query_is_php_http_build_query() -> None:
    query = build_query(
        {
            "FILTER": {">ID": 5, "ACTIVE": True},
            "users": [1, 2],
            "skip": None,
            "empty": [],
            "s": "a&b",
        }
    )
    pairs = parse_qsl(query)
    assert pairs == [
        ("FILTER[>ID]", "5"),
        ("FILTER[ACTIVE]", "1"),
        ("users[0]", "1"),
        ("users[1]", "2"),
        ("s", "a&b"),
    ]


def test_build_query_keeps_references_readable() -> None:
    query = build_query({"ID": "$result[me][UF_DEPARTMENT][0]"})
    assert query == "ID=$result[me][UF_DEPARTMENT][0]"
    assert unquote(query) == query


def test_decode_success_with_time_block_and_paging() -> None:
    body = {
        "result": [{"ID": "1"}],
        "total": 120,
        "next": 50,
        "time": {
            "start": 1739051124.7759,
            "finish": 1739051124.82087,
            "duration": 0.0449759960174561,
            "processing": 0.0209991931915283,
            "date_start": "2025-02-09T00:45:24+03:00",
            "date_finish": "2025-02-09T00:45:24+03:00",
            "operating_reset_at": 1739051724,
            "operating": 0,
        },
    }
    response = decode_response(raw(200, body), "user.get")
    assert response.result == [{"ID": "1"}]
    assert (response.total, response.next) == (120, 50)
    assert response.time is not None
    assert response.time.operating == 0
    assert response.time.operating_reset_at == 1739051724
    assert response.time.date_start == dt.datetime(
        2025, 2, 9, 0, 45, 24, tzinfo=dt.timezone(dt.timedelta(hours=3))
    )
    assert response.time.operating_reset_datetime == dt.datetime(
        2025, 2, 8, 21, 55, 24, tzinfo=dt.timezone.utc
    )


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (503, "QUERY_LIMIT_EXCEEDED", QueryLimitExceeded),
        (429, "QUERY_LIMIT_EXCEEDED", QueryLimitExceeded),  # pre-2024 status: code wins
        (429, "OPERATION_TIME_LIMIT", OperationTimeLimit),
        (401, "expired_token", TokenExpired),
        (401, "EXPIRED_TOKEN", TokenExpired),
        (404, "ERROR_METHOD_NOT_FOUND", MethodNotFound),
        (400, "", MethodError),
    ],
)
def test_decode_error_classified_by_code(status: int, code: str, cls: type[Exception]) -> None:
    body = {"error": code, "error_description": "text"}
    with pytest.raises(cls) as info:
        decode_response(raw(status, body), "user.get")
    err = info.value
    assert (err.code, err.description, err.status, err.method) == (code, "text", status, "user.get")  # type: ignore[attr-defined]


def test_decode_html_502_keeps_raw_body() -> None:
    page = b"<html><head><title>502 Bad Gateway</title></head></html>"
    with pytest.raises(DecodeError) as info:
        decode_response(RawResponse(502, {"content-type": "text/html"}, page), "user.get")
    assert info.value.raw == page
    assert info.value.status == 502
    assert "502 Bad Gateway" in str(info.value)


def test_decode_json_without_result_or_error() -> None:
    with pytest.raises(DecodeError):
        decode_response(raw(200, {"foo": 1}), "user.get")
