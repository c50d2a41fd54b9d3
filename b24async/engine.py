"""The request engine: one HTTP request through throttle, credentials, transport and retries.

Every path of the client (single calls, explicit batches, coalesced batches, pages) ends here,
so the limits, the retry policy and the token refresh are applied in exactly one place. The
engine does the I/O only: what to do after a failed attempt (send again, wait, refresh the
token, follow a redirect, give up) is decided by the sans-I/O
:class:`~b24async.sending.SendingFlow`.
"""

from __future__ import annotations

import inspect
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from b24async._version import __version__
from b24async.auth import Credentials
from b24async.clock import SYSTEM_CLOCK, Clock
from b24async.errors import B24Error, OperationTimeLimit, QueryLimitExceeded, TransportError
from b24async.operating_mirror import BATCH_KEY, INNER
from b24async.protocol import HttpRequest, RawResponse, Timing, WireTimes, json_body
from b24async.retry import RetryPolicy
from b24async.sending import (
    MAX_REDIRECTS,
    REDIRECT_STATUSES,
    FollowRedirect,
    Raise,
    RefreshToken,
    SendAgain,
    SendingFlow,
    Sleep,
    Step,
    Tries,
)
from b24async.stats import Counters
from b24async.throttle import ThrottlePolicy
from b24async.transport import Transport

__all__ = ["Decoded", "Engine"]

logger = logging.getLogger("b24async")

R = TypeVar("R")

#: An answer's reports for the throttle: (method, time block) per command, the blocks read or
#: raw (:class:`~b24async.protocol.WireTimes`).
Reports = Sequence[tuple[str, Timing | None]] | WireTimes
#: What a decoder returns: its value, and its answer's reports for the throttle.
Decoded = tuple[R, Reports]

_HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json",
    "User-Agent": f"b24async/{__version__}",
}


class Engine:
    """Sends requests for the client; owns no policy of its own beyond ordering the steps.

    Args:
        credentials, transport, throttle, retry, counters: the client's parts.
        clock: where backoffs sleep and ``reset_at`` times are read.
        max_redirects: redirects followed in one call before :class:`RedirectError`.
    """

    def __init__(
        self,
        credentials: Credentials,
        transport: Transport,
        throttle: ThrottlePolicy,
        retry: RetryPolicy,
        counters: Counters,
        *,
        clock: Clock = SYSTEM_CLOCK,
        max_redirects: int = MAX_REDIRECTS,
    ) -> None:
        self.credentials = credentials
        self.transport = transport
        self.throttle = throttle
        self.retry = retry
        self.counters = counters
        self.clock = clock
        self.max_redirects = max_redirects
        self._rng = random.Random()

    async def send(
        self,
        method: str,
        params: dict[str, Any],
        *,
        commands: Sequence[str],
        idempotent: bool,
        decode: Callable[[RawResponse], Decoded[R] | Awaitable[Decoded[R]]],
        on_sent: Callable[[], None] | None = None,
        tries: Tries | None = None,
    ) -> R:
        """Send ``method`` with ``params``; retry per policy; return ``decode``'s value.

        ``commands`` lists the REST method of every command the request carries (one entry
        for a single call, one per command for a ``batch``): the throttle admits them against
        their operating budgets, and ``decode`` reports their ``time`` blocks back.
        ``decode`` raises the :class:`~b24async.errors.B24Error` an answer stands for; it
        may return an awaitable (a large answer decoded in steps, letting other tasks run).
        ``on_sent`` is called each time the request is handed to the transport (past the
        throttle): from then on its commands may have been applied.
        ``tries`` carries the ambiguous failures the commands already had in earlier requests
        (a retry request re-sending them) and counts this request's into it, so that the retry
        policy's ``attempts`` bounds each command's tries in all.
        """
        # The keys the portal bills: a batch request also bills its own ``batch`` key, and its
        # commands are billed as commands inside a batch (see b24async.operating; INNER + c
        # is in_batch(c), inline).
        billed = [BATCH_KEY, *[INNER + c for c in commands]] if method == BATCH_KEY else commands
        flow = SendingFlow(
            method,
            idempotent,
            policy=self.retry,
            redact=self.credentials.redact,
            rng=self._rng,
            max_redirects=self.max_redirects,
            tries=tries if tries is not None else Tries(),
        )
        while True:
            await self.throttle.wait_methods(billed)
            settled = False
            token: str | None = None
            release: Callable[[], None] | None = None
            try:
                body = dict(params)
                token = self.credentials.sign(body)
                request = HttpRequest(
                    "POST", self.credentials.endpoint(method), json_body(body), _HEADERS
                )
                raw = await self._send_once(request, method, len(commands), on_sent)
                release = raw.done  # decoded (or not): the transport may read the next one
                location = raw.headers.get("location")
                if raw.status in REDIRECT_STATUSES and location is not None:
                    step = flow.redirected(raw.status, location)
                else:
                    decoded = decode(raw)
                    if inspect.isawaitable(decoded):  # a large answer read in steps
                        decoded = await decoded
                    value, timings = decoded
                    self._settle_reports(timings)
                    settled = True
                    return value
            except B24Error as exc:
                step = flow.failed(exc, reset_at=self._observe(exc, method))
            finally:
                if release is not None:
                    release()
                if not settled:
                    self._settle(billed)
            await self._perform(step, flow, token)

    async def _perform(self, step: Step, flow: SendingFlow, token: str | None) -> None:
        """Carry out ``step`` up to the next send (raising when the step says so)."""
        while True:
            if isinstance(step, Raise):
                raise step.error
            if isinstance(step, RefreshToken):
                ok = await self.credentials.refresh(self.transport.send, token)
                step = flow.refreshed(ok)
                continue
            if isinstance(step, FollowRedirect):
                logger.warning("portal moved to %s; re-sending there", step.origin)
                self.credentials.relocate(step.origin)
            elif isinstance(step, Sleep):
                # The note names the error and the method; it is already redacted.
                logger.warning("%s in %.2fs", step.note, step.seconds)
                self.counters.retries += 1
                await self.clock.sleep(step.seconds)
            elif isinstance(step, SendAgain):
                if step.note:
                    logger.info("%s", step.note)
                if step.retry:
                    self.counters.retries += 1
            return

    def _observe(self, error: B24Error, method: str) -> float | None:
        """Tell the counters and the throttle about a failed attempt; return a hold's end.

        The throttle learns of every limit error at once (whatever the flow decides), so
        that other calls stop running into the same limit.
        """
        if isinstance(error, QueryLimitExceeded):
            self.counters.query_limit_hits += 1
            self.throttle.on_query_limit()
        elif isinstance(error, OperationTimeLimit):
            self.counters.operation_limit_hits += 1
            return self.clock.time() + self.throttle.on_operation_limit(method)
        elif isinstance(error, TransportError):
            self.counters.transport_errors += 1
        return None

    async def _send_once(
        self,
        request: HttpRequest,
        method: str,
        commands: int,
        on_sent: Callable[[], None] | None = None,
    ) -> RawResponse:
        async with self.throttle.request_slot():
            if on_sent is not None:
                on_sent()
            self.counters.requests += 1
            self.counters.commands += commands
            started = self.clock.monotonic()
            raw = await self.transport.send(request)
        if logger.isEnabledFor(logging.DEBUG):
            elapsed = self.clock.monotonic() - started
            logger.debug("%s -> HTTP %d in %.3fs", method, raw.status, elapsed)
        return raw

    def _settle(self, commands: Sequence[str]) -> None:
        self._settle_reports([(command, None) for command in commands])

    def _settle_reports(self, reports: Reports) -> None:
        # One pass per answer where the policy offers it (Throttle.settle_all; optional
        # beyond ThrottlePolicy), else one settle per command. Raw time blocks go as they are
        # to a policy that reads them (Throttle.settle_wire), as Timing objects to others.
        if type(reports) is WireTimes:
            settle_wire = getattr(self.throttle, "settle_wire", None)
            if settle_wire is not None:
                settle_wire(reports)
                return
            reports = reports.timings()
        settle_all = getattr(self.throttle, "settle_all", None)
        if settle_all is not None:
            settle_all(reports)
        else:
            for command, timing in reports:
                self.throttle.settle(command, timing)
