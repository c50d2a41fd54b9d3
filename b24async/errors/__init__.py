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

Where things are: :mod:`~b24async.errors.base` (``B24Error`` and the errors without a server
code), :mod:`~b24async.errors.api` (``ApiError`` and its subclasses),
:mod:`~b24async.errors.table` (which code makes which class). Import every name from here.
"""

from __future__ import annotations

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
    RateLimitError,
    ServerError,
    TokenExpired,
    WrongAuthType,
    WrongLicense,
)
from b24async.errors.base import (
    B24Error,
    ClientClosed,
    DecodeError,
    RedirectError,
    TransportError,
    _restore,
)
from b24async.errors.table import error_class_for, make_api_error, status_for_code

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

# The classes live in submodules by concept, but they are b24async.errors.X to the world:
# pickles name this module (old pickles load, and new ones load in older versions), and so do
# tracebacks and reprs.
for _public in (*(globals()[name] for name in __all__), _restore):
    if getattr(_public, "__module__", "").startswith(f"{__name__}."):
        _public.__module__ = __name__
del _public
