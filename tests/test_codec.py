"""The one value codec: every documented example is the actual behaviour.

The tables in ``b24async.codec``'s docstring and in the README's "Values on the wire" section
are parsed here and each row is checked (and round-tripped where the table names a reader);
the doctests of the request and model modules run too.
"""

from __future__ import annotations

import doctest
import importlib
import json
import pkgutil
import re
from collections.abc import Callable, Iterator
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import b24async.methods
import b24async.models
from b24async import codec
from b24async.codec.times import _normalize_iso
from b24async.models import Accessibility, ParticipationStatus
from b24async.protocol import build_query, encode_params

README = Path(__file__).resolve().parents[1] / "README.md"
MSK = timezone(timedelta(hours=3))
NAMES: dict[str, Any] = {
    "date": date,
    "datetime": datetime,
    "time": time,
    "timedelta": timedelta,
    "Decimal": Decimal,
    "UTC": timezone.utc,
    "MSK": MSK,
    "Accessibility": Accessibility,
    "ParticipationStatus": ParticipationStatus,
    "tuple": tuple,
    "set": set,
    "object": object,
    "float": float,
}


def python(text: str) -> Any:
    """A Python value as the tables write it."""
    return eval(text, {"__builtins__": {}}, NAMES)


def tables(doc: str) -> list[list[list[str]]]:
    """The rows (cells split on 2+ spaces) of each ``====``-ruled table in ``doc``."""
    found: list[list[list[str]]] = []
    rows: list[list[str]] | None = None
    for line in doc.splitlines():
        if re.fullmatch(r"\s*=+(\s+=+)*\s*", line):
            if rows is None:
                rows = []
            else:
                found.append(rows)
                rows = None
        elif rows is not None:
            rows.append(re.split(r"\s{2,}", line.strip()))
    return found


DOC_TABLES = tables(codec.__doc__ or "")


def test_the_docstring_has_its_five_tables() -> None:
    assert [len(t) >= 6 for t in DOC_TABLES] == [True] * 5


def reader(name: str) -> Callable[[Any], Any]:
    if name in codec.__all__:
        function = getattr(codec, name)
        return lambda value: function(value, "F")
    kind: Callable[[Any], Any] = NAMES[name]
    return kind


def same(actual: Any, expected: Any) -> bool:
    """Equal, and datetimes also in the same offset (== compares instants only)."""
    if isinstance(expected, datetime):
        return (
            isinstance(actual, datetime)
            and actual == expected
            and actual.utcoffset() == expected.utcoffset()
        )
    return type(actual) is type(expected) and actual == expected


@pytest.mark.parametrize("row", DOC_TABLES[0], ids=lambda row: row[0])
def test_python_to_wire_table(row: list[str]) -> None:
    value, wire, back = python(row[0]), json.loads(row[1]), row[2]
    assert codec.to_wire(value) == wire
    assert encode_params({"X": value}) == {"X": wire}
    assert json.loads(json.dumps(wire)) == wire  # JSON-ready
    build_query({"X": wire})  # and sendable inside a batch command
    if back != "-":
        assert same(reader(back)(wire), value)


@pytest.mark.parametrize("row", DOC_TABLES[1], ids=lambda row: row[0])
def test_refused_values_table(row: list[str]) -> None:
    value, error = python(row[0]), {"ValueError": ValueError, "TypeError": TypeError}[row[1]]
    with pytest.raises(error, match=r"^params\[X\]"):
        encode_params({"X": value})


@pytest.mark.parametrize("row", DOC_TABLES[2], ids=lambda row: row[0])
def test_wire_to_python_table(row: list[str]) -> None:
    assert same(reader(row[1])(json.loads(row[0])), python(row[2]))


@pytest.mark.parametrize("row", DOC_TABLES[3], ids=lambda row: f"{row[1]}({row[0]})")
def test_refused_wire_values_table(row: list[str]) -> None:
    with pytest.raises(ValueError, match=r"^F: "):
        reader(row[1])(json.loads(row[0]))


@pytest.mark.parametrize("row", DOC_TABLES[4], ids=lambda row: row[0])
def test_printed_output_table(row: list[str]) -> None:
    assert codec.to_json(python(row[0])) == json.loads(row[1])


def _has_bool_or_fraction(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, datetime):
        return value.microsecond != 0
    if isinstance(value, dict):
        return any(map(_has_bool_or_fraction, [*value, *value.values()]))
    if isinstance(value, (list, tuple, set)):
        return any(map(_has_bool_or_fraction, value))
    return False


@pytest.mark.parametrize("row", DOC_TABLES[0], ids=lambda row: row[0])
def test_printed_output_follows_the_wire_elsewhere(row: list[str]) -> None:
    value = python(row[0])
    if not _has_bool_or_fraction(value):
        assert codec.to_json(value) == codec.to_wire(value)


# --- the README -----------------------------------------------------------------------------------


def readme_rows() -> list[list[str]]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Values on the wire", 1)[1].split("\n## ", 1)[0]
    return [
        re.findall(r"`([^`]*)`", line) for line in section.splitlines() if line.startswith("| `")
    ]


README_ROWS = readme_rows()


def test_readme_has_the_table() -> None:
    assert len(README_ROWS) >= 8
    assert all(len(row) == 3 for row in README_ROWS)


@pytest.mark.parametrize("row", README_ROWS, ids=lambda row: row[0])
def test_readme_values_table(row: list[str]) -> None:
    value = python(row[0])
    assert encode_params({"X": value}) == {"X": json.loads(row[1])}
    assert codec.to_json(value) == json.loads(row[2])


# --- doctests of the requests and models ----------------------------------------------------------


def modules(package: ModuleType) -> Iterator[ModuleType]:
    yield package
    for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        yield importlib.import_module(info.name)


DOCTESTED = [
    *modules(b24async.methods),
    *modules(b24async.models),
    importlib.import_module("b24async.protocol"),
]


@pytest.mark.parametrize("module", DOCTESTED, ids=lambda m: m.__name__)
def test_docstring_examples(module: ModuleType) -> None:
    result = doctest.testmod(module, report=False, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_docstring_examples_exist() -> None:
    attempted = sum(doctest.testmod(m, report=False).attempted for m in DOCTESTED)
    assert attempted >= 15


# --- properties -----------------------------------------------------------------------------------

SETTINGS = settings(max_examples=200, deadline=None)


@SETTINGS
@given(st.integers())
def test_int_spellings_agree(n: int) -> None:
    for wire in (n, str(n), f" {n} ", float(n) if abs(n) < 2**53 else n):
        assert codec.as_int(wire, "F") == n
    assert codec.as_opt_int(str(n), "F") == n


@pytest.mark.parametrize("bad", [True, False, None, "", " ", "1.5", "0x10", "1_000", "١٢", 1.5])
def test_int_refusals(bad: Any) -> None:
    with pytest.raises(ValueError, match=r"^F: expected an integer"):
        codec.as_int(bad, "F")


def test_optional_int() -> None:
    assert codec.as_opt_int(None, "F") is None
    assert codec.as_opt_int("", "F") is None


AWARE = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.timezones()
)


@SETTINGS
@given(AWARE.map(lambda d: d.replace(microsecond=0)))
def test_wire_datetimes_read_back_to_the_same_instant_and_offset(moment: datetime) -> None:
    wire = codec.to_wire(moment)
    assert same(codec.as_opt_datetime(wire, "F"), moment.astimezone(timezone(moment.utcoffset())))


# What Python 3.10's fromisoformat reads: exactly what isoformat() writes.
PY310_ISO = re.compile(r"\d{4}-\d\d-\d\d(T\d\d:\d\d(:\d\d(\.\d{6})?)?([+-]\d\d:\d\d)?)?")


@SETTINGS
@given(
    AWARE,
    st.sampled_from(["T", " ", "t"]),
    st.integers(min_value=1, max_value=9),
    st.sampled_from(["colon", "bare", "Z", "z"]),
)
def test_iso_spellings_are_normalized_for_python_3_10(
    moment: datetime, sep: str, digits: int, offset_style: str
) -> None:
    # On 3.11+ fromisoformat reads these itself; 3.10 reads them after _normalize_iso.
    # ISO-8601 offsets are whole minutes (historic zones such as 1972 Monrovia, -00:44:30, are
    # not: the portal never sends them and the codec does not read them).
    offset_seconds = moment.utcoffset()
    assume(offset_seconds is not None and offset_seconds.total_seconds() % 60 == 0)
    if offset_style in ("Z", "z"):
        moment = moment.astimezone(timezone.utc)
        offset = offset_style
    else:
        offset = moment.isoformat()[-6:]
        offset = offset.replace(":", "") if offset_style == "bare" else offset
    fraction = f"{moment.microsecond:06d}000"[:digits]
    text = f"{moment:%Y-%m-%d}{sep}{moment:%H:%M:%S}.{fraction}{offset}"
    normalized = _normalize_iso(text)
    assert normalized is not None and PY310_ISO.fullmatch(normalized)
    parsed = datetime.fromisoformat(normalized)
    assert parsed.microsecond == int(fraction[:6].ljust(6, "0"))
    assert parsed.utcoffset() == moment.utcoffset()
    assert parsed.replace(microsecond=0).timestamp() == moment.replace(microsecond=0).timestamp()
    assert same(codec.as_opt_datetime(text, "F"), parsed)


def test_iso_normalizing_path_on_its_own() -> None:
    assert _normalize_iso("2024-07-25t13:06z") == "2024-07-25T13:06+00:00"
    assert _normalize_iso("2024-07-25 13:06:54,5+03") == "2024-07-25T13:06:54.500000+03:00"
    assert _normalize_iso("2024-07-25") == "2024-07-25"
    assert _normalize_iso("noon") is None
    assert codec.as_opt_datetime("2024-07-25T13:06:54+03", "F") == datetime(
        2024, 7, 25, 13, 6, 54, 0, MSK
    )
    with pytest.raises(ValueError, match="F: expected an ISO-8601"):
        codec.as_opt_datetime("2025-02-30T10:00:00.5", "F")


@SETTINGS
@given(st.dates())
def test_dates_round_trip(day: date) -> None:
    assert codec.as_date(codec.to_wire(day), "F") == day


@given(st.booleans())
def test_flags_round_trip(flag: bool) -> None:
    assert codec.as_bool(codec.to_wire(flag), "F") is flag
    assert codec.as_bool(codec.yn(flag), "F") is flag


def test_wire_subclasses_and_enum_keys() -> None:
    class Name(str):
        pass

    assert codec.to_wire({Accessibility.BUSY: Name("x")}) == {"busy": "x"}
    assert codec.to_wire(frozenset({"b", "a"})) == ["a", "b"]
    assert sorted(codec.to_wire({1, "a"}), key=str) == [1, "a"]  # no order: any order
    with pytest.raises(ValueError, match="cannot be sent"):
        codec.to_wire(float("inf"))


def test_json_output_never_fails() -> None:
    class Opaque:
        def __str__(self) -> str:
            return "opaque"

    assert codec.to_json(Opaque()) == "opaque"
    assert codec.to_json(Decimal("1.5")) == "1.5"
    assert codec.to_json(iter([2, 1])) == [2, 1]
    assert codec.to_json({Accessibility.BUSY: 1, 2: 2}) == {"busy": 1, "2": 2}


def test_subclasses_of_int_and_str() -> None:
    class Count(int):
        pass

    class Text(str):
        pass

    assert codec.as_int(Count(5), "F") == 5 and type(codec.as_int(Count(5), "F")) is int
    assert codec.to_json(Count(5)) == 5 and codec.to_json(Text("x")) == "x"


def test_optional_strings() -> None:
    assert codec.as_opt_str(31, "F") == "31"
    assert codec.as_opt_str(1.5, "F") == "1.5"
    assert codec.as_opt_str("", "F") is None
    with pytest.raises(ValueError, match="F: expected a string"):
        codec.as_opt_str(True, "F")


@pytest.mark.parametrize(
    ("wire", "number"), [(50, 50), ("50", 50), (None, None), ("", None), (True, None), (1.5, None)]
)
def test_informational_ints(wire: Any, number: int | None) -> None:
    # total/next of a response and of each batch command: unreadable means "not sent".
    assert codec.int_or_none(wire) == number


def test_refusals_name_the_type_not_the_value() -> None:
    class Secret:
        def __repr__(self) -> str:
            return "hunter2"

    with pytest.raises(TypeError) as caught:
        encode_params({"auth": Secret()})
    assert str(caught.value) == "params[auth]: cannot send a Secret to the REST API"
