"""The msgspec path reads availability text into the same objects as the general reader.

``_calendar_msgspec.decode_users(text)`` must give, whenever it gives anything, what
``Availability.from_wire(json.loads(text))`` gives (itself equal to the general reader's
objects, ``test_calendar_fast.py``): ``==``, the same ``hash``, ``repr``, field types and
``extra`` key order, for every user. Odd users are read the general way; odd maps give ``None``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from b24async.models import Availability, BusyInterval
from b24async.models import _calendar_msgspec as fast
from tests.models.test_calendar_fast import ENTRY, ODD_VALUES, assert_same, reference

msgspec = pytest.importorskip("msgspec")

HR = {
    "FROM_HR": True,
    "ID": "501994",
    "DT_FROM": "25.11.2026",
    "DT_TO": "29.11.2026",
    "ACCESSIBILITY": "absent",
    "IMPORTANCE": "normal",
    "FROM": 1795554000,
    "TO": 1795899600,
}


@pytest.fixture(autouse=True)
def enabled() -> Iterator[None]:
    saved = fast.ENABLED
    fast.use(True)
    try:
        yield
    finally:
        fast.use(saved)


class Spy:
    """Counts the users read the general way (not by struct)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.general = 0
        decode = fast.wire.decode_entries

        def counting(items: Any) -> Any:
            self.general += 1
            return decode(items)

        monkeypatch.setattr(fast.wire, "decode_entries", counting)


def members(pairs: list[tuple[str, Any]], sep: tuple[str, str], ascii_only: bool) -> str:
    """A JSON object from key/value pairs (repeated keys allowed), spelled with ``sep``."""
    item, colon = sep
    return (
        "{"
        + item.join(
            json.dumps(k) + colon + json.dumps(v, ensure_ascii=ascii_only, separators=sep)
            for k, v in pairs
        )
        + "}"
    )


def readable(text: str) -> bool:
    try:
        msgspec.json.decode(text)
    except msgspec.DecodeError:
        return False
    return True


def check(text: str) -> Availability | None:
    """decode_users(text) against the general reader; the struct result (or None).

    ``None`` must mean that the general reader raises (for an object of canonical user IDs)."""
    got = fast.decode_users(text)
    raw = json.loads(text)
    try:
        expected = Availability.from_wire(raw)
    except ValueError:
        assert got is None
        return None
    if got is None:  # only for what msgspec will not read (NaN, a lone surrogate), or odd keys
        assert (
            not readable(text)
            or not isinstance(raw, dict)
            or any(not (k.isascii() and k.isdigit() and k[0] != "0") for k in raw)
        )
        return None
    assert_same(got, dict(expected))
    assert_same(got, reference(raw, ()))
    for user, entries in expected.items():
        for new, old in zip(got[user], entries, strict=True):
            assert [(k, type(v)) for k, v in new.extra.items()] == [
                (k, type(v)) for k, v in old.extra.items()
            ]
    return got


def canonical(**changes: Any) -> dict[str, Any]:
    return {**ENTRY, **changes}


@st.composite
def entries(draw: st.DrawFn) -> list[tuple[str, Any]]:
    """One entry's members: mostly the portal's, sometimes odd (values, keys, order, repeats)."""
    kind = draw(st.sampled_from(["portal", "portal", "odd", "hr"]))
    base = dict(HR) if kind == "hr" else canonical()
    base["ID"] = str(draw(st.integers(1, 60)))
    base["DATE_FROM_TS_UTC" if kind != "hr" else "FROM"] = str(
        1757484000 + 1800 * draw(st.integers(0, 5))
    )
    if kind == "odd":
        keys = draw(st.lists(st.sampled_from(sorted(ODD_VALUES)), max_size=3, unique=True))
        base.update({k: draw(ODD_VALUES[k]) for k in keys})
        for key in draw(st.sets(st.sampled_from(sorted(ENTRY)), max_size=1)):
            base.pop(key, None)
    pairs = list(base.items())
    if draw(st.integers(0, 5)) == 0:
        pairs = draw(st.permutations(pairs))
    if draw(st.integers(0, 6)) == 0:  # a repeated key: the last value counts, the first place
        key, value = draw(st.sampled_from(pairs))
        again = draw(st.one_of(st.just(value), ODD_VALUES.get(key, st.just(value))))
        pairs.insert(draw(st.integers(0, len(pairs))), (key, again))
    return pairs


@settings(max_examples=300, deadline=None)
@given(
    users=st.dictionaries(
        st.integers(1, 10**6).map(str), st.lists(entries(), max_size=4), max_size=4
    ),
    sep=st.sampled_from([(",", ":"), (", ", ": ")]),
    ascii_only=st.booleans(),
    name=st.sampled_from(["Planning", "Встреча", 'say "hi"\\/', "", "a,b", "\u2028"]),
)
def test_any_answer_reads_as_the_general_reader_reads_it(
    users: dict[str, list[list[tuple[str, Any]]]],
    sep: tuple[str, str],
    ascii_only: bool,
    name: str,
) -> None:
    item, colon = sep
    named = [
        [[(k, name if k == "NAME" and v else v) for k, v in e] for e in es] for es in users.values()
    ]
    text = (
        "{"
        + item.join(
            json.dumps(user)
            + colon
            + "["
            + item.join(members(e, sep, ascii_only) for e in es)
            + "]"
            for user, es in zip(users, named, strict=True)
        )
        + "}"
    )
    check(text)


ODD_TEXTS = [
    "[]",  # PHP's empty map
    "{}",
    '{"05": []}',  # "5" and "05" are joined by the general reader
    f'{{"5": {{"0": {json.dumps(ENTRY)}}}}}',  # a filtered list, as an object
    '{"5": [' + json.dumps(ENTRY).replace('"ID": "3321"', '"ID": "\\ud800"') + "]}",
    '{"5": [' + json.dumps(ENTRY).replace('"~USER_OFFSET_TO": 0', '"~USER_OFFSET_TO": NaN') + "]}",
    '{"5": 7}',
    '{"5": [7]}',
    "null",
    '{"error": "ACCESS_DENIED"}',
    "{",
]


@pytest.mark.parametrize("text", ODD_TEXTS)
def test_odd_maps_are_left_to_the_general_reader_or_read_as_it_reads_them(text: str) -> None:
    try:
        json.loads(text)
    except ValueError:
        assert fast.decode_users(text) is None  # not JSON: the general way says so
        return
    check(text)


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def test_the_portals_answer_is_read_by_struct(monkeypatch: pytest.MonkeyPatch) -> None:
    spy = Spy(monkeypatch)
    later = canonical(ID="7", DATE_FROM_TS_UTC="1757487600", DATE_TO_TS_UTC="1757491200")
    text = compact({"5": [canonical(), later], "6": [], "7": [later, canonical(NAME="Встреча")]})
    got = fast.decode_users(text)
    assert spy.general == 0
    assert got is not None
    check(text)
    assert list(got) == [5, 6, 7]
    assert got[6] == ()
    assert [i.id for i in got[7]] == [3321, 7]  # sorted by start, as the general reader does
    assert all(type(i) is BusyInterval for entries in got.values() for i in entries)


HAND_MADE = {
    "extras reordered": compact(
        {
            "5": [
                {
                    **{k: v for k, v in ENTRY.items() if k not in ("DATE_FROM", "DATE_TO")},
                    "DATE_TO": ENTRY["DATE_TO"],
                    "DATE_FROM": ENTRY["DATE_FROM"],
                }
            ]
        }
    ),
    "an HR absence": compact({"5": [canonical(), HR]}),
    "a newer portal's key": compact({"5": [{**ENTRY, "COLOR": "#fff"}]}),
    "a key missing": compact({"5": [{k: v for k, v in ENTRY.items() if k != "EVENT_TYPE"}]}),
    "offset 0.0": compact({"5": [canonical(**{"~USER_OFFSET_FROM": 0.0})]}),
    "offset false": compact({"5": [canonical(**{"~USER_OFFSET_TO": False})]}),
    "unknown accessibility": compact({"5": [canonical(ACCESSIBILITY="tentative")]}),
    "ID not digits": compact({"5": [canonical(ID="٣")]}),
    "timestamp as a number": compact({"5": [canonical(DATE_TO_TS_UTC=1757487600)]}),
    "DT_SKIP_TIME lower case": compact({"5": [canonical(DT_SKIP_TIME="y")]}),
    "repeated DATE_TO before DATE_FROM": compact({"5": [canonical()]}).replace(
        '{"ID"', '{"DATE_TO":"x","ID"'
    ),
    "known keys reordered": compact(
        {"5": [dict(reversed(list(ENTRY.items())[8:])) | dict(list(ENTRY.items())[:8])]}
    ),
}


@pytest.mark.parametrize("text", HAND_MADE.values(), ids=HAND_MADE.keys())
def test_odd_users_are_read_the_general_way(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = Spy(monkeypatch)
    got = fast.decode_users(text)
    assert got is None or spy.general == 1  # None: the general reader raises (check says so)
    check(text)


def test_later_repeats_and_huge_offsets_are_read_by_struct(monkeypatch: pytest.MonkeyPatch) -> None:
    spy = Spy(monkeypatch)
    text = compact({"5": [canonical(**{"~USER_OFFSET_FROM": 10**30})]})
    repeated = text.replace('"EVENT_TYPE":null', '"EVENT_TYPE":null,"NAME":"Other"')
    for answer in (text, repeated):
        spy.general = 0
        assert fast.decode_users(answer) is not None
        assert spy.general == 0
        check(answer)
    assert fast.decode_users(repeated)[5][0].name == "Other"  # type: ignore[index]


def test_switched_off_it_reads_nothing() -> None:
    fast.use(False)
    assert fast.decode_users(compact({"5": [ENTRY]})) is None


def test_the_fields_keep_their_types() -> None:
    got = fast.decode_users(compact({"5": [canonical()]}))
    assert got is not None
    (entry,) = got[5]
    general = BusyInterval._from_wire_checked(ENTRY)
    for field in attrs.fields(BusyInterval):
        assert type(getattr(entry, field.name)) is type(getattr(general, field.name))


def test_b24async_json_stdlib_switches_it_off() -> None:
    """The switch that rules out the optional C decoders rules this one out too."""
    code = "from b24async.models import _calendar_msgspec as f; print(f.AVAILABLE, f.ENABLED)"
    env = dict(os.environ, B24ASYNC_JSON="stdlib")
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["True", "False"]
