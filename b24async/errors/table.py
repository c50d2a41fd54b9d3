"""The one table: a server ``error`` code (or, failing that, the HTTP status) to its class.

Classification follows the facts file (§6): the code first (case-insensitive), the HTTP status
only when the code is unknown. Part of :mod:`b24async.errors` (import from there).
"""

from __future__ import annotations

from typing import Any

from b24async.errors.api import (
    AccessDenied,
    ApiError,
    AuthError,
    BatchError,
    InvalidGrant,
    InvalidToken,
    MethodError,
    MethodNotFound,
    OperationTimeLimit,
    PortalError,
    QueryLimitExceeded,
    ServerError,
    TokenExpired,
    WrongAuthType,
    WrongLicense,
)

__all__ = ["error_class_for", "make_api_error", "status_for_code"]

# The one table: upper-cased server code -> class. Codes from the facts file §1 and §6.
_BY_CODE: dict[str, type[ApiError]] = {
    "QUERY_LIMIT_EXCEEDED": QueryLimitExceeded,
    "OPERATION_TIME_LIMIT": OperationTimeLimit,
    "EXPIRED_TOKEN": TokenExpired,
    "INVALID_TOKEN": InvalidToken,
    "INVALID_GRANT": InvalidGrant,
    "NO_AUTH_FOUND": AuthError,
    "INVALID_CREDENTIALS": AuthError,
    "INVALID_CLIENT": AuthError,
    "INVALID_REQUEST": AuthError,
    "BAD_VERIFICATION_CODE": AuthError,
    "AUTHORIZATION_ERROR": AuthError,
    "ERROR_OAUTH": AuthError,
    "APPLICATION_NOT_FOUND": AuthError,
    "CONNECTION_ERROR": AuthError,
    "METHOD_CONFIRM_WAITING": AccessDenied,
    "METHOD_CONFIRM_DENIED": AccessDenied,
    "ACCESS_DENIED": AccessDenied,
    "INSUFFICIENT_SCOPE": AccessDenied,
    "INVALID_SCOPE": AccessDenied,
    "USER_ACCESS_ERROR": AccessDenied,
    "WRONG_AUTH_TYPE": WrongAuthType,
    "WRONG_LICENSE": WrongLicense,
    "ERROR_MANIFEST_IS_NOT_AVAILABLE": AccessDenied,
    "ERROR_METHOD_NOT_FOUND": MethodNotFound,
    "ERROR_BATCH_LENGTH_EXCEEDED": BatchError,
    "ERROR_BATCH_METHOD_NOT_ALLOWED": BatchError,
    "OVERLOAD_LIMIT": PortalError,
    "PORTAL_DELETED": PortalError,
    "PAYMENT_REQUIRED": PortalError,
    "INTERNAL_SERVER_ERROR": ServerError,
    "ERROR_UNEXPECTED_ANSWER": ServerError,
    "": MethodError,
    "ERROR_CORE": MethodError,
    "ERROR_ARGUMENT": MethodError,
    "ERROR_NOT_FOUND": MethodError,
    "STATUS_ERROR": MethodError,
    "ERROR_WRONG_HANDLER_URL": MethodError,
    "ERROR_UNSUPPORTED_PROTOCOL": MethodError,
    "ERROR_EVENT_NOT_FOUND": MethodError,
}

_BY_STATUS: dict[int, type[ApiError]] = {
    401: AuthError,
    403: AccessDenied,
    404: MethodNotFound,
    429: OperationTimeLimit,
    503: QueryLimitExceeded,
}


# The HTTP status a code comes with when the portal sends it alone (facts file §6: the docs'
# table where it exists, CORE otherwise). Inside a ``batch`` a failed command has no status of
# its own; the client uses this one so that a batched call fails exactly as a lone call would.
_STATUS_BY_CODE: dict[str, int] = {
    "QUERY_LIMIT_EXCEEDED": 503,
    "OPERATION_TIME_LIMIT": 429,
    "EXPIRED_TOKEN": 401,
    "INVALID_TOKEN": 401,
    "NO_AUTH_FOUND": 401,
    "INVALID_CREDENTIALS": 401,
    "AUTHORIZATION_ERROR": 401,
    "ACCESS_DENIED": 403,
    "INSUFFICIENT_SCOPE": 403,
    "USER_ACCESS_ERROR": 403,
    "WRONG_AUTH_TYPE": 403,
    "WRONG_LICENSE": 403,
    "ERROR_METHOD_NOT_FOUND": 404,
    "ERROR_BATCH_METHOD_NOT_ALLOWED": 405,
    "INTERNAL_SERVER_ERROR": 500,
    "ERROR_UNEXPECTED_ANSWER": 500,
}


def status_for_code(code: str) -> int:
    """The HTTP status a lone call failing with ``code`` would get (400 for method errors)."""
    return _STATUS_BY_CODE.get(code.upper(), 400)


def error_class_for(code: str, status: int) -> type[ApiError]:
    """Pick the exception class for a server ``error`` code, falling back to the HTTP status."""
    found = _BY_CODE.get(code.upper())
    if found is not None:
        return found
    by_status = _BY_STATUS.get(status)
    if by_status is not None and status not in (429, 503):
        # 429/503 with an unknown code are not proof of a limit; treat them as server trouble.
        return by_status
    if status >= 500 or status in (429, 503):
        return ServerError
    return ApiError


def make_api_error(
    code: str,
    description: str,
    *,
    status: int,
    method: str = "",
    extra: dict[str, Any] | None = None,
) -> ApiError:
    """Build the right :class:`ApiError` subclass for a server error body."""
    cls = error_class_for(code, status)
    return cls(code, description, status=status, method=method, extra=extra)
