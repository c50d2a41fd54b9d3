"""The decisions of sending one request, as a sans-I/O state machine: no sockets, no loop, no clock.

The engine (:mod:`b24async.engine`) does the I/O and asks a :class:`SendingFlow` what to do
after each answer that is not a success. The flow answers with one :data:`Step`:

* :class:`SendAgain`: send the request again now (the throttle applies its waits and holds);
* :class:`Sleep`: wait that many seconds, then send again (backoff after an ambiguous failure);
* :class:`RefreshToken`: refresh the access token, then report with :meth:`SendingFlow.refreshed`;
* :class:`FollowRedirect`: the portal moved to that origin; send again there;
* :class:`Raise`: give up with that error.

The policy (see also :mod:`b24async.retry`):

* ``QUERY_LIMIT_EXCEEDED`` / ``OPERATION_TIME_LIMIT`` prove the call did not run: sent again,
  writes included, up to ``limit_attempts`` in all; a 503 that repeats is backed off.
* ``expired_token`` / ``invalid_token``: one refresh per call, then the call is sent again.
* A failure that may come after the portal ran the call (transport error, 5xx, undecodable
  answer) is retried only for idempotent calls, or when the error proves the request never
  left (:attr:`~b24async.errors.B24Error.may_have_applied` is False), up to ``attempts``
  tries per command in all (:class:`Tries` carries them from one request to the next).
  :func:`is_transient` is that rule, for the batch runner and the coalescer too.
* A redirect is followed at most ``max_redirects`` times, and only to an acceptable location.
* Everything else is raised as it came.

The flow never changes an exception: when it adds something (the method name on a transport
error, ``reset_at`` on an operating-limit error) it raises a new one.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TypeAlias

import attrs

from b24async.auth import _origin, is_token_error
from b24async.errors import (
    B24Error,
    DecodeError,
    OperationTimeLimit,
    QueryLimitExceeded,
    RedirectError,
    ServerError,
    TransportError,
)
from b24async.retry import RetryPolicy

__all__ = [
    "MAX_REDIRECTS",
    "REDIRECT_STATUSES",
    "FollowRedirect",
    "Raise",
    "RefreshToken",
    "SendAgain",
    "SendingFlow",
    "Sleep",
    "Step",
    "Tries",
    "is_transient",
]

#: HTTP statuses that move a request elsewhere (with a ``Location`` header).
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: Redirects followed in one call before giving up.
MAX_REDIRECTS = 3


@attrs.frozen
class SendAgain:
    """Send the request again now. ``note`` says why (for the log); ``retry`` counts it."""

    note: str = ""
    retry: bool = True


@attrs.frozen
class Sleep:
    """Wait ``seconds``, then send the request again (a backoff; counts as a retry)."""

    seconds: float
    note: str = ""


@attrs.frozen
class RefreshToken:
    """Refresh the access token, then call :meth:`SendingFlow.refreshed` with the outcome."""


@attrs.frozen
class FollowRedirect:
    """The portal moved: send the request again to ``origin`` (``scheme://host[:port]``)."""

    origin: str


@attrs.frozen
class Raise:
    """Give up: raise ``error``."""

    error: BaseException


#: What the engine does next.
Step: TypeAlias = SendAgain | Sleep | RefreshToken | FollowRedirect | Raise


def _identity(text: str) -> str:
    return text


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` is an ambiguous failure that sending again may cure.

    No HTTP answer (:class:`TransportError`), a server failure (:class:`ServerError`, any 5xx)
    or an answer that is not a Bitrix24 envelope (:class:`DecodeError`, e.g. a proxy's HTML
    502). Everything else is an answer that sending again would only repeat: the portal's
    error code, a redirect that may not be followed, a closed client. The one rule for the
    engine, the batch runner and the coalescer.
    """
    return isinstance(error, (TransportError, DecodeError, ServerError))


@attrs.define
class Tries:
    """The ambiguous failures one set of commands has had so far, over every request.

    :attr:`RetryPolicy.attempts <b24async.retry.RetryPolicy.attempts>` bounds the tries of a
    command in all, not per request: a request that re-sends commands an earlier request
    carried (the batch runner's retry request, the coalescer's re-queued reads) passes their
    ``Tries`` on, and its :class:`SendingFlow` counts on from there.
    """

    failures: int = 0


@attrs.define
class SendingFlow:
    """The decisions for one call of :meth:`Engine.send <b24async.engine.Engine.send>`.

    Create one per call; feed it every failed attempt (:meth:`failed`, :meth:`redirected`,
    :meth:`refreshed`) and do what the returned :data:`Step` says.

    Attributes:
        method: the REST method sent (``"batch"`` for a batch request).
        idempotent: whether the call may run twice (reads, ``*.set``, ``*.update``).
        policy: how often and how patiently to retry.
        redact: masks secrets in text put into new errors.
        rng: the jitter source for backoffs (seed it for reproducible delays).
        max_redirects: redirects followed before :class:`RedirectError`.
        tries: ambiguous failures so far (transport, 5xx, undecodable), earlier requests for
            the same commands included.
        limit_hits: limit errors so far (503 ``QUERY_LIMIT_EXCEEDED``, 429
            ``OPERATION_TIME_LIMIT``).
        refreshes: token refreshes asked for so far (at most one).
        redirects: redirects followed so far.
    """

    method: str
    idempotent: bool
    policy: RetryPolicy = attrs.field(factory=RetryPolicy)
    redact: Callable[[str], str] = _identity
    rng: random.Random = attrs.field(factory=random.Random)
    max_redirects: int = MAX_REDIRECTS
    tries: Tries = attrs.field(factory=Tries)
    limit_hits: int = 0
    refreshes: int = 0
    redirects: int = 0
    _token_error: B24Error | None = attrs.field(default=None, init=False)

    @property
    def attempts(self) -> int:
        """Ambiguous failures so far, earlier requests for the same commands included."""
        return self.tries.failures

    def failed(self, error: B24Error, *, reset_at: float | None = None) -> Step:
        """The attempt failed with ``error``: what next?

        ``reset_at`` is the unix time the throttle now holds the method until, for an
        ``OPERATION_TIME_LIMIT`` (it goes into the error raised when the client gives up).
        """
        if isinstance(error, QueryLimitExceeded):
            return self._limit_hit(error, "portal bucket full (503); resynchronised")
        if isinstance(error, OperationTimeLimit):
            given_up = error.with_reset_at(reset_at) if reset_at is not None else error
            return self._limit_hit(given_up, "operating budget spent (429); held")
        if is_token_error(error) and not self.refreshes:
            self.refreshes += 1
            self._token_error = error
            return RefreshToken()
        if isinstance(error, TransportError) and not error.method:
            # Transports do not know the method; name it (and mask a custom transport's text).
            message = self.redact(str(error.args[0]) if error.args else "transport error")
            error = TransportError(message, method=self.method, sent=error.sent)
        if isinstance(error, DecodeError):
            error = self._masked(error)
        if is_transient(error):
            return self._ambiguous(error)
        return Raise(error)

    def refreshed(self, ok: bool) -> Step:
        """The refresh asked for by :class:`RefreshToken` is done; ``ok`` is False when the
        credentials cannot refresh (a webhook, or no refresh token)."""
        error, self._token_error = self._token_error, None
        if error is None:
            raise RuntimeError("refreshed() without a RefreshToken step before it")
        if ok:
            return SendAgain(f"{self.method}: token refreshed; sending again", retry=False)
        return Raise(error)

    def redirected(self, status: int, location: str) -> Step:
        """The portal answered ``status`` with a ``Location``: follow it, or give up."""
        shown = self.redact(location)
        self.redirects += 1
        if self.redirects > self.max_redirects:
            return Raise(
                RedirectError(
                    f"too many redirects ({self.redirects - 1} followed)",
                    location=shown,
                    status=status,
                    method=self.method,
                )
            )
        try:
            origin, _ = _origin(location, what="redirect location")
        except ValueError as exc:
            return Raise(
                RedirectError(
                    f"redirect not followed: {self.redact(str(exc))}",
                    location=shown,
                    status=status,
                    method=self.method,
                )
            )
        return FollowRedirect(origin)

    def _masked(self, error: DecodeError) -> DecodeError:
        """``error`` with secrets masked in its body: a proxy's error page may quote the
        request URL, and the body shows in the error's text."""
        body = error.raw.decode("utf-8", "replace")
        masked = self.redact(body)
        if masked == body:
            return error
        message = str(error.args[0]) if error.args else "undecodable answer"
        return DecodeError(message, raw=masked.encode(), status=error.status, method=error.method)

    def _limit_hit(self, error: B24Error, reason: str) -> Step:
        self.limit_hits += 1
        note = f"{self.method}: {reason}; retry {self.limit_hits}"
        if self.limit_hits >= self.policy.limit_attempts:
            return Raise(error)
        if isinstance(error, QueryLimitExceeded) and self.limit_hits > 1:
            # Still full after a drain interval: someone else keeps it full; back off.
            return Sleep(self.policy.delay(self.limit_hits - 1, self.rng), note)
        return SendAgain(note)

    def _ambiguous(self, error: B24Error) -> Step:
        """A failure after which the portal may or may not have run the call.

        Every such failure spends one of the commands' tries, also the one given up on, so
        that a request re-sending them later starts where this one stopped.
        """
        self.tries.failures += 1
        if self.tries.failures >= self.policy.attempts:
            return Raise(error)
        if not (self.idempotent or not error.may_have_applied):
            return Raise(error)
        failures = self.tries.failures
        delay = self.policy.delay(failures, self.rng)
        note = f"{type(error).__name__}: {self.redact(str(error))}; retry {failures}"
        return Sleep(delay, note)
