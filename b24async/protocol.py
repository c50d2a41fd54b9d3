"""Sans-I/O protocol: encode params, build HTTP requests, decode responses. No sockets, no loop.

Everything here is plain functions over plain values so that it can be tested without an event
loop and reused by the client, the batch code and the coalescer alike.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import weakref
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import attrs

from b24async import jsonio
from b24async.codec import as_opt_datetime, int_or_none, to_wire
from b24async.errors import ApiError, DecodeError, make_api_error

__all__ = [
    "HttpRequest",
    "RawResponse",
    "Response",
    "Timing",
    "WireTimes",
    "build_query",
    "decode_envelope",
    "decode_response",
    "encode_params",
    "json_body",
    "normalize_method",
]

JSON_CONTENT_TYPE = "application/json"


def wire_float(value: Any) -> float | None:
    """A number of a ``time`` block as :meth:`Timing.from_wire` reads it (None if unreadable).

    Hot callers test ``type(value) is float`` first (the portal's usual spelling) and call this
    only for the rest, as ``from_wire`` does.
    """
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _to_datetime(value: Any) -> dt.datetime | None:
    # The time block is informational: a value we cannot read must not fail the answer.
    try:
        return as_opt_datetime(value, "time")
    except ValueError:
        return None


@functools.lru_cache(maxsize=64)
def _datetime_of(text: str) -> dt.datetime | None:
    """``_to_datetime`` of a string, remembered: every command of a batch answer carries the
    same one or two ``date_start``/``date_finish`` seconds, so a list read of 1,000 pages
    parses a handful of dates instead of 2,000. Datetimes are immutable: sharing is safe."""
    return _to_datetime(text)


def _from_unix(value: float | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromtimestamp(value, dt.timezone.utc)


@attrs.frozen
class Timing:
    """The ``time`` block of a response (RU/EN ``api-reference/data-types.md#time``).

    Server names are kept; ``*_datetime`` properties give aware datetimes. ``operating`` and
    ``operating_reset_at`` are reported by cloud portals only (``None`` elsewhere).
    """

    start: float | None = None
    finish: float | None = None
    duration: float | None = None
    processing: float | None = None
    date_start: dt.datetime | None = None
    date_finish: dt.datetime | None = None
    operating: float | None = None
    operating_reset_at: float | None = None

    @classmethod
    def from_wire(cls, raw: Any) -> Timing | None:
        """Build from the wire ``time`` object; ``None`` when absent or not an object."""
        if type(raw) is not dict and not isinstance(raw, Mapping):
            return None
        get = raw.get
        # One per command of every batch answer: the portal's usual spellings (a float, a date
        # string) are taken inline, anything else goes through the readers.
        start, finish = get("start"), get("finish")
        duration, processing = get("duration"), get("processing")
        began, ended = get("date_start"), get("date_finish")
        operating, reset = get("operating"), get("operating_reset_at")
        return cls(  # positional: in field order
            start if type(start) is float else wire_float(start),
            finish if type(finish) is float else wire_float(finish),
            duration if type(duration) is float else wire_float(duration),
            processing if type(processing) is float else wire_float(processing),
            _datetime_of(began) if type(began) is str else _to_datetime(began),
            _datetime_of(ended) if type(ended) is str else _to_datetime(ended),
            operating if type(operating) is float else wire_float(operating),
            reset if type(reset) is float else wire_float(reset),
        )

    @property
    def start_datetime(self) -> dt.datetime | None:
        """``start`` as an aware UTC datetime."""
        return _from_unix(self.start)

    @property
    def operating_reset_datetime(self) -> dt.datetime | None:
        """``operating_reset_at`` as an aware UTC datetime."""
        return _from_unix(self.operating_reset_at)


class WireTimes(list[tuple[str, Any]]):
    """One answer's reports for the throttle as received: ``(key, raw time block)`` each.

    A decoder whose caller never looks at the commands' :class:`Timing` objects (a list read's
    pages) hands the throttle the raw blocks (a ``dict``, or None / anything else for no
    block): a policy that reads them itself (``settle_wire``) builds no ``Timing`` per
    command; any other gets :meth:`timings`, exactly the reports the ``Timing`` path gives.
    """

    __slots__ = ()

    def timings(self) -> list[tuple[str, Timing | None]]:
        """The same reports with each block read by :meth:`Timing.from_wire`."""
        return [(key, Timing.from_wire(block)) for key, block in self]


@attrs.frozen
class Response:
    """A successful answer to one REST call (or one command inside a ``batch``).

    Attributes:
        method: the REST method called.
        result: the decoded ``result`` value (any JSON value).
        time: the ``time`` block, if the server sent one.
        total: list methods: the total row count (0 with ``start=-1``).
        next: list methods: the ``start`` of the next page, ``None`` on the last page.
    """

    method: str
    result: Any
    time: Timing | None = None
    total: int | None = None
    next: int | None = None


@attrs.frozen
class HttpRequest:
    """One HTTP request as plain data. The repr never shows the URL path or body (secrets)."""

    method: str
    url: str = attrs.field(repr=False)
    body: bytes | None = attrs.field(default=None, repr=False)
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=False)


class RawResponse:
    """One HTTP answer as plain data: status, headers (lower-cased names) and body bytes.

    A large answer is decoded from its text (:meth:`text`): the bytes are released then, so
    that the bytes, the text and the decoded values of an answer are never all alive at once.
    :attr:`body` still gives the bytes afterwards (encoded again from the text, equal to the
    bytes received). Compares by status, headers and body; immutable.
    """

    __slots__ = ("__weakref__", "_body", "_release", "_size", "_text", "headers", "status")

    status: int
    headers: Mapping[str, str]
    _body: bytes | None
    _text: str | None
    _size: int
    _release: Callable[[], None] | None

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        set_ = object.__setattr__
        set_(self, "status", status)
        set_(self, "headers", headers)
        set_(self, "_body", body)
        set_(self, "_text", None)
        set_(self, "_size", len(body))
        set_(self, "_release", None)

    @classmethod
    def from_text(
        cls,
        status: int,
        headers: Mapping[str, str],
        text: str,
        size: int,
        release: Callable[[], None] | None = None,
    ) -> RawResponse:
        """An answer whose UTF-8 body (``size`` bytes) was read as ``text`` on arrival.

        ``release`` is called once by :meth:`done` (or when the answer is dropped): the
        transport holds a large answer's turn until it has been decoded.
        """
        raw = cls(status, headers, b"")
        object.__setattr__(raw, "_body", None)
        object.__setattr__(raw, "_text", text)
        object.__setattr__(raw, "_size", size)
        if release is not None:
            once = _Once(release)
            object.__setattr__(raw, "_release", once)
            weakref.finalize(raw, once)
        return raw

    def done(self) -> None:
        """The answer is decoded: let the transport read the next large one (idempotent)."""
        if self._release is not None:
            self._release()

    @property
    def body(self) -> bytes:
        """The body as received (bytes)."""
        if self._body is not None:
            return self._body
        assert self._text is not None
        return self._text.encode("utf-8", "surrogatepass")

    @property
    def size(self) -> int:
        """The body's length in bytes."""
        return self._size

    @property
    def content(self) -> bytes | str:
        """The body as held: its text once read as text (:meth:`text`), else its bytes."""
        if self._text is not None:
            return self._text
        assert self._body is not None
        return self._body

    def text(self) -> str:
        """The body as text, read as :func:`json.loads` reads bytes; releases UTF-8 bytes.

        ``UnicodeDecodeError`` (a ``ValueError``) when the bytes are not text. Bytes in UTF-16
        or UTF-32 (which :func:`json.loads` also accepts) are kept as they are.
        """
        if self._text is None:
            assert self._body is not None
            encoding = json.detect_encoding(self._body)
            text = self._body.decode(encoding, "surrogatepass")
            object.__setattr__(self, "_text", text)
            if encoding == "utf-8":  # encodes back to exactly these bytes: drop them
                object.__setattr__(self, "_body", None)
            return text
        return self._text

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"RawResponse is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"RawResponse is immutable: cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RawResponse):
            return NotImplemented
        return (self.status, self.headers, self.body) == (other.status, other.headers, other.body)

    __hash__ = None  # type: ignore[assignment]  # headers are a dict

    def __repr__(self) -> str:
        return f"RawResponse(status={self.status!r})"


class _Once:
    """Calls a function the first time it is called, never again."""

    def __init__(self, func: Callable[[], None]) -> None:
        self._func: Callable[[], None] | None = func

    def __call__(self) -> None:
        func, self._func = self._func, None
        if func is not None:
            func()


def normalize_method(method: str) -> str:
    """Validate a REST method name and return it lower-cased (the portal ignores case)."""
    if not isinstance(method, str):
        raise TypeError(f"method name must be a str, not {type(method).__name__}")
    name = method.strip()
    if not name:
        raise ValueError("method name is empty")
    if any(ch in name for ch in "/?#&= \t\r\n"):
        raise ValueError(f"invalid method name {method!r}")
    return name.lower()


def encode_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Turn user params into JSON-ready values the portal reads as intended (:mod:`b24async.codec`).

    Booleans become ``"Y"``/``"N"`` (the API's flag convention, and the only form that means
    the same in a JSON body and in a ``batch`` command); dates ``YYYY-MM-DD``; aware datetimes
    ISO-8601 with offset, to the second (naive ones are refused); enums their value; tuples and
    sets (sorted) lists; ``Decimal`` a string. Pass ``1``/``0`` or a string where a method wants
    something else. Any other type raises ``TypeError`` naming the offending key, before any
    request is sent.

    >>> encode_params({"FILTER": {"ACTIVE": True, "UF_DEPARTMENT": (1, 2)}, "ORDER": None})
    {'FILTER': {'ACTIVE': 'Y', 'UF_DEPARTMENT': [1, 2]}, 'ORDER': None}
    """
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a mapping, not {type(params).__name__}")
    encoded: dict[str, Any] = to_wire(params, "params")
    return encoded


def json_body(params: Mapping[str, Any]) -> bytes:
    """Serialize already-encoded params as a compact UTF-8 JSON body."""
    return json.dumps(params, ensure_ascii=False, separators=(",", ":")).encode()


def _flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    if value is None:
        return  # PHP's http_build_query drops nulls
    if isinstance(value, bool):
        out.append((prefix, "1" if value else "0"))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _flatten(f"{prefix}[{key}]", item, out)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _flatten(f"{prefix}[{index}]", item, out)
    else:
        out.append((prefix, str(value)))


def build_query(params: Mapping[str, Any]) -> str:
    """Encode already-encoded params as a PHP ``http_build_query`` string.

    Used for ``batch`` commands, whose ``cmd`` values the portal parses with ``parse_str``.
    Nested keys become ``a[b][0]=x``; booleans ``1``/``0`` (as PHP; :func:`encode_params` has
    already made user booleans ``Y``/``N``); nulls and empty arrays vanish, as in PHP.
    ``$result[...]`` references are left readable (brackets and ``$`` unescaped).
    """
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        _flatten(str(key), value, pairs)
    return "&".join(f"{_quote(k)}={_quote(v)}" for k, v in pairs)


_PLAIN = re.compile(r"[A-Za-z0-9_.\-~\[\]$]*")


def _quote(text: str) -> str:
    # Most keys and values (IDs, flags, names of fields) need no escaping; skip quote() then.
    return text if _PLAIN.fullmatch(text) else quote(text, safe="[]$")


def decode_envelope(raw: RawResponse, method: str) -> dict[str, Any]:
    """Parse the JSON envelope or raise :class:`DecodeError` (keeping the raw body)."""
    try:
        payload = jsonio.loads(raw.content)
    except (UnicodeDecodeError, ValueError):
        raise DecodeError(
            "response is not JSON", raw=raw.body, status=raw.status, method=method
        ) from None
    if not isinstance(payload, dict):
        raise DecodeError(
            "response is not a JSON object", raw=raw.body, status=raw.status, method=method
        )
    return payload


def error_from_body(payload: Mapping[str, Any], status: int, method: str) -> ApiError | None:
    """The :class:`ApiError` an ``{"error": ..., "error_description": ...}`` body stands for."""
    if "error" not in payload:
        return None
    code = payload.get("error")
    code_text = "" if code is None else str(code)
    description = str(payload.get("error_description") or "")
    extra = {k: v for k, v in payload.items() if k not in ("error", "error_description")}
    return make_api_error(code_text, description, status=status, method=method, extra=extra)


def decode_response(raw: RawResponse, method: str) -> Response:
    """Turn one HTTP answer into a :class:`Response`, or raise the matching exception.

    Raises the :class:`ApiError` subclass for the body's ``error`` code (classified by code
    first, HTTP status as a fallback), or :class:`DecodeError` when the body is not a Bitrix24
    JSON envelope (e.g. an HTML 502 page from a proxy).
    """
    payload = decode_envelope(raw, method)
    error = error_from_body(payload, raw.status, method)
    if error is not None:
        raise error
    if raw.status >= 400 or "result" not in payload:
        raise DecodeError(
            "response has neither result nor error", raw=raw.body, status=raw.status, method=method
        )
    return Response(
        method=method,
        result=payload["result"],
        time=Timing.from_wire(payload.get("time")),
        total=int_or_none(payload.get("total")),
        next=int_or_none(payload.get("next")),
    )
