"""Micro-benchmark: decode one 2,000-user ``calendar.accessibility.get`` answer into typed results.

Usage::

    python benchmarks/decode_availability.py                 # 2,000 users, 4 weeks
    python benchmarks/decode_availability.py --users 500 --days 7 --repeat 3
    python benchmarks/decode_availability.py --json stdlib   # force the stdlib JSON decoder

The answer's bytes come from a ``FakePortal`` in this process (fetched once, before anything is
timed). Each repetition then times, in this process and with nothing else running in it:

* **json**: the JSON text to Python values (the decoder ``b24async.jsonio`` uses: ``orjson``
  when installed, else the stdlib; ``--json`` forces one);
* **typed**: the decoded ``result`` to an :class:`~b24async.models.Availability`
  (``GetAccessibility.parse``: one frozen :class:`~b24async.models.BusyInterval` per entry);
* **total**: both, i.e. :func:`b24async.protocol.decode_response` plus ``parse``,
* **msgspec** (when installed, the ``speed`` extra): the answer's text straight to the typed
  result, as a walked batch answer is read (``b24async.models._calendar_msgspec``): one
  ``msgspec.Raw`` pass for where ``result`` lies, its slice, and ``decode_users`` on it;
  ``msgspec_vs_total`` is its time over **total**'s (same run; ``--json orjson
  --no-orjson-cap`` makes **total** the orjson path),

and reports the best repetition in microseconds of this process's CPU time per busy interval
(CPU time, not wall: on a shared machine other processes' load does not count), plus the
tracemalloc peak of one full decode (the raw bytes already held are not counted) and the bytes
the typed result keeps per interval. The typed decode shares equal values (instants, strings,
``extra`` maps) through bounded module tables: ``typed`` and ``total`` run with the tables
warm from the previous repetition, ``typed_cold`` empties them first (a first answer), and the
kept bytes are measured from empty tables, so the tables' own growth is counted. Output: one
JSON object on stdout (``--out FILE`` writes it there too).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import json
import sys
import time
import tracemalloc
from typing import Any

import aiohttp

from b24async import jsonio
from b24async.methods import GetAccessibility
from b24async.models import calendar as calendar_models
from b24async.protocol import RawResponse, decode_response
from b24async.testing import FakePortal

try:  # the shared-value tables of the typed decode
    from b24async.models import _calendar_wire
except ImportError:  # older versions (to measure a "before"): one instants cache, if any
    _calendar_wire = None  # type: ignore[assignment]

METHOD = "calendar.accessibility.get"


async def fetch_answer(users: int, days: int) -> tuple[bytes, GetAccessibility]:
    """The portal's raw answer to one call for users 1..``users`` over ``days + 1`` days."""
    today = dt.date.today()
    monday = today - dt.timedelta(days=today.weekday())
    request = GetAccessibility(
        users=range(1, users + 1), start=monday, end=monday + dt.timedelta(days=days)
    )
    async with (
        FakePortal(users=users, latency=0, processing=0) as portal,
        aiohttp.ClientSession() as session,
        session.post(portal.webhook_url + METHOD, json=request.to_params()) as reply,
    ):
        reply.raise_for_status()
        return await reply.read(), request


def _clear_tables() -> None:
    if _calendar_wire is not None:
        _calendar_wire.clear_tables()
    else:
        getattr(calendar_models, "_INSTANTS", {}).clear()


def _best(fn: Any, repeat: int, before: Any = None) -> float:
    best = float("inf")
    for _ in range(repeat):
        if before is not None:
            before()
        gc.collect()
        started = time.process_time()
        fn()
        best = min(best, time.process_time() - started)
    return best


def measure(body: bytes, request: GetAccessibility, repeat: int) -> dict[str, Any]:
    """Time the three stages on ``body``; see the module docstring."""
    raw = RawResponse(200, {"content-type": "application/json"}, body)
    result = jsonio.loads(body)["result"]
    typed = request.parse(result)
    intervals = sum(len(entries) for entries in typed.values())
    json_s = _best(lambda: jsonio.loads(body), repeat)
    typed_s = _best(lambda: request.parse(result), repeat)
    typed_cold_s = _best(lambda: request.parse(result), repeat, before=_clear_tables)
    total_s = _best(lambda: request.parse(decode_response(raw, METHOD).result), repeat)
    del typed
    _clear_tables()
    gc.collect()
    tracemalloc.start()
    typed = request.parse(decode_response(raw, METHOD).result)
    kept, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    per = 1e6 / intervals
    return {
        "json_decoder": jsonio.BACKEND,
        "orjson_max_bytes": jsonio.ORJSON_MAX_BYTES,
        "users": len(request.users),
        "days": (request.end - request.start).days + 1,
        "answer_bytes": len(body),
        "intervals": intervals,
        "repeat": repeat,
        "json_us_per_interval": round(json_s * per, 3),
        "typed_us_per_interval": round(typed_s * per, 3),
        "typed_cold_us_per_interval": round(typed_cold_s * per, 3),
        "total_us_per_interval": round(total_s * per, 3),
        "total_s": round(total_s, 4),
        "tracemalloc_peak_mb": round(peak / 1e6, 2),
        "kept_bytes_per_interval": round(kept / intervals),
        "python": sys.version.split()[0],
        "_keep": len(typed),
    }


def measure_msgspec(body: bytes, expected: Any, total_s: float, repeat: int) -> dict[str, Any]:
    """The msgspec path on ``body``'s text (see the module docstring); ``{}`` without msgspec."""
    try:
        import msgspec

        from b24async.models import _calendar_msgspec as fast
    except ImportError:
        return {}
    if not fast.AVAILABLE:
        return {}
    fast.use(True)

    envelope = msgspec.json.Decoder(msgspec.defstruct("Envelope", [("result", msgspec.Raw)])).decode
    text = body.decode()  # the walk reads the answer as text

    def read() -> Any:
        length = len(envelope(text).result)  # ASCII text: bytes and characters agree
        start = text.index("{", text.index('"result"') + 8)
        return fast.decode_users(text[start : start + length])

    typed = read()
    if typed != expected or repr(typed) != repr(expected):
        raise AssertionError("the msgspec path differs from the general reader")
    intervals = sum(len(entries) for entries in typed.values())
    del typed
    msgspec_s = _best(read, repeat)
    cold_s = _best(read, repeat, before=_clear_tables)
    _clear_tables()
    gc.collect()
    tracemalloc.start()
    typed = read()
    kept, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(typed) == len(expected)  # alive until measured: its bytes are the kept ones
    per = 1e6 / intervals
    return {
        "msgspec_us_per_interval": round(msgspec_s * per, 3),
        "msgspec_cold_us_per_interval": round(cold_s * per, 3),
        "msgspec_vs_total": round(msgspec_s / total_s, 3),
        "msgspec_tracemalloc_peak_mb": round(peak / 1e6, 2),
        "msgspec_kept_bytes_per_interval": round(kept / intervals),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--days", type=int, default=27, help="window length - 1 (27: 4 weeks)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", choices=("auto", "stdlib", "orjson"), default="auto")
    parser.add_argument(
        "--no-orjson-cap",
        action="store_true",
        help="let orjson parse documents over jsonio.ORJSON_MAX_BYTES too (to measure it)",
    )
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    if args.json != "auto":
        jsonio.use(args.json)
    if args.no_orjson_cap:
        jsonio.ORJSON_MAX_BYTES = 1 << 40
    body, request = asyncio.run(fetch_answer(args.users, args.days))
    report = measure(body, request, args.repeat)
    report.pop("_keep")
    expected = request.parse(jsonio.loads(body)["result"])
    report.update(measure_msgspec(body, expected, report["total_s"], args.repeat))
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
