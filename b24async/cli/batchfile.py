"""Reading the commands of ``b24async batch FILE``: JSON or JSON Lines, any number of commands.

Accepted shapes (``method`` is a REST method name, ``params`` an object, optional):

* a JSON array of commands, named ``"0"``, ``"1"``, ... in order;
* a JSON object mapping names to commands (names can be referred to with ``$result[name]``);
* JSON Lines: one command per line (blank lines and lines starting with ``#`` are skipped).

A command is ``{"method": "user.get", "params": {...}}`` (add ``"name": "me"`` to name it in an
array or in JSON Lines), ``["user.get", {...}]``, or just ``"user.current"``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from b24async.cli.exits import UsageError

__all__ = ["Commands", "parse_commands"]

Commands = dict[str, tuple[str, dict[str, Any]]]
"""Command name -> (method, params), in file order: what ``Bitrix24.batch`` takes."""


def parse_commands(text: str, *, source: str = "input") -> Commands:
    """Parse a batch file's text; ``UsageError`` names the line or item that is wrong."""
    stripped = text.strip()
    if not stripped:
        raise UsageError(f"{source}: no commands (the file is empty)")
    try:
        document = json.loads(stripped)
    except json.JSONDecodeError as error:
        # "Extra data": a complete JSON value is followed by more, i.e. JSON Lines; so is a
        # file with "#" comment lines, which no JSON document has.
        comments = any(line.lstrip().startswith("#") for line in stripped.splitlines())
        if error.msg == "Extra data" or comments:
            return _parse_lines(stripped, source)
        raise UsageError(f"{source}: invalid JSON: {error}") from None
    if isinstance(document, list):
        return _named([(None, item, f"{source}: item {i}") for i, item in enumerate(document)])
    if isinstance(document, Mapping):
        if isinstance(document.get("method"), str):  # a single command object
            return _named([(None, document, source)])
        return _named([(str(k), v, f"{source}: command {k!r}") for k, v in document.items()])
    if isinstance(document, str):
        return _named([(None, document, source)])
    raise UsageError(f"{source}: expected a list or an object of commands, got {document!r}")


def _parse_lines(text: str, source: str) -> Commands:
    items: list[tuple[str | None, Any, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{source}: line {number}"
        try:
            items.append((None, json.loads(line), where))
        except json.JSONDecodeError as error:
            raise UsageError(f"{where}: invalid JSON: {error.msg}") from None
    if not items:
        raise UsageError(f"{source}: no commands")
    return _named(items)


def _named(items: list[tuple[str | None, Any, str]]) -> Commands:
    commands: Commands = {}
    for index, (given, raw, where) in enumerate(items):
        name, method, params = _command(raw, where)
        name = given if given is not None else (name if name is not None else str(index))
        if name in commands:
            raise UsageError(f"{where}: duplicate command name {name!r}")
        commands[name] = (method, params)
    return commands


def _command(raw: Any, where: str) -> tuple[str | None, str, dict[str, Any]]:
    """(name or None, method, params) from one command in any accepted shape."""
    name: Any = None
    method: Any
    params: Any
    if isinstance(raw, str):
        method, params = raw, {}
    elif isinstance(raw, list) and len(raw) in (1, 2):
        method, params = raw[0], raw[1] if len(raw) == 2 else {}
    elif isinstance(raw, Mapping):
        unknown = set(raw) - {"method", "params", "name"}
        if unknown:
            raise UsageError(f"{where}: unknown keys {sorted(unknown)} (use method, params, name)")
        method, params, name = raw.get("method"), raw.get("params", {}), raw.get("name")
    else:
        raise UsageError(
            f"{where}: a command is {{'method': ..., 'params': {{...}}}}, "
            f"['method', {{...}}] or 'method', got {raw!r}"
        )
    if not isinstance(method, str) or not method.strip():
        raise UsageError(f"{where}: 'method' must be a non-empty string, got {method!r}")
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise UsageError(f"{where}: 'params' must be an object, got {params!r}")
    if name is not None and (not isinstance(name, (str, int)) or isinstance(name, bool)):
        raise UsageError(f"{where}: 'name' must be a string, got {name!r}")
    return (None if name is None else str(name)), method.strip(), dict(params)
