"""PHP array semantics: parse_str, http_build_query, intval, (bool) and json_encode shapes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from b24async.testing.phpquery import (
    build_query_php,
    parse_pairs_php,
    parse_qs_php,
    php_bool,
    php_intval,
    php_json_shape,
    php_numeric_string,
)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("users[]=1&users[]=2", {"users": ["1", "2"]}),
        ("a[0]=1&a[1]=2", {"a": ["1", "2"]}),
        ("a[1]=x&a[0]=y", {"a": {"1": "x", "0": "y"}}),  # keys 0..n-1 but not in order
        ("a[]=1&a[5]=2&a[]=3", {"a": {"0": "1", "5": "2", "6": "3"}}),
        ("filter[%3EID]=5", {"filter": {">ID": "5"}}),
        ("filter[>ID]=5&fields[ACTIVE]=N", {"filter": {">ID": "5"}, "fields": {"ACTIVE": "N"}}),
        ("a[b][c]=1", {"a": {"b": {"c": "1"}}}),
        ("a%5Bb%5D%5B%5D=1", {"a": {"b": ["1"]}}),
        ("a.b=1&c d=2", {"a_b": "1", "c_d": "2"}),
        ("a[b.c]=1", {"a": {"b.c": "1"}}),  # only the top-level name is mangled
        ("a[b=1", {"a_b": "1"}),
        ("a[x][b=1", {"a": {"x": "1"}}),
        ("a[b]junk=1", {"a": {"b": "1"}}),
        ("[a]=1", {}),
        ("x=1&x[]=2", {"x": ["2"]}),
        ("x[]=2&x=1", {"x": "1"}),
        ("a[ ]=1", {"a": ["1"]}),
        ("=1&&b", {"b": ""}),
        ("q=a+b%20c%zz", {"q": "a b c%zz"}),
        ("name=%D0%98%D0%B2%D0%B0%D0%BD", {"name": "Иван"}),
        ("a%00b=1", {"a": "1"}),
        ("", {}),
    ],
)
def test_parse_qs_php(query: str, expected: dict[str, Any]) -> None:
    assert parse_qs_php(query) == expected


def test_too_deep_names_delete_the_variable() -> None:
    deep = "a" + "[x]" * 65
    assert parse_qs_php(f"a[k]=1&{deep}=2") == {}
    assert parse_qs_php("a" + "[x]" * 64 + "=2")["a"]["x"]["x"]["x"] is not None


def test_parse_pairs_php_registers_decoded_names() -> None:
    assert parse_pairs_php([("users[]", "1"), ("users[]", "2"), ("f[>ID]", "a&b")]) == {
        "users": ["1", "2"],
        "f": {">ID": "a&b"},
    }


def test_build_query_php() -> None:
    query = build_query_php(
        {"users": [1, 2], "filter": {">ID": 5, "x": None}, "halt": True, "off": False, "s": "a b&"}
    )
    assert query == ("users%5B0%5D=1&users%5B1%5D=2&filter%5B%3EID%5D=5&halt=1&off=0&s=a+b%26")
    assert parse_qs_php(query) == {
        "users": ["1", "2"],
        "filter": {">ID": "5"},
        "halt": "1",
        "off": "0",
        "s": "a b&",
    }


_keys = st.text(alphabet="abcdefghijkXYZ_-", min_size=1, max_size=6)
_leaves = st.text(max_size=10)
_values = st.recursive(
    _leaves,
    lambda inner: (
        st.lists(inner, min_size=1, max_size=3)
        | st.dictionaries(_keys, inner, min_size=1, max_size=3)
    ),
    max_leaves=10,
)


@settings(suppress_health_check=[HealthCheck.too_slow])  # generation is slow on a loaded machine
@given(st.dictionaries(_keys, _values, max_size=4))
def test_build_then_parse_round_trips(params: dict[str, Any]) -> None:
    assert parse_qs_php(build_query_php(params)) == params


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12abc", 12),
        ("abc", 0),
        (" 7", 7),
        ("-3", -3),
        ("1e3", 1000),
        ("1.9", 1),
        ("0x1A", 0),
        ("", 0),
        (None, 0),
        (2.7, 2),
        (-2.7, -2),
        (True, 1),
        ([], 0),
        (["x"], 1),
        ("99999999999999999999", 2**63 - 1),
    ],
)
def test_php_intval(value: Any, expected: int) -> None:
    assert php_intval(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", False),
        ("", False),
        ("false", True),
        ("00", True),
        ("0.0", True),
        (0, False),
        (1, True),
        (0.0, False),
        (None, False),
        (False, False),
        (True, True),
        ([], False),
        ({"a": 1}, True),
    ],
)
def test_php_bool(value: Any, expected: bool) -> None:
    assert php_bool(value) is expected


def test_php_json_shape() -> None:
    shaped = php_json_shape(
        {"empty": {}, "list": {"0": "a", "1": {}}, "ints": {0: "a"}, "gap": {"1": "x"}, "l": [{}]}
    )
    assert shaped == {"empty": [], "list": ["a", []], "ints": ["a"], "gap": {"1": "x"}, "l": [[]]}


@pytest.mark.parametrize(
    ("number", "text"),
    [(1, "1"), (1.0, "1"), (0.1, "0.1"), (-2.5, "-2.5"), (1e20, "1.0E+20"), (1e-7, "1.0E-7")],
)
def test_php_numeric_string(number: float, text: str) -> None:
    assert php_numeric_string(number) == text
