"""The spreading plan (b24async.spreading): pure, so tested directly and by properties."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from b24async.spreading import (
    MAX_PARTS,
    PRIOR_RATIO,
    REQUEST_CPU,
    SPREAD_MIN,
    CostLog,
    Costs,
    Reading,
    model_wall,
    plan_spread,
)

UNKNOWN = Costs()


def plan(
    n: int,
    *,
    idle: bool = True,
    reads: bool = True,
    room: float | None = 49.5,  # an idle standard bucket: 50 less its margin
    costs: Costs = UNKNOWN,
) -> tuple[int, ...]:
    return plan_spread(n, idle=idle, reads=reads, room=room, costs=costs)


commands = st.integers(1, 50)
rooms = st.one_of(st.none(), st.floats(0, 250, allow_nan=False))
seconds = st.one_of(st.none(), st.floats(0, 10, allow_nan=False))
costs = st.builds(Costs, seconds, seconds, st.floats(0, 1, allow_nan=False))


@settings(max_examples=500, deadline=None)
@given(commands, st.booleans(), st.booleans(), rooms, costs)
def test_any_plan_covers_every_command_in_bounded_ascending_parts(
    n: int, idle: bool, reads: bool, room: float | None, known: Costs
) -> None:
    sizes = plan_spread(n, idle=idle, reads=reads, room=room, costs=known)
    assert sum(sizes) == n
    assert all(1 <= size <= 50 for size in sizes)
    assert list(sizes) == sorted(sizes)
    assert 1 <= len(sizes) <= MAX_PARTS
    if len(sizes) > 1:  # a spread: only for a large read on an idle client, with room
        assert idle and reads and n >= SPREAD_MIN
        assert len(sizes) <= (2 if room is None else room / 2)


@pytest.mark.parametrize(
    "changes",
    [
        {"idle": False},  # something queued or in flight: a fan-in keeps its fewest requests
        {"reads": False},  # a write, even an idempotent one
        {"room": 3.9},  # less than two parts' worth in half the free room
        {"room": 0.0},
    ],
)
def test_no_spread_unless_an_idle_read_with_room(changes: dict[str, Any]) -> None:
    assert plan(50, **changes) == (50,)


def test_small_reads_go_whole() -> None:
    assert plan(SPREAD_MIN - 1) == (SPREAD_MIN - 1,)
    assert len(plan(SPREAD_MIN)) > 1


def test_the_room_bounds_the_parts() -> None:
    assert len(plan_spread(40, idle=True, reads=True, room=4.0)) == 2
    assert len(plan_spread(40, idle=True, reads=True, room=7.9)) == 3
    assert len(plan_spread(40, idle=True, reads=True, room=None)) == 2  # cannot tell
    assert len(plan_spread(40, idle=True, reads=True, room=500.0)) == MAX_PARTS


def test_first_read_uses_the_prior() -> None:
    # Unmeasured: parts grow by 1 + PRIOR_RATIO, nearly equal (the cheap end of the guess).
    sizes = plan(40)
    assert sizes == (3, 4, 4, 5, 5, 6, 6, 7)
    assert Costs().ratio == Costs(server=0.005).ratio == PRIOR_RATIO


def test_a_costly_decode_starts_small_and_grows() -> None:
    # decode 6.5 ms, portal 5 ms per command (the FakePortal's availability job)
    sizes = plan(40, costs=Costs(server=0.005, decode=0.0065))
    assert sizes[0] == 1 and sizes[-1] >= 20
    assert list(sizes) == sorted(sizes)


def test_a_cheap_decode_shares_the_portal_work_evenly() -> None:
    sizes = plan(48, costs=Costs(server=0.05, decode=0.0001))
    assert sizes == (6,) * 8


@pytest.mark.parametrize("decode", [0.0005, 0.002, 0.0035, 0.0065, 0.015])
def test_the_plan_beats_two_halves_and_one_request_in_the_model(decode: float) -> None:
    """At every decode cost, measured or not, the plan's wall is under the old rule's."""
    model = {"server": 0.005, "decode": decode, "latency": 0.03}
    one = model_wall([40], **model)
    halves = model_wall([20, 20], **model)
    for known in (Costs(), Costs(server=0.005, decode=decode)):
        sizes = plan(40, costs=known)
        assert model_wall(sizes, **model) < halves < one


def test_measured_costs_do_at_least_as_well_as_the_prior() -> None:
    for decode in (0.0005, 0.002, 0.0035, 0.0065, 0.015):
        model = {"server": 0.005, "decode": decode, "latency": 0.03}
        prior = plan(40)
        measured = plan(40, costs=Costs(0.005, decode))
        assert model_wall(measured, **model) <= model_wall(prior, **model) * 1.001


def test_model_wall_by_hand() -> None:
    # Parts of 1 and 3 commands, 1 s each on the portal, 2 s each to decode, 0.5 s latency:
    # the 1 arrives at 1.5 and is decoded by 3.5; the 3 arrives at 3.5, decoded by 9.5.
    assert model_wall([3, 1], server=1.0, decode=2.0, latency=0.5) == 9.5
    # The decode waits for the answer: 1 arrives at 1, done at 1.1; 3 arrives at 3, done 3.3.
    assert model_wall([1, 3], server=1.0, decode=0.1) == pytest.approx(3.3)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        plan(0)
    with pytest.raises(ValueError, match="at most 50"):
        plan(51)


def test_costs_ratio_is_clipped() -> None:
    assert Costs(server=1.0, decode=0.0).ratio == 0.02
    assert Costs(server=0.001, decode=1.0).ratio == 5.0
    assert Costs(server=0.0, decode=1.0).ratio == PRIOR_RATIO


def test_cost_log_averages_samples_per_method() -> None:
    log = CostLog()
    assert log.costs("m") == Costs()
    log.record("m", 10, server=0.05, decode=0.1)
    assert log.costs("m") == Costs(server=0.005, decode=0.01)
    log.record("m", 10, server=0.15, decode=None)  # half way to the new sample
    assert log.costs("m").server == pytest.approx(0.01)
    assert log.costs("m").decode == pytest.approx(0.01)
    log.record("m", 10, server=math.inf, decode=-1.0)  # nonsense is ignored
    log.record("m", 0, server=1.0, decode=1.0)
    assert log.costs("m").server == pytest.approx(0.01)
    assert log.costs("other") == Costs()


def test_a_reading_records_once_every_command_delivered() -> None:
    log = CostLog()
    reading = Reading("m", 2, started=1.0, requests=3)
    assert reading.delivered(0.1) is False
    reading.record(log, 2.0)  # not done yet: nothing recorded
    assert log.costs("m") == Costs()
    assert reading.delivered(0.1) is True
    reading.record(log, 2.0)
    # The CPU less each request's own cost is the decode, per command.
    decode = (1.0 - 3 * REQUEST_CPU) / 2
    assert log.costs("m") == Costs(server=pytest.approx(0.1), decode=pytest.approx(decode))


@pytest.mark.parametrize("method", ["m", None])
def test_a_reading_records_nothing_when_misleading(method: str | None) -> None:
    log = CostLog()
    reading = Reading(method, 2, started=1.0)
    reading.delivered(0.1)
    reading.delivered(0.1)
    if method is not None:
        reading.failed = True  # a command failed, was re-sent, held or cut short
    reading.record(log, 2.0)  # (or mixed methods: no method to record for)
    assert log.costs("m") == Costs()


def test_a_reading_without_a_time_block_records_the_decode_only() -> None:
    log = CostLog()
    reading = Reading("m", 2, started=1.0)
    reading.delivered(None)
    reading.delivered(0.1)
    reading.record(log, 2.0)
    assert log.costs("m") == Costs(server=None, decode=pytest.approx((1.0 - REQUEST_CPU) / 2))


def test_a_costly_request_makes_fewer_parts() -> None:
    """Each part costs the client ``request`` of CPU: the dearer, the fewer parts pay."""
    counts = []
    for request in (0.0, 0.001, 0.003, 0.01, 0.03, 0.1, 1.0):
        sizes = plan(40, costs=Costs(server=0.005, decode=0.0005, request=request))
        assert sum(sizes) == 40 and list(sizes) == sorted(sizes)
        counts.append(len(sizes))
    assert counts == sorted(counts, reverse=True)
    assert counts[0] == MAX_PARTS and counts[-1] == 1  # free: all 8; a second each: one request
    assert len(set(counts)) >= 4  # and steps in between


def test_the_prior_plan_does_not_weigh_requests() -> None:
    # Unmeasured there is no scale to weigh a request's cost against: the prior's parts.
    assert plan(40, costs=Costs(request=1.0)) == plan(40) == (3, 4, 4, 5, 5, 6, 6, 7)
    assert plan(40, costs=Costs(server=0.005, request=1.0)) == plan(40)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(SPREAD_MIN, 50),
    st.floats(1e-4, 0.1),
    st.floats(0, 0.05),
    st.floats(0, 0.05),
)
def test_weighing_requests_never_does_worse_in_the_model(
    n: int, server: float, decode: float, request: float
) -> None:
    """With each request's cost in the model, the plan beats (or ties) one request and the
    plan that ignores it."""
    model = {"server": server, "decode": server * Costs(server, decode).ratio, "request": request}
    counted = plan(n, costs=Costs(server, decode, request))
    ignored = plan(n, costs=Costs(server, decode, 0.0))
    wall = model_wall(counted, **model)
    assert wall <= model_wall((n,), **model) * (1 + 1e-9)
    assert wall <= model_wall(ignored, **model) * (1 + 1e-9)
