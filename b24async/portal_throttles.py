"""One throttle per portal: clients of the same portal in one process share their limits.

The portal counts requests per portal and source IP (one bucket for every app and webhook on
this machine), and execution time per credential and method (the operating budgets). Twenty
``Bitrix24`` objects for one portal, each with its own bucket, would send twenty times the
portal's rate and collect 503s. So the default throttles come from this registry:

* one request bucket per (event loop, portal origin, limits), shared by every client of that
  portal whatever its credential;
* one :class:`~b24async.throttle.Throttle` (operating budgets and in-flight cap, over that
  bucket) per (event loop, portal origin, limits, credential).

Entries are weak: when the last client using a throttle is gone, so is the throttle. Keys start
with the running event loop, because asyncio primitives must not cross loops. A client given
its own ``throttle=`` does not take part (a policy shared between processes, e.g. through Redis,
is the caller's to share). Clients of one portal that disagree about ``limits`` cannot share a
bucket; that is logged once as a warning.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import weakref
from collections.abc import Hashable

from b24async.bucket import LeakyBucket, RequestBucket
from b24async.clock import SYSTEM_CLOCK, Clock
from b24async.limits import RateLimits
from b24async.throttle import Throttle

__all__ = ["shared_throttle"]

logger = logging.getLogger("b24async")


class _LoopShare:
    """The shared buckets and throttles of one event loop."""

    def __init__(self) -> None:
        self.buckets: weakref.WeakValueDictionary[tuple[str, RateLimits], RequestBucket] = (
            weakref.WeakValueDictionary()
        )
        self.throttles: weakref.WeakValueDictionary[tuple[str, RateLimits, Hashable], Throttle] = (
            weakref.WeakValueDictionary()
        )
        self.warned: set[str] = set()


_BY_LOOP: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopShare] = (
    weakref.WeakKeyDictionary()
)


def credential_key(kind: str, identity: str) -> str:
    """A registry key for a credential that keeps no secret readable (a short digest)."""
    return f"{kind}:{hashlib.sha256(identity.encode()).hexdigest()[:16]}"


def shared_throttle(
    origin: str,
    credential: Hashable,
    limits: RateLimits,
    *,
    max_concurrency: int,
    clock: Clock = SYSTEM_CLOCK,
) -> Throttle:
    """The throttle every client of ``origin`` with ``credential`` uses in the running loop.

    The first client's ``max_concurrency`` sets the shared in-flight cap, and its ``clock``
    the shared throttle's clock.
    """
    share = _BY_LOOP.setdefault(asyncio.get_running_loop(), _LoopShare())
    key = (origin, limits, credential)
    throttle = share.throttles.get(key)
    if throttle is not None:
        return throttle
    bucket = share.buckets.get((origin, limits))
    if bucket is None:
        bucket = LeakyBucket(limits.rate, limits.burst, jitter=limits.jitter, clock=clock)
        other = [k for k in share.buckets if k[0] == origin and k[1] != limits]
        if other and origin not in share.warned:
            share.warned.add(origin)
            logger.warning(
                "clients of %s were created with different limits; they cannot share one "
                "request bucket and may be refused with 503 (use one client per portal)",
                origin,
            )
        share.buckets[(origin, limits)] = bucket
    webhook = isinstance(credential, str) and credential.startswith("webhook:")
    throttle = Throttle(
        limits, max_concurrency=max_concurrency, bucket=bucket, webhook=webhook, clock=clock
    )
    share.throttles[key] = throttle
    return throttle
