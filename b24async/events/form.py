"""Read a PHP ``http_build_query`` body (``data[FIELDS][ID]=7&auth[domain]=x``) into dicts.

Bitrix24 posts events form-encoded with bracket keys and every scalar a string (events facts
§2.2). A PHP array whose keys are exactly ``0..n-1`` becomes a list, as the portal meant it.
"""

from __future__ import annotations

import functools
import re
import urllib.parse
from typing import Any

__all__ = ["FormError", "parse_form"]

_KEY = re.compile(r"([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")
_MAX_DEPTH = 16


class FormError(ValueError):
    """The body is not a PHP form (bad encoding, bad key, a key used both as value and array)."""


def parse_form(body: bytes) -> dict[str, Any]:
    """The nested params of a form body; strings only, lists for ``0..n-1`` keyed arrays."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise FormError(f"not UTF-8: {error}") from None
    root: dict[str, Any] = {}
    for pair in text.split("&"):
        if not pair:
            continue
        raw_name, _, raw_value = pair.partition("=")
        path = _path(raw_name)
        _put(root, list(path), _unquote(raw_value), path[0])
    result = _finish(root)
    if not isinstance(result, dict):
        raise FormError("the body's top-level keys are a list")
    return result


def _unquote(text: str) -> str:
    if "%" not in text and "+" not in text:
        return text
    try:
        return urllib.parse.unquote_plus(text, errors="strict")
    except UnicodeDecodeError as error:
        raise FormError(f"not UTF-8: {error}") from None


@functools.lru_cache(maxsize=4096)
def _path(raw_name: str) -> tuple[str, ...]:
    """``auth%5Bdomain%5D`` -> ``("auth", "domain")`` (cached: every delivery repeats them)."""
    name = _unquote(raw_name)
    match = _KEY.match(name)
    if match is None:
        raise FormError(f"bad key {name[:40]!r}")
    path = (match.group(1), *_PART.findall(match.group(2)))
    if len(path) > _MAX_DEPTH:
        raise FormError(f"key nested deeper than {_MAX_DEPTH}: {name[:40]!r}")
    return path


def _put(node: dict[str, Any], path: list[str], value: str, name: str) -> None:
    for index, part in enumerate(path):
        last = index == len(path) - 1
        if part == "":
            part = str(sum(1 for key in node if key.isdigit()))  # PHP's [] appends
        if last:
            if isinstance(node.get(part), dict):
                raise FormError(f"key {name[:40]!r} is both a value and an array")
            node[part] = value
            return
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise FormError(f"key {name[:40]!r} is both a value and an array")
        node = child


def _finish(node: dict[str, Any]) -> Any:
    done = {
        key: _finish(value) if isinstance(value, dict) else value for key, value in node.items()
    }
    if done and list(done) == [str(i) for i in range(len(done))]:
        return list(done.values())
    return done
