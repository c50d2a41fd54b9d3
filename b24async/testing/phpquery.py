"""PHP array semantics as the portal applies them to request and response data.

The real portal is PHP. Query strings and form bodies are decoded by ``parse_str`` (facts §1),
``start`` goes through ``intval``, batch's ``halt`` through a ``(bool)`` cast (facts §4), and every
PHP array is sent back by ``json_encode``: as a JSON array when its keys are 0..n-1 in order,
otherwise as an object, so an empty map comes out as ``[]``. These rules live here, in one place.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote_plus, unquote_to_bytes

__all__ = [
    "build_query_php",
    "parse_pairs_php",
    "parse_qs_php",
    "php_bool",
    "php_intval",
    "php_json_shape",
    "php_key",
    "php_numeric_string",
]

# PHP's max_input_nesting_level: a deeper name is dropped entirely.
MAX_NESTING = 64
_LONG_MIN = -(2**63)
_LONG_MAX = 2**63 - 1
# ZEND_HANDLE_NUMERIC_STR: "12" and "-3" become integer keys; "012", "+1", " 1" and "-0" do not.
_NUMERIC_KEY = re.compile(r"(?:0|-?[1-9][0-9]*)\Z")
# The prefix of a string that PHP's (int) cast reads (PHP >= 7.1 also reads an exponent).
_INT_PREFIX = re.compile(
    r"[ \t\n\r\v\f]*([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
)


def php_key(key: str | int) -> str | int:
    """Normalize an array key as PHP does: integer-like strings become ints."""
    if isinstance(key, int):
        return key
    if _NUMERIC_KEY.match(key):
        value = int(key)
        if _LONG_MIN <= value <= _LONG_MAX:
            return value
    return key


class _PhpArray:
    """An ordered PHP array while parsing: keys are ints or strings, ``[]`` appends."""

    __slots__ = ("items", "next_index")

    def __init__(self) -> None:
        self.items: dict[str | int, Any] = {}
        self.next_index = 0

    def set(self, key: str | int, value: Any) -> None:
        normalized = php_key(key)
        self.items[normalized] = value
        if isinstance(normalized, int) and normalized >= self.next_index:
            self.next_index = normalized + 1

    def append(self, value: Any) -> None:
        self.items[self.next_index] = value
        self.next_index += 1

    def child(self, key: str | None) -> _PhpArray:
        """The array stored under ``key`` (``None`` appends one), replacing any scalar there."""
        if key is None:
            created = _PhpArray()
            self.append(created)
            return created
        existing = self.items.get(php_key(key))
        if isinstance(existing, _PhpArray):
            return existing
        created = _PhpArray()
        self.set(key, created)
        return created


_Split = tuple[str, tuple[str | None, ...], bool] | None


def _split_name(name: str) -> _Split:
    """:func:`_parse_name`, remembered for short names (batch commands repeat ``users[7]``)."""
    return _parse_name_cached(name) if len(name) <= 64 else _parse_name(name)


def _parse_name(name: str) -> _Split:
    """Split ``a[b][]`` into ``("a", ("b", None), False)`` following php_register_variable_ex.

    The flag is True when the name nests deeper than PHP allows: PHP then deletes the variable.
    """
    name = name.split("\x00", 1)[0].lstrip(" ")
    bracket = name.find("[")
    base = name if bracket == -1 else name[:bracket]
    base = base.replace(" ", "_").replace(".", "_")
    if not base:
        return None
    indices: list[str | None] = []
    if bracket != -1:
        pos = bracket
        while True:
            if len(indices) + 1 > MAX_NESTING:
                return base, tuple(indices), True
            start = pos + 1
            probe = start + 1 if name[start : start + 1] == " " else start
            if name[probe : probe + 1] == "]":
                indices.append(None)
                close = probe
            else:
                close = name.find("]", probe)
                if close == -1:
                    if not indices:
                        # An unterminated first bracket is not an index: "a[b" is the name "a_b".
                        tail = name[start:]
                        for char in " .[":
                            tail = tail.replace(char, "_")
                        base = f"{base}_{tail}"
                    # Deeper, the unterminated tail is dropped and the last index is the leaf.
                    break
                indices.append(name[start:close])
            pos = close + 1
            if name[pos : pos + 1] != "[":
                break  # anything after the last "]" is ignored
    return base, tuple(indices), False


_parse_name_cached = functools.lru_cache(maxsize=4096)(_parse_name)


def _register(root: _PhpArray, name: str, value: str) -> None:
    split = _split_name(name)
    if split is None:
        return
    base, indices, too_deep = split
    if too_deep:
        root.items.pop(php_key(base), None)
        return
    target = root
    key: str | None = base
    for index in indices:
        target = target.child(key)
        key = index
    if key is None:
        target.append(value)
    else:
        target.set(key, value)


def _finish(value: Any) -> Any:
    """Turn parsed arrays into Python values: lists for keys 0..n-1 in order, else dicts."""
    if not isinstance(value, _PhpArray):
        return value
    items = value.items
    if all(key == position for position, key in enumerate(items)):
        return [_finish(item) for item in items.values()]
    return {str(key): _finish(item) for key, item in items.items()}


def _url_decode(text: str) -> str:
    # php_url_decode: "+" is a space, bad %-escapes stay as they are; bytes are read as UTF-8.
    if text.isascii() and "%" not in text and "+" not in text:
        return text  # nothing to decode (most names and values of a batch command)
    return unquote_to_bytes(text.replace("+", " ")).decode("utf-8", "replace")


def parse_pairs_php(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Register already-decoded ``(name, value)`` pairs as PHP would (multipart fields, tests)."""
    root = _PhpArray()
    for name, value in pairs:
        _register(root, name, value)
    return {str(key): _finish(item) for key, item in root.items.items()}


def parse_qs_php(query: str) -> dict[str, Any]:
    """Parse a query string exactly like PHP's ``parse_str``.

    ``users[]=1&users[]=2`` gives ``{"users": ["1", "2"]}``, ``filter[>ID]=5`` gives
    ``{"filter": {">ID": "5"}}``. Nested arrays whose keys are 0..n-1 in order become lists,
    other arrays dicts with string keys. Every leaf is a string. Dots and spaces in the top-level
    name become underscores, as in PHP.
    """
    pairs: list[tuple[str, str]] = []
    for chunk in query.split("&"):
        if not chunk:
            continue
        name, _, value = chunk.partition("=")
        pairs.append((_url_decode(name), _url_decode(value)))
    return parse_pairs_php(pairs)


def _scalar_text(value: Any) -> str | None:
    if value is None:
        return None
    if value is True:
        return "1"
    if value is False:
        return "0"
    if isinstance(value, float):
        return php_numeric_string(value)
    return str(value)


def _flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _flatten(f"{prefix}[{key}]", item, out)
    elif isinstance(value, list | tuple):
        for position, item in enumerate(value):
            _flatten(f"{prefix}[{position}]", item, out)
    else:
        text = _scalar_text(value)
        if text is not None:
            out.append((prefix, text))


def build_query_php(params: Mapping[str, Any]) -> str:
    """Encode params like PHP's ``http_build_query``: ``fields[NAME]=x&users[0]=1``.

    Booleans become ``1``/``0`` and ``None`` values are left out, as in PHP.
    """
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        _flatten(str(key), value, pairs)
    return "&".join(f"{quote_plus(name)}={quote_plus(text)}" for name, text in pairs)


def php_intval(value: Any) -> int:
    """PHP's ``intval``: ``"12abc"`` is 12, ``"abc"`` 0, ``"1e3"`` 1000, floats truncate."""
    if value is None:
        return 0
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return max(_LONG_MIN, min(_LONG_MAX, value))
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return 0
        return max(_LONG_MIN, min(_LONG_MAX, int(value)))
    if isinstance(value, str):
        match = _INT_PREFIX.match(value)
        if match is None:
            return 0
        number = match.group(1)
        if any(char in number for char in ".eE"):
            return php_intval(float(number))
        return max(_LONG_MIN, min(_LONG_MAX, int(number)))
    if isinstance(value, Mapping | list | tuple):
        return 1 if value else 0
    return 0


def php_bool(value: Any) -> bool:
    """PHP's ``(bool)`` cast: ``"0"`` and ``""`` are false, any other string (even "false") true."""
    if value is None:
        return False
    if isinstance(value, str):
        return value not in ("", "0")
    if isinstance(value, bool | int | float):
        return bool(value)
    if isinstance(value, Mapping | list | tuple):
        return len(value) > 0
    return True


def php_numeric_string(value: int | float) -> str:
    """PHP's ``(string)`` of a number: ``1.0`` is ``"1"``, ``1e20`` is ``"1.0E+20"``."""
    if isinstance(value, bool):
        return "1" if value else ""
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NAN"
    if math.isinf(value):
        return "INF" if value > 0 else "-INF"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    text = repr(value)
    if "e" in text:
        mantissa, exponent = text.split("e")
        if "." not in mantissa:
            mantissa += ".0"
        sign = "-" if exponent.startswith("-") else "+"
        digits = exponent.lstrip("+-").lstrip("0") or "0"
        return f"{mantissa}E{sign}{digits}"
    return text


def php_json_shape(value: Any) -> Any:
    """Shape a value the way ``json_encode`` prints the PHP array it came from.

    A mapping whose keys are exactly 0..n-1 in order (as ints or strings) becomes a list, so an
    empty mapping becomes ``[]``; other mappings stay objects. Applied to every reply body.
    Flat objects (``str`` keys, scalar values or lists of scalars) come back as the same
    ``dict``, not a copy: the result is for printing, not for changing.
    """
    if type(value) in _SCALARS:  # most values of a reply: no ABC checks, no recursion
        return value
    if type(value) is dict and _flat_object(value):
        return value  # already printed as it is: no copy (tens of thousands per big reply)
    if isinstance(value, Mapping):
        if all(str(key) == str(position) for position, key in enumerate(value)):
            return [php_json_shape(item) for item in value.values()]
        return {
            key if type(key) is str else str(key): item
            if type(item) in _SCALARS
            else php_json_shape(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [item if type(item) in _SCALARS else php_json_shape(item) for item in value]
    return value


_SCALARS = frozenset({str, int, float, bool, type(None)})
_SCALARS_OR_LIST = _SCALARS | {list}
_STR = frozenset({str})


def _flat_object(value: dict[Any, Any]) -> bool:
    """A non-empty dict, ``str`` keys, the first not ``"0"``, values scalars or lists of scalars.

    ``json.dumps`` prints it exactly as :func:`php_json_shape` would print its shaped copy: not
    a list (the first key is not ``"0"``), every key already a ``str``, and a list of scalars
    shapes to an equal list (a ``user.get`` row's ``UF_DEPARTMENT``).
    """
    if not value or next(iter(value)) == "0" or not _STR.issuperset(map(type, value)):
        return False
    kinds = set(map(type, value.values()))  # C loops: no per-item bytecode
    if _SCALARS.issuperset(kinds):
        return True
    return _SCALARS_OR_LIST.issuperset(kinds) and all(
        _SCALARS.issuperset(map(type, item)) for item in value.values() if type(item) is list
    )
