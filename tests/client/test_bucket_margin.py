"""The request bucket's safety margin against the strict FakePortal, in virtual time.

We count a request when it takes its bucket slot; the portal counts it when it arrives. The
test puts a delay between the two (an aiohttp trace hook that sleeps before the request
leaves: the client has counted it, the portal has not). Delays that are the same for every
request only shift the schedule; what overflows the portal's bucket is a run of late requests
followed by an on-time one (a congestion episode ending). Such a transition lifts the portal's
level ``rate * jitter`` slots above ours, which is what the margin (``rate * jitter`` slots,
``RateLimits.jitter``) is there to absorb. Everything runs on virtual time, so the checks on
the pace are exact, not timed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import SimpleNamespace

import aiohttp
import pytest

from b24async import Bitrix24, RateLimits
from b24async.testing import FakePortal, LoopClock

pytestmark = [pytest.mark.looptime, pytest.mark.timeout(120)]

STANDARD = RateLimits.STANDARD
ENTERPRISE = RateLimits.ENTERPRISE
PROCESSING = 0.02  # seconds per command on the portal, as in the benchmark
# Enterprise: 16 requests in flight must outpace 5/s by enough to fill 250 slots early.
FAST_PROCESSING = 0.004
LATENCY = 0.03  # seconds added to every reply, as in the benchmark
EPISODE = 10  # requests per congestion episode: 10 late ones, then 10 on time, and so on


def episodes(jitter: float) -> Callable[[int], float]:
    """Request ``k`` (0-based) is ``jitter`` late in every other run of ``EPISODE`` requests."""
    return lambda k: jitter if (k // EPISODE) % 2 == 0 else 0.0


def _delaying_session(delay: Callable[[int], float], sent: list[float]) -> aiohttp.ClientSession:
    """A session whose ``k``-th request leaves ``delay(k)`` seconds after the client counted it.

    ``sent`` gets the loop time each request was counted at (the moment its slot was taken:
    the hook runs first thing in ``ClientSession._request``).
    """

    async def on_request_start(
        _session: aiohttp.ClientSession, _ctx: SimpleNamespace, params: object
    ) -> None:
        k = len(sent)
        sent.append(asyncio.get_running_loop().time())
        if seconds := delay(k):
            await asyncio.sleep(seconds)

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    return aiohttp.ClientSession(trace_configs=[trace])


class Peak:
    """Records the portal's bucket level after every request it admits."""

    def __init__(self, portal: FakePortal) -> None:
        self.level = 0.0
        bucket = portal.bucket
        admit = bucket.try_add

        def try_add() -> bool:
            admitted = admit()
            self.level = max(self.level, bucket.level)
            return admitted

        bucket.try_add = try_add  # type: ignore[method-assign]


async def _bulk_write(
    limits: RateLimits, requests: int, delay: Callable[[int], float]
) -> tuple[list[float], int, float]:
    """``requests`` batch requests of 50 ``user.update``; (count times, 503s, peak level)."""
    clock = LoopClock()
    async with FakePortal(
        users=60,
        rate=limits.rate,
        burst=limits.burst,
        processing=PROCESSING if limits.rate <= 2 else FAST_PROCESSING,
        latency=LATENCY,
        clock=clock,
    ) as portal:
        peak = Peak(portal)
        sent: list[float] = []
        commands = [("user.update", {"ID": 2 + i % 50}) for i in range(requests * 50)]
        async with (
            _delaying_session(delay, sent) as session,
            Bitrix24(portal.webhook_url, limits=limits, session=session, clock=clock) as b24,
        ):
            result = await b24.batch(commands)
        assert len(result.responses) == len(commands)
        assert not result.errors
        return sent, portal.stats.by_status.get(503, 0), peak.level


def _burst_then_steady(limits: RateLimits, steady: int) -> int:
    return limits.burst + steady


@pytest.mark.parametrize(
    ("limits", "steady"), [(STANDARD, 100), (ENTERPRISE, 100)], ids=["standard", "enterprise"]
)
async def test_no_503_under_the_jitter_the_margin_claims(limits: RateLimits, steady: int) -> None:
    requests = _burst_then_steady(limits, steady)
    # Just inside the claim: looptime moves in whole microseconds.
    jitter = limits.jitter - 1e-3
    sent, refused, peak = await _bulk_write(limits, requests, episodes(jitter))
    assert refused == 0
    assert len(sent) == requests
    # The bunching is real: the portal's level rose past our bucket's capacity into the margin.
    margin = limits.rate * limits.jitter
    assert limits.burst - margin + 0.9 * limits.rate * jitter <= peak <= limits.burst


@pytest.mark.parametrize("limits", [STANDARD, ENTERPRISE], ids=["standard", "enterprise"])
async def test_more_jitter_than_claimed_meets_503s(limits: RateLimits) -> None:
    # The same job with the bunching above the margin: the portal refuses (and the client
    # still ends every command: a 503 means the command did not run, and it is sent again).
    requests = _burst_then_steady(limits, 60)
    jitter = 1.8 * limits.jitter
    _sent, refused, _peak = await _bulk_write(limits, requests, episodes(jitter))
    assert refused > 0


@pytest.mark.parametrize("limits", [STANDARD, ENTERPRISE], ids=["standard", "enterprise"])
async def test_the_pace_is_the_ceiling_less_the_margin(limits: RateLimits) -> None:
    # Without added bunching: the burst less the margin at once, then exactly ``rate`` per
    # second. So the k-th request (k > burst) leaves at (k - burst) / rate + jitter seconds:
    # the margin costs the job ``jitter`` seconds once, never a slower steady rate.
    requests = _burst_then_steady(limits, 100)
    sent, refused, peak = await _bulk_write(limits, requests, lambda _k: 0.0)
    assert refused == 0
    ceiling = (requests - limits.burst) / limits.rate  # the portal's earliest for the last one
    last = sent[-1] - sent[0]
    assert ceiling + limits.jitter - 1e-3 <= last <= ceiling + limits.jitter + 1e-3
    steady = [b - a for a, b in zip(sent[-50:-1], sent[-49:], strict=True)]
    assert max(steady) == pytest.approx(1 / limits.rate, abs=1e-3)
    assert peak <= limits.burst - limits.rate * limits.jitter + 1e-6


async def test_a_wider_jitter_costs_its_seconds_once() -> None:
    limits = RateLimits(jitter=1.0)  # 2 slots at 2/s: the margin this client kept before
    requests = _burst_then_steady(limits, 40)
    sent, refused, _peak = await _bulk_write(limits, requests, episodes(0.95))
    assert refused == 0
    ceiling = (requests - limits.burst) / limits.rate
    # The episodes delay the requests' arrival, not their count: the pace is unchanged.
    assert sent[-1] - sent[0] == pytest.approx(ceiling + 1.0, abs=1e-3)
