"""A plain call's answer with its ``result`` left as JSON text, for a consumer that reads it.

A ``batch`` answer's commands reach a text-reading consumer (the typed availability read with
``msgspec``: :mod:`b24async.models._calendar_msgspec`) as slices of the answer's text
(:mod:`b24async.batchstream`). A command sent alone, as a plain call (the coalescer's lone
call, a one-command part of a spread read: :mod:`b24async.spreading`), would otherwise be
decoded whole by :func:`~b24async.protocol.decode_response` and typed from the dicts: the text
read costs 0.87-0.89x the client CPU of that on a 50-user, four-week read
(``benchmarks/small_answers.py --users 50``). :func:`result_text` gives such a consumer the same
thing a batch command gives it: the ``result`` value's text, and a
:class:`~b24async.protocol.Response` holding everything else.

Exactness first, as in the batch walk: only an answer laid out as the portal prints a success
(``{"result": <value>, <other members>}``: ``result`` first and once, no ``error``, status
below 400) is read this way. Where the value ends comes from one pass of ``msgspec`` over the
text (a ``msgspec.Raw``: its length, nothing built), ASCII text only (byte and character
offsets agree); every other member is read by the stdlib's scanner, which must end exactly at
the end of the text. Anything else, and a consumer that declines the text, goes to
:func:`~b24async.protocol.decode_response`: its value or its exception, as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from b24async import batchstream
from b24async.batchstream import _MALFORMED, _close, _result_at, _ws
from b24async.codec import int_or_none
from b24async.protocol import RawResponse, Response, Timing

__all__ = ["reads", "result_text"]

_result_length: Callable[[str], int] | None = None
try:
    import msgspec  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # the optional ``speed`` extra is not installed: no text slices
    pass
else:

    class _Plain(msgspec.Struct):  # type: ignore[misc,unused-ignore]  # Any without msgspec
        result: msgspec.Raw

    _decode_plain = msgspec.json.Decoder(_Plain).decode

    def _length(text: str) -> int:
        return len(_decode_plain(text).result)

    _result_length = _length


def reads(raw: RawResponse) -> bool:
    """Whether :func:`result_text` may read ``raw``: ``msgspec`` installed, a success status,
    and an ASCII body as large as the batch walk reads for its text (``TEXT_MIN_BYTES`` or
    ``STREAM_MIN_BYTES`` of :mod:`b24async.batchstream`, read at each call)."""
    size = raw.size
    return (
        _result_length is not None
        and raw.status < 400
        and (size >= batchstream.TEXT_MIN_BYTES or size >= batchstream.STREAM_MIN_BYTES)
        and raw.content.isascii()
    )


def result_text(raw: RawResponse, method: str) -> tuple[str, Response] | None:
    """``(the result's JSON text, the Response without it)`` of a plain call's answer.

    The Response's ``result`` is ``None``; its ``time``, ``total`` and ``next`` are what
    :func:`~b24async.protocol.decode_response` gives. ``None`` unless :func:`reads` and the
    answer is laid out as in the module docs: then decode it whole.
    """
    if _result_length is None or not reads(raw):
        return None
    text = raw.text()
    try:
        i = _result_at(text, 0)
        end = i + _result_length(text)
        value = text[i:end]
        rest: dict[str, Any] = {}
        end = _close(text, _ws(text, end), rest)  # the members after ``result``, as a batch's
    except (*_MALFORMED, msgspec.MsgspecError):
        return None
    if end != len(text) or "result" in rest or "error" in rest:
        return None  # trailing text, a second result (the last counts), an error body
    response = Response(
        method,
        None,
        Timing.from_wire(rest.get("time")),
        int_or_none(rest.get("total")),
        int_or_none(rest.get("next")),
    )
    return value, response
