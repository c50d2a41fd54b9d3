"""The wire-to-Python conversions in b24async.models._convert: examples and properties."""

from __future__ import annotations

import pickle
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from b24async.models import Accessibility, BusyInterval, User
from b24async.models import _convert as cv

SETTINGS = settings(max_examples=150, deadline=None)

# --- integers -------------------------------------------------------------------------------------


@SETTINGS
@given(st.integers(min_value=-(2**63), max_value=2**63))
def test_int_from_int_and_numeric_string_agree(n: int) -> None:
    assert cv.as_int(n, "X") == n
    assert cv.as_int(str(n), "X") == n
    assert cv.as_int(f" {n} ", "X") == n


@pytest.mark.parametrize("bad", [True, False, None, "", "1.5", "12a", "0x10", [], {}, 1.5])
def test_int_refuses_non_integers(bad: Any) -> None:
    with pytest.raises(ValueError, match="X: expected an integer"):
        cv.as_int(bad, "X")


# --- flags ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("Y", True),
        ("N", False),
        ("y", True),
        ("n", False),
        (True, True),
        (False, False),
        (1, True),
        (0, False),
        ("1", True),
        ("0", False),
        ("true", True),
        ("false", False),
    ],
)
def test_flag_spellings(wire: Any, expected: bool) -> None:
    assert cv.as_bool(wire, "F") is expected


@pytest.mark.parametrize("bad", ["", "yes", "maybe", 2, None, [], 1.0])
def test_flag_refuses_other_values(bad: Any) -> None:
    with pytest.raises(ValueError, match="F: expected a Y/N flag"):
        cv.as_bool(bad, "F")


@given(st.booleans())
def test_flag_round_trips_through_y_n(flag: bool) -> None:
    assert cv.yn(flag) in ("Y", "N")
    assert cv.as_bool(cv.yn(flag), "F") is flag


def test_optional_flag_empty_is_none() -> None:
    assert cv.as_opt_bool(None, "F") is None
    assert cv.as_opt_bool("", "F") is None
    assert cv.as_opt_bool("Y", "F") is True


# --- timestamps and ISO datetimes -----------------------------------------------------------------

TS = st.integers(min_value=-(2**31), max_value=2**34)


@SETTINGS
@given(TS)
def test_timestamps_round_trip_as_int_and_string(seconds: int) -> None:
    for wire in (seconds, str(seconds)):
        moment = cv.from_timestamp(wire, "TS")
        assert moment.tzinfo is timezone.utc
        assert moment == datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=seconds)
        assert cv.to_timestamp(moment) == seconds


# Aware datetimes in any zone, years the portal can hold. Compared in UTC: Python never calls
# a datetime inside a DST fold or gap equal to one in another zone.
AWARE = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.timezones()
)


@SETTINGS
@given(AWARE.map(lambda d: d.replace(microsecond=0)))
def test_to_timestamp_then_back_is_the_same_instant(moment: datetime) -> None:
    seconds = cv.to_timestamp(moment)
    assert cv.from_timestamp(str(seconds), "TS") == moment.astimezone(timezone.utc)


@pytest.mark.parametrize("bad", [None, "", "soon", True, [], "1e400"])
def test_timestamp_refuses_garbage(bad: Any) -> None:
    with pytest.raises(ValueError, match="TS"):
        cv.from_timestamp(bad, "TS")


def test_to_timestamp_refuses_naive() -> None:
    with pytest.raises(ValueError, match="aware"):
        cv.to_timestamp(datetime(2025, 1, 1))


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("2024-07-25T13:06:54+00:00", datetime(2024, 7, 25, 13, 6, 54, tzinfo=timezone.utc)),
        ("2024-07-25T16:06:54+03:00", datetime(2024, 7, 25, 13, 6, 54, tzinfo=timezone.utc)),
        ("2024-07-25T13:06:54Z", datetime(2024, 7, 25, 13, 6, 54, tzinfo=timezone.utc)),
        ("2024-07-25T13:06:54", datetime(2024, 7, 25, 13, 6, 54, tzinfo=timezone.utc)),
        ("2024-07-25", datetime(2024, 7, 25, tzinfo=timezone.utc)),
        ("", None),
        (None, None),
        ({}, None),
        ([], None),
    ],
)
def test_iso_datetimes(wire: Any, expected: datetime | None) -> None:
    parsed = cv.as_opt_datetime(wire, "D")
    assert parsed == expected
    if parsed is not None:
        assert parsed.tzinfo is not None


@SETTINGS
@given(AWARE)
def test_iso_round_trip(moment: datetime) -> None:
    parsed = cv.as_opt_datetime(moment.isoformat(), "D")
    assert parsed is not None
    assert parsed.utcoffset() == moment.utcoffset()
    assert parsed.astimezone(timezone.utc) == moment.astimezone(timezone.utc)


def test_iso_refuses_garbage() -> None:
    with pytest.raises(ValueError, match="D: expected an ISO-8601"):
        cv.as_opt_datetime("25.07.2024", "D")
    with pytest.raises(ValueError, match="D: expected an ISO-8601"):
        cv.as_opt_datetime(1721913235, "D")


# --- maps and lists ([] for empty maps) -----------------------------------------------------------


JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=5)


@SETTINGS
@given(st.dictionaries(st.integers(min_value=1, max_value=10**6).map(str), JSON_SCALARS))
def test_php_empty_map_is_an_empty_list(data: dict[str, Any]) -> None:
    assert cv.as_map(data, "M") == data
    assert cv.as_map([], "M") == {} == cv.as_map({}, "M")


def test_php_sequential_map_arrives_as_a_list() -> None:
    assert cv.as_map(["a", "b"], "M") == {"0": "a", "1": "b"}


@SETTINGS
@given(st.lists(JSON_SCALARS, max_size=8), st.randoms(use_true_random=False))
def test_gapped_php_list_arrives_as_an_object(items: list[Any], rnd: Any) -> None:
    keys = sorted(rnd.sample(range(100), len(items)))
    as_object = {str(k): v for k, v in zip(keys, items, strict=True)}
    shuffled = dict(rnd.sample(list(as_object.items()), len(as_object)))
    assert cv.as_list(shuffled, "L") == items
    assert cv.as_list(items, "L") == items


@pytest.mark.parametrize("empty", [None, False, "", [], {}])
def test_empty_lists(empty: Any) -> None:
    assert cv.as_list(empty, "L") == []


def test_list_and_map_refuse_scalars() -> None:
    with pytest.raises(ValueError, match="L: expected an array"):
        cv.as_list(5, "L")
    with pytest.raises(ValueError, match="M: expected an object"):
        cv.as_map("x", "M")


# --- enums, extra, FrozenMap ----------------------------------------------------------------------


def test_unknown_enum_value_gives_the_fallback() -> None:
    assert cv.as_enum(Accessibility, "busy", Accessibility.UNKNOWN) is Accessibility.BUSY
    assert cv.as_enum(Accessibility, "tentative", Accessibility.UNKNOWN) is Accessibility.UNKNOWN
    assert cv.as_enum(Accessibility, None, Accessibility.UNKNOWN) is Accessibility.UNKNOWN
    assert cv.as_enum(Accessibility, ["busy"], Accessibility.UNKNOWN) is Accessibility.UNKNOWN


EVENT_KEYS = {
    "ID",
    "NAME",
    "DATE_FROM_TS_UTC",
    "DATE_TO_TS_UTC",
    "DT_SKIP_TIME",
    "TZ_FROM",
    "TZ_TO",
    "ACCESSIBILITY",
    "IMPORTANCE",
    "EVENT_TYPE",
    "FROM_HR",
    "FROM",
    "TO",
}
USER_KEYS = {
    "ID",
    "ACTIVE",
    "NAME",
    "LAST_NAME",
    "EMAIL",
    "UF_DEPARTMENT",
    "IS_ONLINE",
    "LAST_LOGIN",
    "DATE_REGISTER",
    "USER_TYPE",
}
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)


def _extra_keys(known: set[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(
        st.text(min_size=1, max_size=12).filter(lambda k: k not in known), JSON_VALUES, max_size=5
    )


@SETTINGS
@given(
    extra=_extra_keys(EVENT_KEYS),
    ident=st.integers(min_value=1, max_value=10**9),
    start=TS,
    length=st.integers(min_value=0, max_value=10**6),
    id_as_str=st.booleans(),
)
def test_event_keeps_unknown_keys_and_converts_known_ones(
    extra: dict[str, Any], ident: int, start: int, length: int, id_as_str: bool
) -> None:
    raw = {
        "ID": str(ident) if id_as_str else ident,
        "NAME": "n",
        "DATE_FROM_TS_UTC": str(start),
        "DATE_TO_TS_UTC": str(start + length),
        "DT_SKIP_TIME": "N",
        "ACCESSIBILITY": "busy",
        "IMPORTANCE": "low",
        **extra,
    }
    item = BusyInterval.from_wire(raw)
    assert item.id == ident
    assert cv.to_timestamp(item.start) == start
    assert (item.end - item.start).total_seconds() == length
    assert dict(item.extra) == extra


@SETTINGS
@given(
    extra=_extra_keys(USER_KEYS),
    ident=st.integers(min_value=1, max_value=10**9),
    active=st.sampled_from([True, False, "Y", "N"]),
    departments=st.lists(st.integers(min_value=1, max_value=10**6), max_size=4),
)
def test_user_keeps_unknown_keys_and_converts_known_ones(
    extra: dict[str, Any], ident: int, active: Any, departments: list[int]
) -> None:
    raw = {"ID": str(ident), "ACTIVE": active, "UF_DEPARTMENT": departments, **extra}
    user = User.from_wire(raw)
    assert user.id == ident
    assert user.active is (active in (True, "Y"))
    assert user.departments == tuple(departments)
    assert dict(user.extra) == extra


def test_frozen_map_is_read_only_equal_and_picklable() -> None:
    frozen = cv.FrozenMap({"A": 1})
    assert frozen == {"A": 1}
    assert pickle.loads(pickle.dumps(frozen)) == frozen
    with pytest.raises(TypeError):
        frozen["A"] = 2  # type: ignore[index]
    with pytest.raises(TypeError):
        hash(frozen)
    assert cv.freeze(frozen) is frozen


def test_compact_frozen_map_is_the_same_map() -> None:
    index = {"A": 0, "B": 1}
    compact = cv.FrozenMap.compact(index, (1, [2]))
    plain = cv.FrozenMap({"A": 1, "B": [2]})
    assert compact == plain == {"A": 1, "B": [2]} and plain == compact
    assert compact != {"A": 1} and compact != cv.FrozenMap.compact(index, (1, [3]))
    assert compact == cv.FrozenMap.compact(index, (1, [2]))
    assert repr(compact) == repr(plain) == "FrozenMap({'A': 1, 'B': [2]})"
    assert list(compact.items()) == list(plain.items()) and len(compact) == 2
    assert compact["B"] == [2] and "B" in compact and "C" not in compact
    with pytest.raises(KeyError):
        compact["C"]
    with pytest.raises(TypeError):
        hash(compact)
    restored = pickle.loads(pickle.dumps(compact))
    assert restored == compact and repr(restored) == repr(compact)
    assert (compact == 1) is False


def test_frozen_map_reads_pickles_made_before_the_compact_form() -> None:
    old = cv.FrozenMap.__new__(cv.FrozenMap)
    old.__setstate__((None, {"_data": {"A": 1}}))  # what unpickling an older version does
    assert old == {"A": 1} and repr(old) == "FrozenMap({'A': 1})"


# --- Python -> wire -------------------------------------------------------------------------------


def test_to_wire_converts_and_refuses() -> None:
    tz3 = timezone(timedelta(hours=3))
    value = {
        "A": (1, 2),
        "B": date(2025, 9, 10),
        "C": datetime(2025, 9, 10, 8, tzinfo=tz3),
        "D": Accessibility.BUSY,
        "E": {"F": None, "G": False},
    }
    assert cv.to_wire(value, "P") == {
        "A": [1, 2],
        "B": "2025-09-10",
        "C": "2025-09-10T08:00:00+03:00",
        "D": "busy",
        "E": {"F": None, "G": "N"},
    }
    with pytest.raises(ValueError, match=r"P\[X\]: naive datetime"):
        cv.to_wire({"X": datetime(2025, 1, 1)}, "P")
    with pytest.raises(TypeError, match=r"P\[X\]: cannot send a bytes"):
        cv.to_wire({"X": b"x"}, "P")
    with pytest.raises(TypeError, match="must be str or int"):
        cv.to_wire({(1,): 1}, "P")


def test_wire_date() -> None:
    assert cv.wire_date(date(2025, 9, 1)) == "2025-09-01"
