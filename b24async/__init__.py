"""b24async: an async Bitrix24 REST client that works within the portal's real limits.

The public API is what ``__all__`` lists; everything else is internal.

The package logs to the ``b24async`` logger (retries at WARNING, limit waits at INFO, each
request at DEBUG). It adds a :class:`logging.NullHandler` to it, as libraries should, so nothing
is printed until the application configures logging.
"""

import logging

from b24async._version import __version__
from b24async.auth import TokenPair
from b24async.bucket import LeakyBucket, RequestBucket
from b24async.client import Bitrix24
from b24async.errors import (
    AccessDenied,
    ApiError,
    AuthError,
    B24Error,
    BatchError,
    ClientClosed,
    DecodeError,
    InvalidGrant,
    InvalidToken,
    MethodError,
    MethodNotFound,
    OperationTimeLimit,
    PortalError,
    QueryLimitExceeded,
    RateLimitError,
    RedirectError,
    ServerError,
    TokenExpired,
    TransportError,
    WrongAuthType,
    WrongLicense,
)
from b24async.limits import RateLimits
from b24async.models import (
    Accessibility,
    Availability,
    BusyInterval,
    Importance,
    ParticipationStatus,
    Slot,
    User,
    UserStatus,
    WorkingHours,
)
from b24async.paging import PageClosed, PageError
from b24async.protocol import Response, Timing
from b24async.results import BatchAccount, BatchResult, CommandOutcome, Outcome
from b24async.retry import RetryPolicy, is_idempotent
from b24async.stats import ClientStats
from b24async.throttle import Throttle, ThrottlePolicy
from b24async.transport import AiohttpTransport, Transport

logging.getLogger("b24async").addHandler(logging.NullHandler())

__all__ = [
    "AccessDenied",
    "Accessibility",
    "AiohttpTransport",
    "ApiError",
    "AuthError",
    "Availability",
    "B24Error",
    "BatchAccount",
    "BatchError",
    "BatchResult",
    "Bitrix24",
    "BusyInterval",
    "ClientClosed",
    "ClientStats",
    "CommandOutcome",
    "DecodeError",
    "Importance",
    "InvalidGrant",
    "InvalidToken",
    "LeakyBucket",
    "MethodError",
    "MethodNotFound",
    "OperationTimeLimit",
    "Outcome",
    "PageClosed",
    "PageError",
    "ParticipationStatus",
    "PortalError",
    "QueryLimitExceeded",
    "RateLimitError",
    "RateLimits",
    "RedirectError",
    "RequestBucket",
    "Response",
    "RetryPolicy",
    "ServerError",
    "Slot",
    "Throttle",
    "ThrottlePolicy",
    "Timing",
    "TokenExpired",
    "TokenPair",
    "Transport",
    "TransportError",
    "User",
    "UserStatus",
    "WorkingHours",
    "WrongAuthType",
    "WrongLicense",
    "__version__",
    "is_idempotent",
]
