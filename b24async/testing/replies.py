"""What the portal sends back: error bodies, the ``time`` block and JSON encoding (facts §3, §6).

Errors carry only ``{"error", "error_description"}``; successful calls and every batch carry a
``time`` block. Bodies are shaped like PHP's ``json_encode`` output (empty maps are ``[]``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import attrs
from aiohttp import web

from b24async.testing.jsontext import json_bytes

__all__ = [
    "BATCH_LENGTH_EXCEEDED",
    "BATCH_METHOD_NOT_ALLOWED",
    "EXPIRED_TOKEN",
    "HTML_502_BODY",
    "INTERNAL_SERVER_ERROR",
    "INVALID_CREDENTIALS",
    "INVALID_TOKEN",
    "METHOD_NOT_FOUND",
    "NO_AUTH_FOUND",
    "OPERATION_TIME_LIMIT",
    "QUERY_LIMIT_EXCEEDED",
    "Reply",
    "RestError",
    "encode_json",
    "iso_time",
    "time_block",
]


@attrs.frozen
class RestError:
    """An error reply: HTTP status plus the Bitrix ``error`` code and ``error_description``."""

    status: int
    code: str
    description: str

    def body(self) -> dict[str, str]:
        """The JSON body, ``{"error": code, "error_description": description}``."""
        return {"error": self.code, "error_description": self.description}


QUERY_LIMIT_EXCEEDED = RestError(503, "QUERY_LIMIT_EXCEEDED", "Too many requests")
OPERATION_TIME_LIMIT = RestError(
    429, "OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit."
)
METHOD_NOT_FOUND = RestError(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
NO_AUTH_FOUND = RestError(401, "NO_AUTH_FOUND", "Wrong authorization data")
INVALID_CREDENTIALS = RestError(401, "INVALID_CREDENTIALS", "Invalid request credentials")
INVALID_TOKEN = RestError(401, "invalid_token", "The access token provided is invalid")
EXPIRED_TOKEN = RestError(401, "expired_token", "The access token provided has expired")
INTERNAL_SERVER_ERROR = RestError(500, "INTERNAL_SERVER_ERROR", "Internal server error")
# Inside a batch these are per-command entries of a 200 reply; the status is what the docs list.
BATCH_LENGTH_EXCEEDED = RestError(400, "ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded")
BATCH_METHOD_NOT_ALLOWED = RestError(
    405, "ERROR_BATCH_METHOD_NOT_ALLOWED", "Method is not allowed for batch usage"
)

# What an nginx front sends when the PHP backend is gone.
HTML_502_BODY = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


def encode_json(payload: Any) -> bytes:
    """Encode a reply body as the portal does: PHP array shapes, compact separators."""
    return json_bytes(payload)


@attrs.frozen
class Reply:
    """One HTTP reply, kept as data so that stats and faults can inspect it before sending."""

    status: int
    body: bytes
    content_type: str = "application/json"
    code: str | None = None  # the ``error`` code of an error reply, None on success

    @classmethod
    def json(cls, payload: Mapping[str, Any], *, status: int = 200) -> Reply:
        """A JSON success reply."""
        return cls(status, encode_json(payload))

    @classmethod
    def printed(cls, pieces: list[bytes], *, status: int = 200) -> Reply:
        """A JSON success reply already printed in pieces (:mod:`b24async.testing.jsontext`)."""
        return cls(status, b"".join(pieces))

    @classmethod
    def error(cls, error: RestError) -> Reply:
        """A JSON error reply."""
        return cls(error.status, encode_json(error.body()), code=error.code)

    def to_response(self) -> web.Response:
        """The aiohttp response to send."""
        return web.Response(
            status=self.status, body=self.body, content_type=self.content_type, charset="utf-8"
        )


def iso_time(unix: float, tz: dt.tzinfo) -> str:
    """PHP's ``date('c')``: whole seconds, the portal's offset: ``2026-05-14T10:26:32+03:00``."""
    return dt.datetime.fromtimestamp(int(unix), tz).isoformat()


def time_block(
    *,
    start: float,
    finish: float,
    processing: float,
    operating: float | None,
    reset_at: float | None,
    tz: dt.tzinfo,
) -> dict[str, Any]:
    """The ``time`` object of a successful reply, in the portal's key order.

    ``operating``/``operating_reset_at`` are left out when None (limiter off; on-prem without
    shared storage has no ``operating_reset_at``).
    """
    block: dict[str, Any] = {
        "start": start,
        "finish": finish,
        "duration": finish - start,
        "processing": processing,
        "date_start": iso_time(start, tz),
        "date_finish": iso_time(finish, tz),
    }
    if reset_at is not None:
        block["operating_reset_at"] = reset_at
    if operating is not None:
        block["operating"] = operating
    return block
