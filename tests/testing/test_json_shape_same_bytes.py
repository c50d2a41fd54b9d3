"""The fake portal's reply shaping prints the same bytes as before its fast path.

:func:`~b24async.testing.phpquery.php_json_shape` returns flat objects (``str`` keys, scalar
values, not list-like) as they are instead of copying them; ``json.dumps`` must print exactly
what it printed for the copy. ``reference`` is the shaping as it was written before (also the
reference of ``test_printed_answers.py``, which compares whole replies byte for byte).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

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
