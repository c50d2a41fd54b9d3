"""The request engine: one HTTP request through throttle, credentials, transport and retries.

Every path of the client (single calls, explicit batches, coalesced batches, pages) ends here,
so the limits, the retry policy and the token refresh are applied in exactly one place.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from b24async._version import __version__
from b24async.auth import Credentials, _origin, is_token_error
from b24async.errors import (
    ApiError,
    B24Error,
    DecodeError,
    OperationTimeLimit,
    QueryLimitExceeded,
    ServerError,
    TransportError,
)
from b24async.protocol import HttpRequest, RawResponse, Timing, json_body
from b24async.retry import RetryPolicy
from b24async.stats import Counters
from b24async.throttle import ThrottlePolicy
from b24async.transport import Transport

__all__ = ["Decoded", "Engine"]

logger = logging.getLogger("b24async")

R = TypeVar("R")

#: What a decoder returns: its value, and (method, time block) per command for the throttle.
Decoded = tuple[R, Sequence[tuple[str, Timing | None]]]

_HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json",
    "User-Agent": f"b24async/{__version__}",
}
_MAX_REDIRECTS = 3


class Engine:
    """Sends requests for the client; owns no policy of its own beyond ordering the steps."""

    def __init__(
        self,
        credentials: Credentials,
        transport: Transport,
        throttle: ThrottlePolicy,
        retry: RetryPolicy,
        counters: Counters,
    ) -> None:
        self.credentials = credentials
        self.transport = transport
        self.throttle = throttle
        self.retry = retry
        self.counters = counters
        self._rng = random.Random()

    async def send(
        self,
        method: str,
        params: dict[str, Any],
        *,
        commands: Sequence[str],
        idempotent: bool,
        decode: Callable[[RawResponse], Decoded[R]],
    ) -> R:
        """Send ``method`` with ``params``; retry per policy; return ``decode``'s value.

        ``commands`` lists the REST method of every command the request carries (one entry
        for a single call, one per command for a ``batch``): the throttle admits them against
        their operating budgets, and ``decode`` reports their ``time`` blocks back.
        """
        attempt = 0  # ambiguous failures so far
        limit_hits = 0
        refreshed = False
        redirects = 0
        while True:
            await self.throttle.wait_methods(commands)
            settled = False
            try:
                body = dict(params)
                token = self.credentials.sign(body)
                request = HttpRequest(
                    "POST", self.credentials.endpoint(method), json_body(body), _HEADERS
                )
                raw = await self._send_once(request, method, len(commands))
                if raw.status in (301, 302, 303, 307, 308) and "location" in raw.headers:
                    self._settle(commands)
                    settled = True
                    redirects += 1
                    if redirects > _MAX_REDIRECTS:
                        raise DecodeError(
                            "too many redirects", raw=raw.body, status=raw.status, method=method
                        )
                    self._relocate(raw.headers["location"])
                    continue
                value, timings = decode(raw)
                for command, timing in timings:
                    self.throttle.settle(command, timing)
                settled = True
                return value
            except QueryLimitExceeded:
                self.counters.query_limit_hits += 1
                self.throttle.on_query_limit()
                limit_hits += 1
                if limit_hits >= self.retry.limit_attempts:
                    raise
                logger.info("%s: portal bucket full (503); resynchronised, retrying", method)
                if limit_hits > 1:
                    # Still full after a drain interval: someone else keeps it full; back off.
                    await asyncio.sleep(self.retry.delay(limit_hits - 1, self._rng))
            except OperationTimeLimit as exc:
                self.counters.operation_limit_hits += 1
                wait = self.throttle.on_operation_limit(method)
                exc.reset_at = time.time() + wait
                limit_hits += 1
                if limit_hits >= self.retry.limit_attempts:
                    raise
                logger.info("%s: operating budget spent (429); held for %.1fs", method, wait)
            except ApiError as exc:
                if is_token_error(exc) and not refreshed:
                    self._settle(commands)
                    settled = True
                    refreshed = True
                    if await self.credentials.refresh(self.transport.send, token):
                        continue
                if isinstance(exc, ServerError) and self._may_retry(attempt, idempotent, exc):
                    attempt += 1
                    await self._backoff(method, attempt, exc)
                else:
                    raise
            except (TransportError, DecodeError) as exc:
                if isinstance(exc, TransportError):
                    self.counters.transport_errors += 1
                    exc.method = method
                    exc.args = (self.credentials.redact(str(exc.args[0])),)
                if not self._may_retry(attempt, idempotent, exc):
                    raise
                attempt += 1
                await self._backoff(method, attempt, exc)
            finally:
                if not settled:
                    self._settle(commands)
            self.counters.retries += 1

    async def _send_once(self, request: HttpRequest, method: str, commands: int) -> RawResponse:
        async with self.throttle.request_slot():
            self.counters.requests += 1
            self.counters.commands += commands
            started = time.monotonic()
            raw = await self.transport.send(request)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s -> HTTP %d in %.3fs", method, raw.status, time.monotonic() - started)
        return raw

    def _settle(self, commands: Sequence[str]) -> None:
        for command in commands:
            self.throttle.settle(command, None)

    def _may_retry(self, attempt: int, idempotent: bool, exc: B24Error) -> bool:
        if attempt + 1 >= self.retry.attempts:
            return False
        never_sent = isinstance(exc, TransportError) and not exc.sent
        return idempotent or never_sent

    async def _backoff(self, method: str, attempt: int, exc: B24Error) -> None:
        delay = self.retry.delay(attempt, self._rng)
        # The exception's text already names the method.
        logger.warning(
            "%s: %s; retry %d in %.2fs",
            type(exc).__name__,
            self.credentials.redact(str(exc)),
            attempt,
            delay,
        )
        await asyncio.sleep(delay)

    def _relocate(self, location: str) -> None:
        origin, _ = _origin(location, what="redirect location")
        logger.warning("portal moved to %s; re-sending there", origin)
        self.credentials.relocate(origin)
