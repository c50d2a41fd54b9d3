"""The one code -> class table."""

from __future__ import annotations

import base64
import pickle
from typing import Any

import pytest

from b24async import errors
from b24async.errors import (
    AccessDenied,
    ApiError,
    AuthError,
    B24Error,
    ClientClosed,
    DecodeError,
    InvalidGrant,
    MethodError,
    OperationTimeLimit,
    PortalError,
    QueryLimitExceeded,
    RedirectError,
    ServerError,
    TransportError,
    error_class_for,
    make_api_error,
    status_for_code,
)


@pytest.mark.parametrize(
    ("code", "status", "cls"),
    [
        ("INVALID_CREDENTIALS", 401, AuthError),
        ("INVALID_CREDENTIALS", 403, AuthError),
        ("insufficient_scope", 401, AccessDenied),
        ("invalid_grant", 400, InvalidGrant),
        ("PORTAL_DELETED", 410, PortalError),
        ("OVERLOAD_LIMIT", 503, PortalError),  # a manual block is not a bucket overflow
        ("INTERNAL_SERVER_ERROR", 500, ServerError),
        ("ERROR_CORE", 400, MethodError),
        ("SOMETHING_NEW", 400, ApiError),
        ("SOMETHING_NEW", 502, ServerError),
        ("SOMETHING_NEW", 503, ServerError),  # unknown code: not proof of a limit
        ("SOMETHING_NEW", 403, AccessDenied),
    ],
)
def test_classification(code: str, status: int, cls: type[ApiError]) -> None:
    assert error_class_for(code, status) is cls


def test_unknown_code_is_still_an_api_error_with_details() -> None:
    err = make_api_error("NEW_CODE", "desc", status=418, method="x.y", extra={"argument": "ID"})
    assert type(err) is ApiError
    assert (err.code, err.description, err.status, err.method) == ("NEW_CODE", "desc", 418, "x.y")
    assert err.extra == {"argument": "ID"}
    assert "NEW_CODE" in str(err) and "x.y" in str(err)


def test_limit_errors_share_a_base() -> None:
    assert issubclass(QueryLimitExceeded, ApiError)
    assert issubclass(OperationTimeLimit, ApiError)


def test_errors_pickle() -> None:
    err = make_api_error("expired_token", "gone", status=401, method="user.get")
    clone = pickle.loads(pickle.dumps(err))
    assert type(clone) is type(err) and clone.code == err.code and clone.status == 401


ERROR_CLASSES = [
    getattr(errors, name)
    for name in errors.__all__
    if isinstance(getattr(errors, name), type) and issubclass(getattr(errors, name), BaseException)
]


def _sample(cls: type[BaseException]) -> B24Error:
    """An instance of ``cls`` with every attribute away from its default."""
    if issubclass(cls, OperationTimeLimit):
        return cls("OPERATION_TIME_LIMIT", "blocked", status=429, method="x.get", reset_at=12.5)
    if issubclass(cls, ApiError):
        return cls("CODE", "text", status=418, method="x.get", extra={"argument": "ID", "n": [1]})
    if cls is DecodeError:
        return cls("not JSON", raw=b"<html>502</html>", status=502, method="x.get")
    if cls is TransportError:
        return cls("reset", method="x.get", sent=False)
    if cls is ClientClosed:
        return cls("closed while sending", sent=True)
    if cls is RedirectError:
        return cls("too many redirects", location="https://b.example", status=302, method="x.get")
    if cls is B24Error:
        return cls("plain")
    raise AssertionError(f"add a sample for {cls.__name__}: every error must pickle whole")


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_every_error_pickles_with_all_attributes(cls: type[B24Error]) -> None:
    original = _sample(cls)
    clone: Any = pickle.loads(pickle.dumps(original))
    assert type(clone) is cls
    assert clone.args == original.args
    assert clone.__dict__ == original.__dict__  # extra, reset_at, raw, status, method, sent...
    assert (str(clone), repr(clone)) == (str(original), repr(original))
    assert clone.may_have_applied == original.may_have_applied


def test_pickled_errors_keep_the_fields_that_used_to_be_dropped() -> None:
    api = make_api_error(
        "ERROR_ARGUMENT", "bad", status=400, method="x.add", extra={"argument": "ID"}
    )
    assert pickle.loads(pickle.dumps(api)).extra == {"argument": "ID"}
    limit = OperationTimeLimit("OPERATION_TIME_LIMIT", "", status=429, reset_at=99.0)
    assert pickle.loads(pickle.dumps(limit)).reset_at == 99.0
    decode = pickle.loads(pickle.dumps(DecodeError("x", raw=b"raw", status=502, method="m")))
    assert (decode.raw, decode.status, decode.method) == (b"raw", 502, "m")
    transport = pickle.loads(pickle.dumps(TransportError("x", method="m", sent=False)))
    assert (transport.method, transport.sent, transport.may_have_applied) == ("m", False, False)
    assert pickle.loads(pickle.dumps(ClientClosed(sent=True))).may_have_applied


def test_operating_limit_copy_with_reset_at() -> None:
    limit = OperationTimeLimit("OPERATION_TIME_LIMIT", "d", status=429, method="m", extra={"a": 1})
    copy = limit.with_reset_at(5.0)
    assert copy is not limit and limit.reset_at is None and copy.reset_at == 5.0
    assert (copy.code, copy.description, copy.status, copy.method, copy.extra) == (
        "OPERATION_TIME_LIMIT",
        "d",
        429,
        "m",
        {"a": 1},
    )


def test_status_for_batched_errors() -> None:
    assert status_for_code("OPERATION_TIME_LIMIT") == 429
    assert status_for_code("ERROR_METHOD_NOT_FOUND") == 404
    assert status_for_code("") == 400


# Errors pickled by b24async before errors.py became a package (errors/base.py, api.py,
# table.py): TokenExpired, OperationTimeLimit, ClientClosed, TransportError, DecodeError,
# RedirectError, WrongAuthType, each with its attributes (pickle protocol 2, base64).
OLD_PICKLE = (
    "gAJdcQAoY2IyNGFzeW5jLmVycm9ycwpfcmVzdG9yZQpxAWNiMjRhc3luYy5lcnJvcnMKVG9rZW5FeHBpcmVkCnECWA0A"
    "AABleHBpcmVkX3Rva2VucQNYBAAAAGdvbmVxBIZxBYZxBlJxB31xCChYBAAAAGNvZGVxCWgDWAsAAABkZXNjcmlwdGlv"
    "bnEKaARYBgAAAHN0YXR1c3ELTZEBWAYAAABtZXRob2RxDFgIAAAAdXNlci5nZXRxDVgFAAAAZXh0cmFxDn1xD3ViaAFj"
    "YjI0YXN5bmMuZXJyb3JzCk9wZXJhdGlvblRpbWVMaW1pdApxEFgUAAAAT1BFUkFUSU9OX1RJTUVfTElNSVRxEVgHAAAA"
    "YmxvY2tlZHEShnEThnEUUnEVfXEWKGgJaBFoCmgSaAtNrQFoDFgFAAAAeC5nZXRxF2gOfXEYWAgAAAByZXNldF9hdHEZ"
    "R0ApAAAAAAAAdWJoAWNiMjRhc3luYy5lcnJvcnMKQ2xpZW50Q2xvc2VkCnEaWBQAAABjbG9zZWQgd2hpbGUgc2VuZGlu"
    "Z3EbhXEchnEdUnEefXEfKFgEAAAAc2VudHEgiFgGAAAAcmVzdWx0cSFOdWJoAWNiMjRhc3luYy5lcnJvcnMKVHJhbnNw"
    "b3J0RXJyb3IKcSJYBQAAAHJlc2V0cSOFcSSGcSVScSZ9cScoaAxoF2ggiXViaAFjYjI0YXN5bmMuZXJyb3JzCkRlY29k"
    "ZUVycm9yCnEoWAgAAABub3QgSlNPTnEphXEqhnErUnEsfXEtKFgDAAAAcmF3cS5jX2NvZGVjcwplbmNvZGUKcS9YBgAA"
    "ADxodG1sPnEwWAYAAABsYXRpbjFxMYZxMlJxM2gLTfYBaAxoF3ViaAFjYjI0YXN5bmMuZXJyb3JzClJlZGlyZWN0RXJy"
    "b3IKcTRYBQAAAG1vdmVkcTWFcTaGcTdScTh9cTkoWAgAAABsb2NhdGlvbnE6WBEAAABodHRwczovL2IuZXhhbXBsZXE7"
    "aAtNLgFoDGgXdWJoAWNiMjRhc3luYy5lcnJvcnMKV3JvbmdBdXRoVHlwZQpxPFgPAAAAV1JPTkdfQVVUSF9UWVBFcT1Y"
    "BwAAAHdlYmhvb2txPoZxP4ZxQFJxQX1xQihoCWg9aApoPmgLTZMBaAxYCgAAAGV2ZW50LmJpbmRxQ2gOfXFEdWJlLg=="
)


def test_errors_pickled_before_the_package_split_still_load() -> None:
    old = pickle.loads(base64.b64decode(OLD_PICKLE))
    assert [type(e).__name__ for e in old] == [
        "TokenExpired",
        "OperationTimeLimit",
        "ClientClosed",
        "TransportError",
        "DecodeError",
        "RedirectError",
        "WrongAuthType",
    ]
    expired, limit, closed, transport, decode, redirect, wrong = old
    assert (expired.code, expired.status, expired.method) == ("expired_token", 401, "user.get")
    assert isinstance(expired, errors.TokenExpired) and limit.reset_at == 12.5
    assert closed.sent and not transport.sent and decode.raw == b"<html>"
    assert redirect.location == "https://b.example" and isinstance(wrong, errors.WrongAuthType)
    new = pickle.dumps(ClientClosed(sent=True), protocol=2)
    assert b"b24async.errors\n_restore" in new and b"b24async.errors\nClientClosed" in new


@pytest.mark.parametrize("name", errors.__all__)
def test_error_names_keep_their_module_for_pickles(name: str) -> None:
    # New pickles must name b24async.errors too, so that older versions can read them.
    assert getattr(errors, name).__module__ == "b24async.errors"
