"""The b24async exception tree and the one table that maps server error codes to classes.

::

    B24Error
    ├── ClientClosed              the client was closed before the command got an answer
    ├── TransportError            the request did not get an HTTP answer (network, timeout)
    ├── DecodeError               an answer that is not a Bitrix24 JSON envelope (keeps raw body)
    ├── RedirectError             the portal redirected and the client may not follow (any more)
    └── ApiError                  the portal (or the OAuth server) answered with an ``error`` code
        ├── RateLimitError
        │   ├── QueryLimitExceeded        QUERY_LIMIT_EXCEEDED (the leaky bucket overflowed)
        │   └── OperationTimeLimit        OPERATION_TIME_LIMIT (a method's operating budget ran out)
        ├── AuthError                     credentials are missing, wrong, expired or dead
        │   ├── TokenExpired              expired_token (refreshed automatically when possible)
        │   ├── InvalidToken              invalid_token
        │   └── InvalidGrant              invalid_grant (the refresh token is dead: authorize again)
        ├── AccessDenied                  ACCESS_DENIED, insufficient_scope, user_access_error, ...
        │   ├── WrongAuthType             WRONG_AUTH_TYPE (events need an OAuth app, not a webhook)
        │   └── WrongLicense              WRONG_LICENSE (the plan lacks the feature)
        ├── MethodNotFound                ERROR_METHOD_NOT_FOUND
        ├── MethodError                   the method rejected its input ("", ERROR_CORE, ...)
        ├── BatchError                    ERROR_BATCH_LENGTH_EXCEEDED, ..._METHOD_NOT_ALLOWED
        ├── PortalError                   the portal is blocked, deleted or unpaid
        └── ServerError                   INTERNAL_SERVER_ERROR, ERROR_UNEXPECTED_ANSWER, any 5xx

Classification follows the facts file (§6): the ``error`` code first (case-insensitive), the HTTP
status only when the code is unknown, because the sources disagree on statuses. Unknown codes still
raise :class:`ApiError`: nothing is dropped.

**Did it run?** Every error answers :attr:`B24Error.may_have_applied`: ``False`` when the error
proves the command did not run (the portal refused it with an error code, or it was never sent),
``True`` when the request left and its answer was lost, so the portal may have applied it. A
bulk job re-sends only the commands whose error says ``False``, and checks the others.

**Pickling.** Every error pickles with all its attributes (``extra``, ``reset_at``, ``raw``,
``sent``, ...), so errors can cross process boundaries (multiprocessing, job queues) intact.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from b24async.results import BatchResult

__all__ = [
    "AccessDenied",
    "ApiError",
    "AuthError",
    "B24Error",
    "BatchError",
    "ClientClosed",
    "DecodeError",
    "InvalidGrant",
    "InvalidToken",
    "MethodError",
    "MethodNotFound",
    "OperationTimeLimit",
    "PortalError",
    "QueryLimitExceeded",
    "RateLimitError",
    "RedirectError",
    "ServerError",
    "TokenExpired",
    "TransportError",
    "WrongAuthType",
    "WrongLicense",
    "error_class_for",
    "make_api_error",
    "status_for_code",
]

_RAW_PREVIEW = 200


class B24Error(Exception):
    """Base class of every exception b24async raises on purpose."""

    @property
    def may_have_applied(self) -> bool:
        """Whether the portal may have run the command this error belongs to.

        ``False`` is a proof that it did not (safe to re-send); ``True`` means the outcome is
        unknown. Subclasses answer from what they know; the base class cannot know.
        """
        return True

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuild without calling __init__ (which may take keyword-only arguments), then
        # restore every attribute from __dict__: nothing is dropped, subclasses included.
        return (_restore, (type(self), self.args), self.__dict__)


def _restore(cls: type[B24Error], args: tuple[Any, ...]) -> B24Error:
    error = cls.__new__(cls, *args)
    error.args = args
    return error


class ClientClosed(B24Error):
    """The :class:`~b24async.Bitrix24` client was closed before this command got an answer.

    ``sent`` tells whether the command had left for the portal when the client closed (then it
    may have been applied); a command that was still queued was never sent.

    Raised by :meth:`~b24async.Bitrix24.batch`, ``result`` is the batch's
    :class:`~b24async.BatchResult` as far as it got: every command's outcome (succeeded,
    failed, unknown, not sent), those cut short by the close ending with a per-command
    ``ClientClosed`` that says whether it was sent. ``sent`` is then True if any of them may
    have been applied. Elsewhere ``result`` is None. It pickles with the error.
    """

    def __init__(
        self,
        message: str = "the Bitrix24 client is closed",
        *,
        sent: bool = False,
        result: BatchResult[Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.sent = sent
        self.result = result

    @classmethod
    def cut_short(cls, sent: bool, what: str = "") -> ClientClosed:
        """The error of a command or call (``what``, e.g. its method) that the close ended.

        The one wording for every path: whether it may have been applied, or was not sent.
        """
        detail = "it may have been applied" if sent else "it was not sent"
        where = f"{what}: " if what else ""
        return cls(f"{where}the Bitrix24 client was closed ({detail})", sent=sent)

    @property
    def may_have_applied(self) -> bool:
        """True only when the command had been sent before the close."""
        return self.sent


class TransportError(B24Error):
    """The request got no HTTP answer: connection refused or dropped, DNS failure, timeout.

    ``sent`` tells whether the request may have reached the server. It is False only when the
    failure proves it did not (e.g. the connection was refused), which is what makes retrying a
    non-idempotent write safe.
    """

    def __init__(self, message: str, *, method: str = "", sent: bool = True) -> None:
        super().__init__(message)
        self.method = method
        self.sent = sent

    @property
    def may_have_applied(self) -> bool:
        """False only when the failure proves the request never left (see ``sent``)."""
        return self.sent

    def __str__(self) -> str:
        base = super().__str__()
        return f"{self.method}: {base}" if self.method else base


class DecodeError(B24Error):
    """An HTTP answer that is not a Bitrix24 JSON envelope, e.g. an HTML 502 page from a proxy.

    ``raw`` keeps the body as received (bytes) so that it can be logged or inspected.
    """

    def __init__(self, message: str, *, raw: bytes, status: int, method: str = "") -> None:
        super().__init__(message)
        self.raw = raw
        self.status = status
        self.method = method

    def __str__(self) -> str:
        preview = self.raw[:_RAW_PREVIEW].decode("utf-8", "replace")
        where = f"{self.method}: " if self.method else ""
        return f"{where}{super().__str__()} (HTTP {self.status}, body starts {preview!r})"


class RedirectError(B24Error):
    """The portal answered with a redirect (3xx) that the client did not follow.

    Either it redirected too often in one call (``max_redirects``), or the location may not be
    followed: plain http to a non-loopback host, no host, a query string. A redirect is an
    answer that ran nothing, so the command was not applied.

    Attributes:
        location: where the portal pointed (secrets masked).
        status: the HTTP status of the redirect.
        method: the REST method being sent.
    """

    def __init__(self, message: str, *, location: str, status: int, method: str = "") -> None:
        super().__init__(message)
        self.location = location
        self.status = status
        self.method = method

    @property
    def may_have_applied(self) -> bool:
        """A redirect answer means the portal did not run the command."""
        return False

    def __str__(self) -> str:
        where = f"{self.method}: " if self.method else ""
        return f"{where}{super().__str__()} (HTTP {self.status} to {self.location})"


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
