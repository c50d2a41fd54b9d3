"""Exit statuses of the CLI and the error each one stands for.

=====  ==========================================================================
code   meaning
=====  ==========================================================================
0      success
1      an unexpected failure (a bug: please report it with the traceback)
2      usage error: a bad or missing option, no credentials, an unreadable file
3      API error: the portal answered with an error code (``ApiError``); for
       ``batch``, at least one command failed or was skipped
4      network error: no answer (``TransportError``), an answer that is not
       Bitrix24 JSON (``DecodeError``, e.g. a proxy's HTML 502 page), or a
       redirect the client did not follow (``RedirectError``)
5      authentication error: wrong webhook code, invalid or expired token
       (``AuthError``)
130    interrupted (Ctrl-C)
141    stdout was closed by its reader (``b24async ... | head``), as with SIGPIPE
=====  ==========================================================================
"""

from __future__ import annotations

import enum
from typing import Any

from b24async.errors import ApiError, AuthError, DecodeError, RedirectError, TransportError

__all__ = ["EXIT_CODES_HELP", "ExitCode", "UsageError", "error_body", "exit_code_for"]


class ExitCode(enum.IntEnum):
    """The CLI's exit statuses (see the module docstring)."""

    OK = 0
    FAILURE = 1
    USAGE = 2
    API = 3
    NETWORK = 4
    AUTH = 5
    INTERRUPTED = 130
    BROKEN_PIPE = 141


EXIT_CODES_HELP = """\
exit status:
    0  success
    1  an unexpected failure (a bug: please report it)
    2  usage error (bad or missing option, no credentials, unreadable file)
    3  API error: the portal answered with an error code (batch: a command failed)
    4  network error: no answer, or an answer that is not Bitrix24 JSON
    5  authentication error: wrong webhook code, invalid or expired token
  130  interrupted (Ctrl-C)
  141  the reader of stdout went away (b24async ... | head), as with SIGPIPE
"""


class UsageError(Exception):
    """A mistake in the command line found after parsing (exit status 2)."""


def exit_code_for(error: BaseException) -> ExitCode:
    """The exit status for an exception raised while running a command."""
    if isinstance(error, AuthError):
        return ExitCode.AUTH
    if isinstance(error, ApiError):
        return ExitCode.API
    if isinstance(error, (TransportError, DecodeError, RedirectError)):
        return ExitCode.NETWORK
    if isinstance(error, UsageError):
        return ExitCode.USAGE
    return ExitCode.FAILURE


def error_body(error: BaseException) -> dict[str, Any]:
    """The JSON object printed on stderr: the portal's ``error``/``error_description`` shape."""
    body: dict[str, Any]
    if isinstance(error, ApiError):
        body = {
            "error": error.code,
            "error_description": error.description,
            "method": error.method,
            "status": error.status,
        }
    elif isinstance(error, DecodeError):
        body = {
            "error": "DECODE_ERROR",
            "error_description": str(error),
            "method": error.method,
            "status": error.status,
        }
    elif isinstance(error, RedirectError):
        body = {
            "error": "REDIRECT_ERROR",
            "error_description": str(error),
            "method": error.method,
            "status": error.status,
        }
    elif isinstance(error, TransportError):
        body = {"error": "TRANSPORT_ERROR", "error_description": str(error)}
        if error.method:
            body["method"] = error.method
    else:
        body = {"error": "USAGE_ERROR", "error_description": str(error)}
    body["exception"] = type(error).__name__
    return body
