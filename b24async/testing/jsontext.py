"""Reply JSON built from already-printed parts, byte for byte what one ``json_encode`` prints.

The fake portal prints every reply as PHP's ``json_encode`` prints the PHP array it came from
(:func:`~b24async.testing.phpquery.php_json_shape`, compact separators, ASCII escapes). A big
answer (a batch of forty 50-user ``calendar.accessibility.get`` commands is ~18 MB) need not
be shaped and encoded as one tree: the printed form of a PHP array is its members' printed
forms joined, so each part can be printed once (and cached by the handler that owns it) and
spliced here. :func:`splice` applies the same list-or-object rule as ``php_json_shape``.

The portal's own CPU per answer is serial time a real portal does not spend in this form (its
server time is modelled by ``processing`` seconds per command), so it is kept low.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from b24async.testing.phpquery import php_json_shape

__all__ = ["Pieces", "PrintedMap", "json_bytes", "json_text", "splice"]

Pieces = list[bytes]
"""Printed JSON in pieces: their concatenation is the text (joined once, into the reply body)."""

_quote_key = json.JSONEncoder().encode  # ensure_ascii, as json.dumps prints object keys


def json_text(value: Any) -> str:
    """``value`` printed as the portal prints it: PHP array shapes, compact, ASCII escapes."""
    return json.dumps(php_json_shape(value), separators=(",", ":"), allow_nan=False)


def json_bytes(value: Any) -> bytes:
    """:func:`json_text` as UTF-8 (ASCII, in fact) bytes."""
    return json_text(value).encode("utf-8")


def splice(members: Iterable[tuple[Any, Sequence[bytes]]]) -> Pieces:
    """The printed PHP array whose members are ``(key, printed value in pieces)``, in order.

    Keys 0..n-1 in order (as ints or strings; none at all included) print as a JSON list,
    anything else as an object with string keys, exactly as :func:`json_text` prints the
    array itself. The keys must be distinct as strings (a PHP array has ``1`` and ``"1"`` as
    one key). The members' pieces are not copied: only the final join copies bytes.
    """
    pairs = [(key if type(key) is str else str(key), pieces) for key, pieces in members]
    out: Pieces = []
    if all(key == str(position) for position, (key, _pieces) in enumerate(pairs)):
        out.append(b"[")
        for position, (_key, pieces) in enumerate(pairs):
            if position:
                out.append(b",")
            out.extend(pieces)
        out.append(b"]")
        return out
    separator = b"{"
    for key, pieces in pairs:
        out.append(separator + _quote_key(key).encode("utf-8") + b":")
        out.extend(pieces)
        separator = b","
    out.append(b"}")
    return out


class PrintedMap(Mapping[str, Any]):
    """A handler's map result kept as its members' printed JSON; values decoded on first use.

    The reply splices :attr:`pieces`; only a ``batch`` reference (``$result[cmd][key]...``) or
    a test reading the result decodes a member. Each member must print back to its own text
    (JSON objects, lists, strings, ints and booleans do; the handler guarantees it).
    """

    __slots__ = ("_decoded", "_texts")

    def __init__(self, texts: Mapping[str, bytes]) -> None:
        """Wrap ``{key: printed member}`` (copied; the keys' order is the reply's)."""
        self._texts = dict(texts)
        self._decoded: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        """The member decoded from its text (once; later reads return the same object)."""
        try:
            return self._decoded[key]
        except KeyError:
            value = self._decoded[key] = json.loads(self._texts[key])
            return value

    def __iter__(self) -> Iterator[str]:
        """The keys, in reply order."""
        return iter(self._texts)

    def __len__(self) -> int:
        """How many members."""
        return len(self._texts)

    def __repr__(self) -> str:
        """Like the dict it stands for."""
        return repr(dict(self.items()))

    @property
    def pieces(self) -> Pieces:
        """The whole map printed, as :func:`json_text` would print ``dict(self)``."""
        return splice((key, (text,)) for key, text in self._texts.items())
