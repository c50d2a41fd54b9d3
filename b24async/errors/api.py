"""``ApiError`` and its subclasses: the portal (or the OAuth server) answered with an error code.

Part of :mod:`b24async.errors` (import them from there); which code makes which class is
:mod:`b24async.errors.table`.
"""

from __future__ import annotations

from typing import Any

from b24async.errors.base import B24Error

__all__ = [
    "AccessDenied",
    "ApiError",
    "AuthError",
    "BatchError",
    "InvalidGrant",
    "InvalidToken",
    "MethodError",
    "MethodNotFound",
    "OperationTimeLimit",
    "PortalError",
    "QueryLimitExceeded",
    "RateLimitError",
    "ServerError",
    "TokenExpired",
    "WrongAuthType",
    "WrongLicense",
]


class ApiError(B24Error):
    """The server answered with an error code.

    Attributes:
        code: the server's ``error`` value as sent (may be ``""``; case varies between methods).
        description: the server's ``error_description`` (localized; only ``code`` is stable).
        status: the HTTP status (200 for a command that failed inside a ``batch``).
        method: the REST method that failed, e.g. ``"user.update"``.
        extra: any further keys of the error body (``ERROR_ARGUMENT`` adds ``argument``).
    """

    def __init__(
        self,
        code: str,
        description: str,
        *,
        status: int,
        method: str = "",
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(code, description)
        self.code = code
        self.description = description
        self.status = status
        self.method = method
        self.extra = extra or {}

    @property
    def may_have_applied(self) -> bool:
        """The portal answered with an error code: the command did not run.

        Server failures (:class:`ServerError`, any 5xx) are the exception: a handler that
        crashed half-way may have written something before it failed.
        """
        return False

    def __str__(self) -> str:
        where = f"{self.method}: " if self.method else ""
        code = self.code or "(no code)"
        return f"{where}{code}: {self.description} (HTTP {self.status})"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, description={self.description!r}, "
            f"status={self.status}, method={self.method!r})"
        )


class RateLimitError(ApiError):
    """One of the portal's two limits refused the call. The client retries these itself."""


class QueryLimitExceeded(RateLimitError):
    """``QUERY_LIMIT_EXCEEDED``: the portal's request-intensity bucket is full (HTTP 503)."""


class OperationTimeLimit(RateLimitError):
    """``OPERATION_TIME_LIMIT``: this method's operating-time budget is spent (HTTP 429).

    ``reset_at`` is the unix time (local clock) after which the client expects the method to
    run again, when known: set by the client when it gives up waiting for the budget.
    """

    def __init__(
        self,
        code: str,
        description: str,
        *,
        status: int,
        method: str = "",
        extra: dict[str, Any] | None = None,
        reset_at: float | None = None,
    ) -> None:
        super().__init__(code, description, status=status, method=method, extra=extra)
        self.reset_at = reset_at

    def with_reset_at(self, reset_at: float | None) -> OperationTimeLimit:
        """A copy of this error with ``reset_at`` set (the original is left as it is)."""
        return type(self)(
            self.code,
            self.description,
            status=self.status,
            method=self.method,
            extra=dict(self.extra),
            reset_at=reset_at,
        )


class AuthError(ApiError):
    """Credentials are missing, wrong, expired or revoked."""


class TokenExpired(AuthError):
    """``expired_token``: the OAuth access token has expired (refreshed automatically)."""


class InvalidToken(AuthError):
    """``invalid_token``: the OAuth access token is not known to the portal."""


class InvalidGrant(AuthError):
    """``invalid_grant``: the refresh token is expired or revoked; the app must authorize again."""


class AccessDenied(ApiError):
    """The credentials are valid but lack the right, scope or plan for this call."""


class WrongAuthType(AccessDenied):
    """``WRONG_AUTH_TYPE`` (403): the method needs another kind of credential.

    The event methods (``event.bind``, ``event.offline.*``, ``events``...) work only for an
    OAuth application; an incoming webhook is refused with this error.
    """

    def __str__(self) -> str:
        return f"{super().__str__()}: events need an OAuth application, not a webhook"


class WrongLicense(AccessDenied):
    """``WRONG_LICENSE`` (403): the portal's plan lacks the feature (e.g. ``clear=0`` reads of
    the offline queue, or ``auth_connector``)."""


class MethodNotFound(ApiError):
    """``ERROR_METHOD_NOT_FOUND``: no such REST method on this portal (or no scope for it)."""


class MethodError(ApiError):
    """The method rejected its input or failed (``""``, ``ERROR_CORE``, ``ERROR_ARGUMENT``, ...)."""


class BatchError(ApiError):
    """A command could not run inside ``batch`` (too many commands, or not allowed in a batch)."""


class PortalError(ApiError):
    """The portal itself refuses REST: manual overload block, deleted portal, unpaid plan."""


class ServerError(ApiError):
    """The server failed: ``INTERNAL_SERVER_ERROR``, ``ERROR_UNEXPECTED_ANSWER`` or a 5xx."""

    @property
    def may_have_applied(self) -> bool:
        """A handler that failed half-way may have written something: unknown."""
        return True
