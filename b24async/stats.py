"""What a client has done so far, as a frozen snapshot (``Bitrix24.stats``)."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from b24async.operating import MethodUsage

__all__ = ["ClientStats", "Counters"]


@attrs.define
class Counters:
    """Mutable counters the client bumps; :class:`ClientStats` is their public snapshot."""

    requests: int = 0
    commands: int = 0
    batches: int = 0
    retries: int = 0
    query_limit_hits: int = 0
    operation_limit_hits: int = 0
    transport_errors: int = 0
    coalesced_calls: int = 0
    dropped_calls: int = 0


@attrs.frozen
class ClientStats:
    """A snapshot of a client's activity.

    Attributes:
        requests: HTTP requests sent to the portal (a ``batch`` is one).
        commands: REST commands carried by those requests (each command of a batch counts).
        batches: ``batch`` requests sent (explicit and coalesced).
        retries: calls tried again after a failure of any kind.
        query_limit_hits: HTTP 503 ``QUERY_LIMIT_EXCEEDED`` answers received.
        operation_limit_hits: ``OPERATION_TIME_LIMIT`` answers received (HTTP 429 or in a batch).
        transport_errors: requests that got no HTTP answer.
        coalesced_calls: ``call()``s that travelled inside an automatic batch.
        dropped_calls: queued ``call()``s dropped unsent because their caller was cancelled
            (a cancelled call already on the wire is counted in ``requests``; its result is
            discarded).
        throttle_wait: seconds spent waiting for bucket and in-flight slots.
        operating_wait: seconds calls spent held by their method's operating budget: each
            request's wait for admission, plus the time the coalescing queue waited with
            every call in it held.
        token_refreshes: OAuth refreshes performed.
        operating: per-method operating usage as last reported by the portal.
    """

    requests: int
    commands: int
    batches: int
    retries: int
    query_limit_hits: int
    operation_limit_hits: int
    transport_errors: int
    coalesced_calls: int
    throttle_wait: float
    operating_wait: float
    token_refreshes: int
    operating: Mapping[str, MethodUsage]
    dropped_calls: int = 0
