"""The availability hot path builds the same objects as the general reader (issue #15).

``Availability.from_wire`` builds the portal's usual entries without attrs' ``__init__``
(``_decode_entry``); the reference here is the reader every entry went through before:
``BusyInterval._from_wire_checked`` per entry, then entries sorted by (start, end, id) with exact
duplicates dropped. Both must give equal objects, with equal field types, on whole answers.
"""

from __future__ import annotations

import copy
import datetime as dt
import gc
import json
import pickle
from collections.abc import Mapping
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from b24async import Bitrix24, jsonio
from b24async.methods import GetAccessibility
from b24async.models import Availability, BusyInterval
from b24async.models import _calendar_msgspec as fast
from b24async.models import _calendar_wire as wire
from b24async.models import calendar as calendar_models
from b24async.testing import FakePortal


def reference(raw: Mapping[str, Any], users: tuple[int, ...]) -> dict[int, tuple[Any, ...]]:
    """Availability.from_wire as it was: the general reader, sorted, exact duplicates dropped."""
    by_user: dict[int, list[BusyInterval]] = {user: [] for user in users}
    for key, items in raw.items():
        entries = items if isinstance(items, list) else [items[k] for k in sorted(items, key=int)]
        by_user.setdefault(int(key), []).extend(
            BusyInterval._from_wire_checked(entry) for entry in entries
        )
    return {
        user: tuple(sorted(dict.fromkeys(items), key=lambda i: (i.start, i.end, i.id)))
        for user, items in by_user.items()
    }


def assert_same(got: Availability, expected: dict[int, tuple[BusyInterval, ...]]) -> None:
    assert list(got) == list(expected)
    assert got == expected
    for user, entries in expected.items():
        for new, old in zip(got[user], entries, strict=True):
            assert new == old
            assert hash(new) == hash(old)
            assert repr(new) == repr(old)
            for field in attrs.fields(BusyInterval):
                a, b = getattr(new, field.name), getattr(old, field.name)
                assert type(a) is type(b), field.name
            assert dict(new.extra) == dict(old.extra)


@pytest.fixture(scope="module")
def big_answer() -> tuple[dict[str, Any], tuple[int, ...]]:
    """A real 300-user, four-week answer of the fake portal (~8,000 entries)."""
    import asyncio

    async def fetch() -> tuple[dict[str, Any], tuple[int, ...]]:
        monday = dt.date.today() - dt.timedelta(days=dt.date.today().weekday())
        request = GetAccessibility(
            users=range(1, 301), start=monday, end=monday + dt.timedelta(days=27)
        )
        async with (
            FakePortal(users=300, latency=0, processing=0) as portal,
            Bitrix24(portal.webhook_url, coalesce=False) as b24,
        ):
            response = await b24.call(request.api_method, request.to_params())
            return response.result, request.users

    return asyncio.run(fetch())


def test_the_fast_path_builds_what_the_general_reader_builds(
    big_answer: tuple[dict[str, Any], tuple[int, ...]],
) -> None:
    raw, users = big_answer
    got = Availability.from_wire(raw, users=users)
    assert sum(len(v) for v in got.values()) > 5_000
    assert_same(got, reference(raw, users))
    # The typed result does not depend on the raw answer staying alive or unchanged.
    kept = pickle.loads(pickle.dumps(got))
    raw_copy = copy.deepcopy(raw)
    for entries in raw.values():
        for entry in entries if isinstance(entries, list) else entries.values():
            entry.clear()
    assert kept == got
    raw.update(raw_copy)


def test_the_fast_path_is_taken_for_the_portals_entries(
    big_answer: tuple[dict[str, Any], tuple[int, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    raw, users = big_answer
    general = BusyInterval._from_wire_checked
    calls: list[int] = []

    def counting(entry: Any) -> BusyInterval:
        calls.append(1)
        return general(entry)

    monkeypatch.setattr(BusyInterval, "_from_wire_checked", staticmethod(counting))
    got = Availability.from_wire(raw, users=users)
    total = sum(len(v) for v in got.values())
    hr = sum(1 for v in got.values() for i in v if i.from_hr)
    assert len(calls) == hr  # only HR absences take the general reader
    assert hr < total / 10


ENTRY = {
    "ID": "3321",
    "NAME": "Planning",
    "DATE_FROM": "10.09.2025 09:00:00",
    "DATE_TO": "10.09.2025 10:00:00",
    "DATE_FROM_TS_UTC": "1757484000",
    "DATE_TO_TS_UTC": "1757487600",
    "~USER_OFFSET_FROM": 0,
    "~USER_OFFSET_TO": 0,
    "DT_SKIP_TIME": "N",
    "TZ_FROM": "Europe/Moscow",
    "TZ_TO": "Europe/Moscow",
    "ACCESSIBILITY": "busy",
    "IMPORTANCE": "normal",
    "EVENT_TYPE": None,
}

ODD_VALUES = {
    "ID": st.sampled_from(["3321", 3321, " 7", "+8", "-1", "٣", "", None, True, 1.0, "1.5"]),
    "NAME": st.sampled_from(["Planning", "", None, 5, 1.5, ["x"]]),
    "DATE_FROM_TS_UTC": st.sampled_from(["1757484000", 1757484000, 1757484000.5, "", " 1", "x"]),
    "DATE_TO_TS_UTC": st.sampled_from(["1757487600", "1757484000", "0", "", None, "1e3"]),
    "DT_SKIP_TIME": st.sampled_from(["N", "Y", "y", True, 0, "", "maybe", None]),
    "TZ_FROM": st.sampled_from(["Europe/Moscow", "", None, "Not/AZone"]),
    "ACCESSIBILITY": st.sampled_from(["busy", "free", "quest", "absent", "tentative", None, 1]),
    "IMPORTANCE": st.sampled_from(["normal", "high", "urgent", None, ["x"]]),
    "EVENT_TYPE": st.sampled_from([None, "", "#shared#", 7]),
    "FROM_HR": st.sampled_from([True, False, "Y"]),
    "FROM": st.sampled_from(["1757484000", ""]),
    "TO": st.sampled_from(["1757487600", ""]),
    "DT_FROM": st.sampled_from(["10.09.2025", "10.09.2025 09:00:00"]),
    "NEW_FIELD": st.sampled_from([1, "x", [1]]),
    # Equal keys of other types (0 == False == 0.0) must not share one another's ``extra`` map.
    "~USER_OFFSET_FROM": st.sampled_from([0, False, 0.0, "0", None, 10800, [0]]),
    "~USER_OFFSET_TO": st.sampled_from([0, True, 1, 1.0]),
    "DATE_FROM": st.sampled_from(["10.09.2025 09:00:00", "", None, 0, False, 1.5]),
    "DATE_TO": st.sampled_from(["10.09.2025 10:00:00", "10.09.2025 09:00:00", ["x"]]),
}


def outcome(build: Any, entry: Any) -> Any:
    try:
        return build(entry)
    except ValueError as exc:
        return ("ValueError", str(exc))


@settings(max_examples=400, deadline=None)
@given(
    changes=st.dictionaries(st.sampled_from(sorted(ODD_VALUES)), st.none(), max_size=4).flatmap(
        lambda keys: st.fixed_dictionaries({k: ODD_VALUES[k] for k in keys})
    ),
    dropped=st.sets(st.sampled_from(sorted(ENTRY)), max_size=2),
)
def test_odd_entries_give_the_general_readers_result_or_error(
    changes: dict[str, Any], dropped: set[str]
) -> None:
    entry = {k: v for k, v in ENTRY.items() if k not in dropped}
    entry.update(changes)
    fast = outcome(BusyInterval.from_wire, dict(entry))
    general = outcome(BusyInterval._from_wire_checked, dict(entry))
    assert fast == general
    if isinstance(fast, BusyInterval):
        assert repr(fast) == repr(general)
        assert all(
            type(getattr(fast, f.name)) is type(getattr(general, f.name))
            for f in attrs.fields(BusyInterval)
        )
        assert [(k, type(v)) for k, v in fast.extra.items()] == [
            (k, type(v)) for k, v in general.extra.items()
        ]


def test_duplicates_are_dropped_and_order_is_by_start_end_id() -> None:
    later = {**ENTRY, "ID": "1", "DATE_FROM_TS_UTC": "1757487600", "DATE_TO_TS_UTC": "1757491200"}
    same_start = {**ENTRY, "ID": "2"}
    raw = {"5": [later, ENTRY, same_start, ENTRY]}
    got = Availability.from_wire(raw, users=[5, 6])
    assert [i.id for i in got[5]] == [2, 3321, 1]
    assert got[6] == ()
    assert_same(got, reference(raw, (5, 6)))


def test_instants_are_shared_and_the_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wire, "_INSTANTS", {})
    monkeypatch.setattr(wire, "_TABLE_MAX", 3)
    a = BusyInterval.from_wire(dict(ENTRY))
    b = BusyInterval.from_wire({**ENTRY, "ID": "9"})
    assert a.start is b.start and a.end is b.end
    for stamp in ("1", "2", "3", "4"):
        BusyInterval.from_wire({**ENTRY, "DATE_FROM_TS_UTC": stamp, "DATE_TO_TS_UTC": stamp})
    assert len(wire._INSTANTS) <= 3


@pytest.mark.parametrize(
    "changes",
    [
        {"~USER_OFFSET_FROM": False},
        {"~USER_OFFSET_TO": 0.0},
        {"~USER_OFFSET_FROM": True, "~USER_OFFSET_TO": 1},
        {"DATE_FROM": None},
        {"DATE_FROM": ""},
        {"NAME": ""},
        {"TZ_TO": None},
    ],
)
def test_shared_values_keep_their_wire_types(changes: dict[str, Any]) -> None:
    """The tables share values by equality; ``0 == False == 0.0`` must not mix their types."""
    BusyInterval.from_wire(dict(ENTRY))  # the usual values are now in the tables
    for _ in range(2):  # the second time, the entry's own values are in the tables too
        entry = {**ENTRY, **changes}
        fast, general = BusyInterval.from_wire(entry), BusyInterval._from_wire_checked(entry)
        assert repr(fast) == repr(general)
        assert [type(v) for v in fast.extra.values()] == [type(v) for v in general.extra.values()]
        assert [type(getattr(fast, f.name)) for f in attrs.fields(BusyInterval)] == [
            type(getattr(general, f.name)) for f in attrs.fields(BusyInterval)
        ]
    assert repr(BusyInterval.from_wire(dict(ENTRY))) == repr(
        BusyInterval._from_wire_checked(dict(ENTRY))
    )


def test_extra_maps_are_shared_compact_and_behave_like_the_readers() -> None:
    a = BusyInterval.from_wire(dict(ENTRY))
    b = BusyInterval.from_wire({**ENTRY, "ID": "77"})
    general = BusyInterval._from_wire_checked(dict(ENTRY))
    assert a.extra is b.extra  # one map per distinct display-date pair
    assert a.extra == general.extra == dict(general.extra)
    assert general.extra == a.extra and dict(a.extra) == a.extra
    assert list(a.extra.items()) == list(general.extra.items())
    assert repr(a.extra) == repr(general.extra)
    assert a.extra["DATE_FROM"] == ENTRY["DATE_FROM"] and "NAME" not in a.extra
    assert a.extra.get("X", 1) == 1 and len(a.extra) == 4
    assert a.extra != {**dict(a.extra), "DATE_TO": "other"}
    restored = pickle.loads(pickle.dumps(a))
    assert restored == a and repr(restored) == repr(a)
    with pytest.raises(TypeError):
        hash(a.extra)


def test_a_full_table_is_cleared_and_the_entry_still_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(wire, "_INSTANTS", {})
    monkeypatch.setattr(wire, "_EXTRAS", {})
    monkeypatch.setattr(wire, "_TEXTS", dict(wire._NO_TEXT))
    monkeypatch.setattr(wire, "_TABLE_MAX", 1)
    for ident in range(3):
        entry = {
            **ENTRY,
            "ID": str(ident),
            "TZ_TO": f"Zone/{ident}",
            "DATE_TO": f"d{ident}",
            "DATE_TO_TS_UTC": str(1757487600 + ident),
        }
        assert repr(BusyInterval.from_wire(entry)) == repr(BusyInterval._from_wire_checked(entry))
    assert len(wire._INSTANTS) == len(wire._EXTRAS) == 1
    assert len(wire._TEXTS) == len(wire._NO_TEXT) + 1


@pytest.mark.parametrize(
    "entry",
    [
        dict(reversed(list(ENTRY.items()))),
        {**ENTRY, "PARENT_ID": "5", "RRULE": None},
        {k: v for k, v in ENTRY.items() if not k.startswith("~")},
        {k: v for k, v in ENTRY.items() if k in wire._KNOWN},
        {k: v for k, v in ENTRY.items() if k in (*wire._KNOWN, "DATE_TO")},
    ],
    ids=["reversed", "two-more-keys", "no-offsets", "attributes-only", "one-more-key"],
)
def test_other_event_shapes_are_read_by_their_shape(
    entry: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    general = BusyInterval._from_wire_checked(entry)
    monkeypatch.setattr(BusyInterval, "_from_wire_checked", None)  # the fast path only
    got = BusyInterval.from_wire(entry)
    assert got == general and repr(got) == repr(general)
    assert list(got.extra.items()) == list(general.extra.items())


def many_users_answer() -> tuple[dict[str, Any], list[int]]:
    users = list(range(1, calendar_models._BIG_USERS + 1))
    return {str(user): [{**ENTRY, "ID": str(user)}] for user in users}, users


# Some interpreters keep objects of their own frozen from startup (CPython 3.12.1: 375), and
# some cannot move generations in O(1) (jsonio.CAN_AGE): entries are not promoted there.
FROZEN_AT_START = gc.get_freeze_count()
AGES = jsonio.CAN_AGE and FROZEN_AT_START == 0


@pytest.mark.skipif(not AGES, reason="no promotion on this interpreter")
def test_a_big_answer_leaves_its_entries_in_the_oldest_gc_generation() -> None:
    raw, users = many_users_answer()
    enabled = gc.isenabled()
    got = Availability.from_wire(raw, users=users)
    assert gc.isenabled() is enabled and gc.get_freeze_count() == FROZEN_AT_START
    oldest = {id(obj) for obj in gc.get_objects(generation=2)}
    assert all(id(got[user][0]) in oldest for user in users)


def test_objects_the_application_froze_stay_frozen() -> None:
    raw, users = many_users_answer()
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        assert frozen > 0
        Availability.from_wire(raw, users=users)
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


@pytest.mark.skipif(fast.AVAILABLE, reason="msgspec is installed")
def test_without_msgspec_the_struct_path_cannot_be_switched_on() -> None:
    assert not fast.ENABLED
    with pytest.raises(ImportError, match=r"b24async\[speed\]"):
        fast.use(True)
    assert fast.decode_users('{"5": []}') is None


def test_without_msgspec_nothing_is_read_by_struct(monkeypatch: pytest.MonkeyPatch) -> None:
    """As when msgspec is not installed (the guarded import left the decoders unset)."""
    monkeypatch.setattr(fast, "_users_decoder", None)
    monkeypatch.setattr(fast, "AVAILABLE", False)
    monkeypatch.setattr(fast, "ENABLED", False)
    with pytest.raises(ImportError):
        fast.use(True)
    assert fast.decode_users(json.dumps({"5": [ENTRY]})) is None
    assert Availability.from_wire({"5": [ENTRY]})[5][0] == BusyInterval._from_wire_checked(ENTRY)
