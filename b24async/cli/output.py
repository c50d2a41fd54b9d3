"""What the CLI prints: JSON documents on stdout, errors on stderr, secrets never.

Results go to stdout as JSON: indented on a terminal, one compact line when piped (so ``| jq``
and ``> file.json`` get machine-friendly output). Errors go to stderr as a JSON object shaped
like the portal's own error body (``error``, ``error_description``) plus ``method``, ``status``
and ``exception``. Every text printed on stderr passes through a :class:`Redactor` first, which
removes the webhook URL's code and any token the CLI was given.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

from b24async import Response
from b24async.codec import to_json
from b24async.redaction import MIN_BARE_LENGTH, redact

__all__ = ["Output", "Redactor", "envelope", "jsonable"]

REDACTED = "***"


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data (:func:`b24async.codec.to_json`: the codec's output table).

    attrs models become objects, enums their wire value, datetimes and dates ISO-8601 strings,
    timedeltas seconds, mappings objects with string keys (``Availability`` is keyed by user ID),
    tuples, sets (sorted) and other iterables arrays; booleans stay ``true``/``false``.
    """
    return to_json(value)


def envelope(response: Response) -> dict[str, Any]:
    """A response as the portal's JSON envelope: ``result``, then ``total``, ``next`` and
    ``time`` when the portal sent them."""
    body: dict[str, Any] = {"result": response.result}
    if response.total is not None:
        body["total"] = response.total
    if response.next is not None:
        body["next"] = response.next
    if response.time is not None:
        body["time"] = response.time
    return body


class Redactor:
    """Masks secrets in text with ``***``: known ones (whole webhook URLs, codes, tokens) and,
    whatever their length, any webhook code or token *in a secret's position*
    (:func:`b24async.redaction.redact`). A short secret is never replaced inside ordinary words.
    """

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets: set[str] = set()
        self.add(*secrets)

    def add(self, *secrets: str | None) -> None:
        """Remember more secrets; a webhook URL also registers its code (the last segment)."""
        for secret in secrets:
            if not secret:
                continue
            # A short secret could be part of any word ("e" in "error"): it is masked only in
            # its position (webhook path, auth= value), never replaced everywhere.
            if len(secret.strip()) >= MIN_BARE_LENGTH:
                self._secrets.add(secret.strip())
            match = re.search(r"/rest/[^/]+/([^/?#]+)", secret)
            if match and len(match.group(1)) >= MIN_BARE_LENGTH:
                self._secrets.add(match.group(1))

    def __call__(self, text: str) -> str:
        """``text`` with every known secret replaced; longest first, so URLs go before codes."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, REDACTED)
        return redact(text)


class Output:
    """Writes JSON results to ``stdout`` and JSON errors to ``stderr``.

    Args:
        stdout, stderr: the streams.
        pretty: indent results (``None``: only when ``stdout`` is a terminal).
        redact: applied to everything written to ``stderr``.
    """

    def __init__(
        self,
        stdout: TextIO,
        stderr: TextIO,
        *,
        pretty: bool | None = None,
        redact: Redactor | None = None,
    ) -> None:
        self.stdout = stdout
        self.stderr = stderr
        self.pretty = _isatty(stdout) if pretty is None else pretty
        self.redact = redact or Redactor()

    def result(self, value: Any) -> None:
        """Print one JSON document (a whole result)."""
        indent = 2 if self.pretty else None
        _write(self.stdout, jsonable(value), indent=indent)

    def line(self, value: Any) -> None:
        """Print one compact JSON line (JSON Lines output), whatever ``pretty`` says."""
        _write(self.stdout, jsonable(value), indent=None)

    def error(self, body: Mapping[str, Any]) -> None:
        """Print an error object on stderr (indented on a terminal), secrets removed."""
        indent = 2 if _isatty(self.stderr) else None
        value = jsonable(body)
        text, ascii_text = _dumps(value, indent, False), _dumps(value, indent, True)
        _write_text(self.stderr, self.redact(text), self.redact(ascii_text))

    def message(self, text: str) -> None:
        """Print a plain line of text on stderr, secrets removed."""
        self.stderr.write(self.redact(text) + "\n")
        self.stderr.flush()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _dumps(value: Any, indent: int | None, ascii_only: bool) -> str:
    separators = (",", ": ") if indent is not None else (",", ":")
    return json.dumps(value, indent=indent, separators=separators, ensure_ascii=ascii_only)


def _write(stream: TextIO, value: Any, *, indent: int | None) -> None:
    _write_text(stream, _dumps(value, indent, False), _dumps(value, indent, True))


def _write_text(stream: TextIO, text: str, ascii_text: str) -> None:
    # Names on Bitrix24 portals are often Cyrillic: print them as is, unless the stream cannot
    # encode them (a legacy Windows code page), where JSON's \u escapes say the same thing.
    try:
        stream.write(text + "\n")
    except UnicodeEncodeError:
        stream.write(ascii_text + "\n")
    stream.flush()
