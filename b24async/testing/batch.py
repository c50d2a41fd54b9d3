"""The ``batch`` method: up to 50 commands in one request, with references between them.

Follows facts §4 and CORE ``CRestProvider::methodsBatch`` / ``CRestUtil::ParseBatchQuery``:

* params are read case-insensitively (``cmd``/``CMD``, ``halt``/``HALT``); ``halt`` is a PHP bool;
* ``cmd`` is a map or a list of ``"method?query"`` strings, run sequentially in order; entries
  that are not strings are skipped; every entry past the 50th gets ``ERROR_BATCH_LENGTH_EXCEEDED``;
* ``batch``, ``upload`` and ``download`` inside a batch get ``ERROR_BATCH_METHOD_NOT_ALLOWED``;
* with ``halt`` the batch stops after the first failing command;
* each query is ``parse_str``-ed, then ``$result[name][path]`` references (also ``$next``,
  ``$total``, ``$time``, ``$error``) are substituted into the values.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import attrs

from b24async.testing.commands import CommandDone, Outcome
from b24async.testing.jsontext import Pieces, PrintedMap, json_bytes, splice
from b24async.testing.methods_common import MethodResult
from b24async.testing.phpquery import parse_qs_php, php_bool, php_key, php_numeric_string
from b24async.testing.replies import BATCH_LENGTH_EXCEEDED, BATCH_METHOD_NOT_ALLOWED

__all__ = [
    "MAX_COMMANDS",
    "BatchRun",
    "result_pieces",
    "run_batch",
    "split_command",
    "substitute",
]

MAX_COMMANDS = 50
NOT_IN_BATCH = frozenset({"batch", "upload", "download"})

# CORE's pattern: the reference runs to the next whitespace, and its path is every [..] in it.
_REFERENCE = re.compile(r"\$(result|next|total|time|error)(\S*)", re.IGNORECASE)
_PATH_PART = re.compile(r"\[([^\]]+)\]")

Execute = Callable[[str, dict[str, Any]], Awaitable[Outcome]]


def result_pieces(done: MethodResult) -> Pieces:
    """A command's ``result`` printed: the handler's own printing when it has one."""
    return done.printed if done.printed is not None else [json_bytes(done.result)]


@attrs.frozen
class BatchRun:
    """The ``result`` value of a batch reply plus the processing time its commands spent."""

    result: dict[str, Any]
    processing: float
    printed: dict[str, Pieces] = attrs.field(factory=dict, eq=False, repr=False)
    """Per command key, ``result["result"][key]`` as the handler printed it (if it did)."""

    def pieces(self) -> Pieces:
        """``result`` printed as :func:`~b24async.testing.jsontext.json_text` prints it.

        Each command's result is printed alone (or taken as its handler printed it) and the
        parts are spliced: no second walk over a big answer, no copy until the final join.
        """
        parts: list[tuple[str, Pieces]] = []
        for name, value in self.result.items():
            if name == "result":
                printed = self.printed
                members = (
                    (key, printed[key] if key in printed else [json_bytes(item)])
                    for key, item in value.items()
                )
                parts.append((name, splice(members)))
            else:
                parts.append((name, [json_bytes(value)]))
        return splice(parts)


def split_command(call: str) -> tuple[str, str]:
    """``"user.get?ID=1#x"`` -> ``("user.get", "ID=1")``, as PHP's ``parse_url`` splits it."""
    call = call.split("#", 1)[0]
    method, _, query = call.partition("?")
    return method, query


def _isset(container: Any, key: str) -> tuple[bool, Any]:
    """PHP's ``isset($container[$key])`` and the value found."""
    if isinstance(container, Mapping):
        value = container.get(key)
        if value is None:
            normalized = php_key(key)
            value = container.get(normalized) if isinstance(normalized, int) else None
        return value is not None, value
    if isinstance(container, list | str):
        index = php_key(key)
        if isinstance(index, int) and -len(container) <= index < len(container):
            if isinstance(container, str) and index < 0:
                index += len(container)
            value = container[index]
            return value is not None, value
    return False, None


def _resolve(maps: Mapping[str, Any], name: str, path: list[str]) -> Any:
    # PHP reads $arResult[$name] with the name as written, so only lower case resolves.
    value: Any = maps.get(name)
    for key in path:
        found, inner = _isset(value, key)
        if not found:
            break  # a missing key stops the walk: the last value reached is used
        value = inner
    return _plain(value)


def _plain(value: Any) -> Any:
    """A command result kept printed (:class:`PrintedMap`) as the ``dict`` it stands for.

    A reference inserts what it reaches raw: a whole result, or the map of all results when
    its first key is missing. The next handler gets dicts, as when results were plain.
    """
    if isinstance(value, PrintedMap):
        return dict(value)
    if type(value) is dict and any(isinstance(item, PrintedMap) for item in value.values()):
        return {key: _plain(item) for key, item in value.items()}
    return value


def _substitute_value(query: str, maps: Mapping[str, Any]) -> Any:
    if "$" not in query:
        return query  # no reference can match (most values)
    replaced: Any = query
    for match in _REFERENCE.finditer(query):
        path = _PATH_PART.findall(match.group(2))
        if not path:
            continue
        value = _resolve(maps, match.group(1), path)
        if match.group(0) == replaced:
            replaced = value  # the whole value is one reference: insert it raw, arrays included
            continue
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = php_numeric_string(value)
        if isinstance(value, str) and isinstance(replaced, str):
            replaced = replaced.replace(match.group(0), value)
    return replaced


def substitute(params: Any, maps: Mapping[str, Any]) -> Any:
    """Replace references in every string value of parsed ``params`` (keys are left alone)."""
    if isinstance(params, Mapping):
        return {key: substitute(value, maps) for key, value in params.items()}
    if isinstance(params, list):
        return [substitute(value, maps) for value in params]
    if isinstance(params, str):
        return _substitute_value(params, maps)
    return params


def _entries(cmd: Any) -> list[tuple[str, Any]]:
    if isinstance(cmd, Mapping):
        return [(str(key), call) for key, call in cmd.items()]
    if isinstance(cmd, list):
        return [(str(position), call) for position, call in enumerate(cmd)]
    return []  # PHP's foreach over a scalar runs zero times


async def run_batch(params: Mapping[str, Any], execute: Execute) -> BatchRun:
    """Run a batch request's commands through ``execute(method, params)``."""
    upper = {str(key).upper(): value for key, value in params.items()}
    halt = php_bool(upper.get("HALT"))
    maps: dict[str, dict[str, Any]] = {
        "result": {},
        "next": {},
        "total": {},
        "time": {},
        "error": {},
    }
    processing = 0.0
    printed: dict[str, Pieces] = {}
    for position, (key, call) in enumerate(_entries(upper.get("CMD"))):
        outcome: Outcome
        if position < MAX_COMMANDS:
            if not isinstance(call, str):
                continue
            method, query = split_command(call)
            method = method.lower()
            if method in NOT_IN_BATCH:
                outcome = BATCH_METHOD_NOT_ALLOWED
            else:
                arguments = substitute(parse_qs_php(query), maps) if query else {}
                outcome = await execute(method, arguments)
        else:
            outcome = BATCH_LENGTH_EXCEEDED
        if isinstance(outcome, CommandDone):
            maps["result"][key] = outcome.result.result
            if outcome.result.printed is not None:
                printed[key] = outcome.result.printed
            if outcome.result.next is not None:
                maps["next"][key] = outcome.result.next
            if outcome.result.total is not None:
                maps["total"][key] = outcome.result.total
            maps["time"][key] = outcome.time
            processing += outcome.processing
            continue
        maps["error"][key] = outcome.body()
        if halt:
            break
    result = {
        "result": maps["result"],
        "result_error": maps["error"],
        "result_total": maps["total"],
        "result_next": maps["next"],
        "result_time": maps["time"],
    }
    return BatchRun(result, processing, printed)
