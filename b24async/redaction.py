"""Masking secrets where they occur *as secrets*, never as substrings of ordinary text.

A webhook code may be one letter (``e``) and a token a couple of characters in a test; replacing
every occurrence of such a string would mangle keys and words (``{"***rror": ...}``) and, worse,
show where the secret is. So a secret is masked where its *position* says it is one:

* the code segment of a webhook path, ``/rest/<user>/<code>/`` (also JSON-escaped, ``\\/``);
* the value of an ``auth``, ``access_token``, ``refresh_token`` or ``client_secret`` parameter in
  a query string, a JSON body or a Python repr (any value there is masked, known or not);
* an ``Authorization: Bearer <token>`` header value;
* anywhere else, only a known secret long enough not to be a word (:data:`MIN_BARE_LENGTH`
  characters; real codes and tokens have 16 to 70) standing alone, not inside a longer word.

:func:`redact` is used by the credentials (``Credentials.redact``) and the CLI.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["MIN_BARE_LENGTH", "REDACTED", "SECRET_KEYS", "redact"]

REDACTED = "***"

#: Parameter names whose values are secrets wherever they appear.
SECRET_KEYS = ("auth", "access_token", "refresh_token", "client_secret")

#: A known secret shorter than this is masked only in the secret positions listed above.
MIN_BARE_LENGTH = 8

_KEYS = "|".join(SECRET_KEYS)
# key=value in a query string or form body (not part of a longer name like "oauth=").
_QUERY = re.compile(rf"(?<![\w.\[-])((?:{_KEYS})=)([^&\s#\"'<>]*)", re.IGNORECASE)
# "key": "value" in JSON, or 'key': 'value' in a Python repr.
_QUOTED = re.compile(
    rf"""(["'](?:{_KEYS})["']\s*:\s*)("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')""", re.IGNORECASE
)
_BEARER = re.compile(r"(\bBearer\s+)([^\s\"',;]+)", re.IGNORECASE)
# /rest/<user>/<code>: the third segment is the webhook code (slashes may be JSON-escaped).
_WEBHOOK = re.compile(r"((?:\\?/)rest(?:\\?/)[^/\\\s?#\"']+(?:\\?/))([^/\\\s?#\"'<>]+)")


def _mask_quoted(match: re.Match[str]) -> str:
    quote = match.group(2)[0]
    return f"{match.group(1)}{quote}{REDACTED}{quote}"


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with secrets masked as ``***`` where they occur as secrets (see module docs).

    ``secrets`` are the known secrets (webhook codes, tokens, client secrets; ``None`` and
    empty ones are skipped). Webhook path codes and the values of the secret parameters are
    masked whether or not they are known.
    """
    text = _WEBHOOK.sub(lambda m: m.group(1) + REDACTED, text)
    text = _QUERY.sub(lambda m: m.group(1) + REDACTED, text)
    text = _QUOTED.sub(_mask_quoted, text)
    text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        if len(secret) >= MIN_BARE_LENGTH and secret in text:
            text = re.sub(rf"(?<![\w-]){re.escape(secret)}(?![\w-])", REDACTED, text)
    return text
