"""The one code -> class table."""

from __future__ import annotations

import pickle

import pytest

from b24async.errors import (
    AccessDenied,
    ApiError,
    AuthError,
    InvalidGrant,
    MethodError,
    OperationTimeLimit,
    PortalError,
    QueryLimitExceeded,
    ServerError,
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


def test_status_for_batched_errors() -> None:
    assert status_for_code("OPERATION_TIME_LIMIT") == 429
    assert status_for_code("ERROR_METHOD_NOT_FOUND") == 404
    assert status_for_code("") == 400
