"""The portal's limits as one frozen value: request intensity and per-method operating time."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from b24async.bucket import DEFAULT_JITTER

__all__ = ["RateLimits"]


def _positive(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value!r}")


def _not_negative(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value >= 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


@attrs.frozen
class RateLimits:
    """The limits a portal enforces, mirrored by the client's throttle.

    Attributes:
        rate: leaky-bucket drain, requests per second (2 on standard plans, 5 on Enterprise).
        burst: leaky-bucket size (50 standard, 250 Enterprise). A ``batch`` costs one request.
        operating_budget: the operating threshold: handler seconds one key (a method, or
            ``batch``) may be billed per window. 420 as in the server code; the docs' example
            is 480 and the cloud may set its own (the client learns a lower one from a 429).
        operating_window: the window of the operating budget, seconds (600: ten 1-minute buckets).
        operating_floor: a key's per-request sum is billed only above this (0.1 s).
        operating_ban: how long newer portals ban a key after a refusal (300 s).
        jitter: not a portal limit but the client's allowance for it: the seconds by which
            requests may bunch between the client's count and the portal's (network jitter,
            a new connection's handshake, event-loop lag; 0.25 s). The client's request
            bucket keeps ``rate * jitter`` slots free, which delays a job that fills the
            bucket by ``jitter`` seconds once (see :class:`~b24async.bucket.LeakyBucket`).

    See RU/EN ``limits.md`` and facts §2 (server code). ``RateLimits.STANDARD`` and
    ``RateLimits.ENTERPRISE`` are the documented presets; :meth:`scaled` matches a
    ``FakePortal`` started with ``time_scale``.
    """

    STANDARD: ClassVar[RateLimits]
    ENTERPRISE: ClassVar[RateLimits]

    rate: float = attrs.field(default=2.0, validator=_positive)
    burst: int = attrs.field(default=50, validator=_positive)
    operating_budget: float = attrs.field(default=420.0, validator=_positive)
    operating_window: float = attrs.field(default=600.0, validator=_positive)
    operating_floor: float = attrs.field(default=0.1, validator=_positive)
    operating_ban: float = attrs.field(default=300.0, validator=_positive)
    jitter: float = attrs.field(default=DEFAULT_JITTER, validator=_not_negative)

    def scaled(self, time_scale: float) -> RateLimits:
        """Shrink the operating times by ``time_scale`` (the request bucket is unchanged)."""
        if not time_scale > 0:
            raise ValueError(f"time_scale must be > 0, got {time_scale!r}")
        return attrs.evolve(
            self,
            operating_budget=self.operating_budget * time_scale,
            operating_window=self.operating_window * time_scale,
            operating_floor=self.operating_floor * time_scale,
            operating_ban=self.operating_ban * time_scale,
        )


RateLimits.STANDARD = RateLimits()
RateLimits.ENTERPRISE = RateLimits(rate=5.0, burst=250)
