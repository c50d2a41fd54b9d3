"""A ``batch`` answer decoded, without I/O: per-command responses, errors, skips and times.

The portal answers a batch with parallel ``result_*`` maps keyed by command name (PHP turns an
empty map into ``[]`` and a map keyed ``0..n-1`` into a list). :func:`decode_batch` reads a
whole answer at once; :mod:`b24async.batchstream` reads a large one command by command with
:func:`as_map` and :func:`command_error`. Pure; re-exported by :mod:`b24async.batchcodec`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from b24async.codec import int_or_none
from b24async.errors import ApiError, DecodeError, make_api_error, status_for_code
from b24async.operating_mirror import BATCH_KEY, INNER, in_batch
from b24async.protocol import (
    RawResponse,
    Response,
    Timing,
    WireTimes,
    decode_envelope,
    error_from_body,
)

if TYPE_CHECKING:
    from b24async.batchcodec import Command

__all__ = [
    "ChunkOutcome",
    "as_map",
    "command_error",
    "command_timings",
    "decode_batch",
    "decode_results",
]


@attrs.frozen
class ChunkOutcome:
    """What one ``batch`` request returned, per command name."""

    responses: Mapping[str, Response]
    errors: Mapping[str, ApiError]
    skipped: tuple[str, ...]
    time: Timing | None = None  # the batch request's own ``time`` block


def as_map(value: Any) -> Mapping[str, Any]:
    """A ``result_*`` map of a decoded batch answer keyed by command name (``{}`` if not a map).

    A JSON object (a ``dict``, its keys already strings) is returned as it is, not copied.
    """
    if type(value) is dict:
        return value
    # PHP serializes an empty map as [] and a map keyed 0..n-1 as a JSON array.
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)} if value else {}
    return {}


def command_error(command: Command, value: Any) -> ApiError:
    """The :class:`ApiError` of a command named in the answer's ``result_error`` map."""
    err = value if isinstance(value, Mapping) else {"error": "", "error_description": str(value)}
    code = str(err.get("error") or "")
    return make_api_error(
        code,
        str(err.get("error_description") or ""),
        status=status_for_code(code),
        method=command.method,
    )


def _answer(raw: RawResponse) -> tuple[dict[str, Any], Mapping[str, Any]]:
    """A ``batch`` answer's envelope and its ``result`` map; raise if the request failed."""
    payload = decode_envelope(raw, "batch")
    error = error_from_body(payload, raw.status, "batch")
    if error is not None:
        raise error
    body = payload.get("result")
    if not isinstance(body, Mapping):
        raise DecodeError(
            "batch answer has no result map", raw=raw.body, status=raw.status, method="batch"
        )
    return payload, body


def decode_batch(raw: RawResponse, chunk: Sequence[Command]) -> ChunkOutcome:
    """Decode one ``batch`` answer; raise if the request as a whole failed (401, 503, ...)."""
    payload, body = _answer(raw)
    results = as_map(body.get("result"))
    errors = as_map(body.get("result_error"))
    totals = as_map(body.get("result_total"))
    nexts = as_map(body.get("result_next"))
    times = as_map(body.get("result_time"))
    responses: dict[str, Response] = {}
    failed: dict[str, ApiError] = {}
    skipped: list[str] = []
    for command in chunk:
        name = command.name
        if name in errors:
            failed[name] = command_error(command, errors[name])
        elif name in results:
            responses[name] = Response(
                method=command.method,
                result=results[name],
                time=Timing.from_wire(times.get(name)),
                total=int_or_none(totals.get(name)),
                next=int_or_none(nexts.get(name)),
            )
        else:
            skipped.append(name)
    return ChunkOutcome(responses, failed, tuple(skipped), Timing.from_wire(payload.get("time")))


def decode_results(raw: RawResponse, chunk: Sequence[Command]) -> tuple[ChunkOutcome, WireTimes]:
    """:func:`decode_batch` for a caller that reads only each command's ``result``.

    A list read's pages: their responses carry ``result`` alone (``time``, ``total`` and
    ``next`` are None), and the time blocks go raw to the throttle: the reports
    :func:`command_timings` would give, as :class:`~b24async.protocol.WireTimes`. The same
    errors, skipped commands and exceptions; no :class:`Timing` is built.
    """
    payload, body = _answer(raw)
    results = as_map(body.get("result"))
    errors = as_map(body.get("result_error"))
    times = as_map(body.get("result_time"))
    responses: dict[str, Response] = {}
    failed: dict[str, ApiError] = {}
    skipped: list[str] = []
    reports = WireTimes()
    report = reports.append
    method = key = ""
    for command in chunk:
        name = command.name
        if command.method != method:  # (a list's pages: one method)
            method = command.method
            key = INNER + method  # (in_batch, inline)
        if name in errors:
            failed[name] = command_error(command, errors[name])
            report((key, None))
        elif name in results:
            responses[name] = Response(command.method, results[name])
            report((key, times.get(name)))
        else:
            skipped.append(name)
            report((key, None))
    report((BATCH_KEY, payload.get("time")))
    return ChunkOutcome(responses, failed, tuple(skipped)), reports


def command_timings(
    outcome: ChunkOutcome, chunk: Sequence[Command]
) -> list[tuple[str, Timing | None]]:
    """One (key, time block) per command, then the batch's own, for the operating budgets.

    Commands are named ``in_batch(method)``: the portal bills a method's calls inside a batch
    (apart from direct calls, for webhooks) besides the ``batch`` key itself.
    """
    timings: list[tuple[str, Timing | None]] = [
        (
            in_batch(c.method),
            outcome.responses[c.name].time if c.name in outcome.responses else None,
        )
        for c in chunk
    ]
    timings.append((BATCH_KEY, outcome.time))
    return timings
