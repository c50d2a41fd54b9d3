"""The fake portal's reply shaping prints the same bytes as before its fast path.

:func:`~b24async.testing.phpquery.php_json_shape` returns flat objects (``str`` keys, scalar
values, not list-like) as they are instead of copying them; ``json.dumps`` must print exactly
what it printed for the copy. ``reference`` is the shaping as it was written before.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from b24async import Bitrix24
from b24async.methods import GetAccessibility
from b24async.testing import FakePortal, replies
from b24async.testing.phpquery import php_json_shape

_SCALARS = frozenset({str, int, float, bool, type(None)})


def reference(value: Any) -> Any:
    """``php_json_shape`` before the fast path (copied from its previous version)."""
    if type(value) in _SCALARS:
        return value
    if isinstance(value, Mapping):
        if all(str(key) == str(position) for position, key in enumerate(value)):
            return [reference(item) for item in value.values()]
        return {
            key if type(key) is str else str(key): item
            if type(item) in _SCALARS
            else reference(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [item if type(item) in _SCALARS else reference(item) for item in value]
    return value


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def test_a_big_batch_answer_is_printed_byte_for_byte_as_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every reply of a 300-user, four-week availability read (a batch of 6 commands)."""
    compared: list[int] = []

    def checking(payload: Any) -> Any:
        shaped = php_json_shape(payload)
        expected = dumps(reference(payload))
        assert dumps(shaped) == expected
        compared.append(len(expected))
        return shaped

    monkeypatch.setattr(replies, "php_json_shape", checking)

    async def read() -> int:
        monday = dt.date.today() - dt.timedelta(days=dt.date.today().weekday())
        request = GetAccessibility(
            users=range(1, 301), start=monday, end=monday + dt.timedelta(days=27)
        )
        async with (
            FakePortal(users=300, latency=0, processing=0) as portal,
            Bitrix24(portal.webhook_url) as b24,
        ):
            availability = await b24(request)
            return sum(len(entries) for entries in availability.values())

    intervals = asyncio.run(read())
    assert intervals > 5_000
    assert max(compared) > 1_000_000  # the batch answer itself went through the check


_keys = st.one_of(
    st.sampled_from(["0", "1", "2", "ID", ""]), st.integers(-1, 3), st.text(max_size=3)
)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=4),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(_keys, inner, max_size=4),
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(_values)
def test_any_value_is_printed_as_before(value: Any) -> None:
    assert dumps(php_json_shape(value)) == dumps(reference(value))
