"""The one value codec: Python values to Bitrix24 wire values and back, and to plain JSON output.

Request params (:func:`b24async.protocol.encode_params`, typed requests' filters), model parsing
(``b24async.models``) and the CLI (its output and option values) all convert values here, so a
quirk of the wire is handled once and the documented encodings are the actual ones. The tables
below are tested row by row (``tests/test_codec.py`` parses them out of this docstring).

Python to wire (:func:`to_wire`; what a param is sent as, JSON text) and back (the reader that
turns the wire value into the Python value again; ``-`` where the trip is one-way)::

    Python value                                    wire value                   read back by
    ==============================================  ===========================  ===================
    True                                            "Y"                          as_bool
    False                                           "N"                          as_bool
    None                                            null                         -
    31                                              31                           as_int
    "Иван"                                          "Иван"                       -
    1.5                                             1.5                          -
    Decimal("19.90")                                "19.90"                      Decimal
    date(2025, 9, 10)                               "2025-09-10"                 as_date
    datetime(2025, 9, 10, 8, tzinfo=MSK)            "2025-09-10T08:00:00+03:00"  as_opt_datetime
    datetime(2025, 9, 10, 8, 0, 0, 5, tzinfo=UTC)   "2025-09-10T08:00:00+00:00"  -
    Accessibility.BUSY                              "busy"                       Accessibility
    ParticipationStatus.ACCEPTED                    "Y"                          ParticipationStatus
    (1, 2)                                          [1, 2]                       tuple
    {3, 1, 2}                                       [1, 2, 3]                    set
    {"ID": 5, 7: [True]}                            {"ID": 5, "7": ["Y"]}        -
    ==============================================  ===========================  ===================

Why flags are ``"Y"``/``"N"``: a JSON ``true`` reaches PHP as a bool that some handlers compare
loosely (``user.update`` normalizes ``ACTIVE`` so that only falsy or ``"N"`` means inactive), and
a bool cannot travel in a ``batch`` command's query string at all; ``"Y"``/``"N"`` means the same
in a JSON body and in a batch, for every method. Datetimes must be aware (the portal would read a
naive one in its own time zone) and are sent to the second, the portal's resolution. Refused
before anything is sent::

    Python value                                    error
    ==============================================  ==========
    datetime(2025, 9, 10, 8)                        ValueError
    float("nan")                                    ValueError
    Decimal("Infinity")                             ValueError
    b"raw"                                          TypeError
    time(8, 30)                                     TypeError
    {True: 1}                                       TypeError
    {(1, 2): 1}                                     TypeError
    object()                                        TypeError
    ==============================================  ==========

Wire to Python (the readers models use; each takes the value and a field name for the error)::

    wire value                    reader           Python value
    ============================  ===============  ==============================================
    "31"                          as_int           31
    " -7 "                        as_int           -7
    31.0                          as_int           31
    "Y"                           as_bool          True
    "n"                           as_bool          False
    1                             as_bool          True
    false                         as_bool          False
    "1721913214"                  from_timestamp   datetime(2024, 7, 25, 13, 13, 34, tzinfo=UTC)
    "2024-07-25T16:06:54+03:00"   as_opt_datetime  datetime(2024, 7, 25, 16, 6, 54, tzinfo=MSK)
    "2024-07-25T13:06:54Z"        as_opt_datetime  datetime(2024, 7, 25, 13, 6, 54, tzinfo=UTC)
    "2024-07-25 13:06:54.5"       as_opt_datetime  datetime(2024, 7, 25, 13, 6, 54, 500000, UTC)
    "2024-07-25T13:06:54+0300"    as_opt_datetime  datetime(2024, 7, 25, 13, 6, 54, tzinfo=MSK)
    {}                            as_opt_datetime  None
    "2025-09-10T18:33:57.885176"  as_date          date(2025, 9, 10)
    "2025-09-10T01:00:00+03:00"   as_date          date(2025, 9, 10)
    []                            as_map           {}
    {"2": "b", "0": "a"}          as_list          ["a", "b"]
    ============================  ===============  ==============================================

and what they refuse with ``ValueError`` (the field name leads the message)::

    wire value                    reader
    ============================  ===============
    true                          as_int
    null                          as_int
    ""                            as_int
    "1.5"                         as_int
    "0x10"                        as_int
    "1_000"                       as_int
    "١٢"                          as_int
    1.5                           as_int
    "yes"                         as_bool
    2                             as_bool
    "25.07.2024"                  as_opt_datetime
    "2025-02-30"                  as_opt_datetime
    1721913214                    as_opt_datetime
    true                          from_timestamp
    "soon"                        from_timestamp
    ""                            as_date
    ============================  ===============

Integers (:func:`as_int`): an ``int`` (never a ``bool``: ``True`` is not user 1), a string of
ASCII digits with an optional sign and surrounding blanks, or an integral float. ISO-8601
(:func:`as_opt_datetime`): the extended format with ``Z``, a space separator, 1-9 fraction
digits or ``+0300`` on every Python (3.11+ also reads the rest of what ``fromisoformat`` reads);
no offset means UTC, so results are aware.

Printed output (:func:`to_json`, the CLI's stdout) is plain JSON for a reader, not a param: it
follows :func:`to_wire` except where this table says otherwise (and attrs instances, such as
the models, become objects of their fields)::

    Python value                                    JSON
    ==============================================  ============================
    True                                            true
    float("nan")                                    null
    timedelta(minutes=1)                            60.0
    datetime(2025, 9, 10, 8, 0, 0, 5)               "2025-09-10T08:00:00.000005"
    time(8, 30)                                     "08:30:00"
    b"raw"                                          "raw"
    {True: 1}                                       {"True": 1}
    ==============================================  ============================

Why a hand-written codec and not a cattrs ``Converter``: the package depends on attrs only;
the models need logic cattrs would not generate (unknown keys kept in ``extra``, two event shapes,
unknown enum values); and the hot paths (a 2,000-user availability answer is ~50,000 intervals,
issue #15) want exact-type fast paths and no per-value hook dispatch. Each function here is small
and tested on its own.

Where things are: :mod:`~b24async.codec.wire` (:func:`to_wire`),
:mod:`~b24async.codec.output` (:func:`to_json`), :mod:`~b24async.codec.scalars` (flags,
integers, strings, enums, maps and lists), :mod:`~b24async.codec.times` (dates, datetimes,
timestamps). Import every name from here.
"""

from __future__ import annotations

from b24async.codec.output import to_json
from b24async.codec.scalars import (
    as_bool,
    as_enum,
    as_int,
    as_list,
    as_map,
    as_opt_bool,
    as_opt_int,
    as_opt_str,
    int_or_none,
    yn,
)
from b24async.codec.times import as_date, as_opt_datetime, from_timestamp, to_timestamp, wire_date
from b24async.codec.wire import to_wire

__all__ = [
    "as_bool",
    "as_date",
    "as_enum",
    "as_int",
    "as_list",
    "as_map",
    "as_opt_bool",
    "as_opt_datetime",
    "as_opt_int",
    "as_opt_str",
    "from_timestamp",
    "int_or_none",
    "to_json",
    "to_timestamp",
    "to_wire",
    "wire_date",
    "yn",
]
