"""The list read's per-page shortcuts give exactly what the general code gives.

``Timing.from_wire`` (one per command of every batch answer) converts floats without checks and
remembers the dates it has read; ``page_commands`` encodes a list read's params once for all its
pages. Neither may change a value, an equality, a hash, a repr or a pickle.
"""

from __future__ import annotations

import datetime as dt
import pickle
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from b24async import Timing
from b24async.batchcodec import Command, page_commands
from b24async.protocol import _datetime_of

UTC = dt.timezone.utc

WIRE = {
    "start": 1764448000.25,
    "finish": 1764448001.5,
    "duration": 1.25,
    "processing": 1.0,
    "date_start": "2026-11-29T20:26:40+00:00",
    "date_finish": "2026-11-29T20:26:41+03:00",
    "operating": 2.5,
    "operating_reset_at": 1764448600,
}


def test_each_wire_key_lands_in_its_own_field() -> None:
    timing = Timing.from_wire(WIRE)
    assert timing == Timing(
        start=1764448000.25,
        finish=1764448001.5,
        duration=1.25,
        processing=1.0,
        date_start=dt.datetime(2026, 11, 29, 20, 26, 40, tzinfo=UTC),
        date_finish=dt.datetime(
            2026, 11, 29, 20, 26, 41, tzinfo=dt.timezone(dt.timedelta(hours=3))
        ),
        operating=2.5,
        operating_reset_at=1764448600.0,
    )
    assert isinstance(timing.operating_reset_at, float)  # an int on the wire, a float here


def test_a_wire_timing_is_an_ordinary_timing() -> None:
    timing = Timing.from_wire(WIRE)
    assert timing is not None
    built = Timing(**attrs.asdict(timing))
    assert type(timing) is Timing
    assert timing == built and hash(timing) == hash(built) and repr(timing) == repr(built)
    assert pickle.loads(pickle.dumps(timing)) == timing
    assert attrs.evolve(timing, operating=None).operating is None
    assert timing.start_datetime == dt.datetime.fromtimestamp(1764448000.25, UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"start": "1.5", "finish": 2, "processing": ""}, {"start": 1.5, "finish": 2.0}),
        ({"start": "soon", "duration": None, "operating": [1]}, {}),
        ({"date_start": "not a date", "date_finish": {}}, {}),
        ({"date_start": 1764448000, "date_finish": ""}, {}),
        ({"date_start": "2026-11-29"}, {"date_start": dt.datetime(2026, 11, 29, tzinfo=UTC)}),
    ],
)
def test_odd_values_read_as_before(raw: dict[str, Any], expected: dict[str, Any]) -> None:
    # The time block is informational: what cannot be read is None, never an error.
    assert Timing.from_wire(raw) == Timing(**expected)


def test_a_date_is_read_once_and_shared() -> None:
    first = Timing.from_wire(WIRE)
    second = Timing.from_wire(dict(WIRE))
    assert first is not None and second is not None
    assert first.date_start is second.date_start  # immutable: sharing is safe
    assert _datetime_of.cache_info().maxsize == 64  # bounded: a long-lived app keeps few


def test_not_a_time_block_is_none() -> None:
    assert Timing.from_wire(None) is None
    assert Timing.from_wire([1, 2]) is None


_keys = st.text(alphabet="abcXYZ_.[] $", min_size=1, max_size=6).filter(lambda k: k != "start")
_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.sampled_from(["x", "a b", "$result[p0][ID]", "$RESULT[x]", "é&=?", ""]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None)
@given(params=st.dictionaries(_keys, _values, max_size=4), starts=st.lists(st.integers(0, 10**6)))
def test_page_commands_equal_one_command_per_page(
    params: dict[str, Any], starts: list[int]
) -> None:
    for fast in page_commands("user.get", params, starts):
        start = int(fast.name[1:])
        slow = Command(fast.name, "user.get", {**params, "start": start})
        assert fast == slow and repr(fast) == repr(slow)  # (params: a dict, no hash)
        assert (fast.query, fast.references, fast.alone) == (
            slow.query,
            slow.references,
            slow.alone,
        )
        assert fast.request is None


def test_page_commands_refuse_a_start_of_their_own() -> None:
    with pytest.raises(ValueError, match="start"):
        page_commands("user.get", {"start": 0}, [50])
