"""The ``batch`` codec, without I/O: commands, plan, encode, references; the one import path.

A ``batch`` request carries up to 50 commands, each a ``method?query`` string that the portal
parses with PHP's ``parse_str`` and then scans for ``$result[name]...`` references (RU/EN
``batch.md``; facts file §4; CORE ``CRestUtil::ParseBatchQuery``). Everything here is pure:
:mod:`b24async.batch` sends what this module plans. The rules a command's params must meet to
ride in a batch live in :mod:`b24async.batchquery`, the decoding of an answer in
:mod:`b24async.batchanswer`; both are re-exported here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Union

import attrs

from b24async.batchanswer import (
    ChunkOutcome,
    as_map,
    command_error,
    command_timings,
    decode_batch,
    decode_results,
)
from b24async.batchquery import _REFERENCE, survives_query_encoding
from b24async.batchquery import query_problem as query_problem  # public here before the split
from b24async.errors import ApiError, B24Error
from b24async.protocol import Response, build_query, encode_params, normalize_method

if TYPE_CHECKING:
    from b24async.methods.base import Method

__all__ = [
    "MAX_COMMANDS",
    "NOT_BATCHABLE",
    "ChunkOutcome",
    "Command",
    "CommandSpec",
    "as_map",
    "batch_params",
    "command_error",
    "command_timings",
    "decode_batch",
    "decode_results",
    "encode_command",
    "make_command",
    "normalize_commands",
    "page_commands",
    "plan_chunks",
    "resolve_references",
    "survives_query_encoding",
]

#: The portal executes at most this many commands per ``batch`` request.
MAX_COMMANDS = 50
#: Methods the portal refuses inside ``batch`` (ERROR_BATCH_METHOD_NOT_ALLOWED).
NOT_BATCHABLE = frozenset({"batch", "upload", "download"})

#: A command as the caller gives it: ``(method, params)``, or a typed request object.
CommandSpec = Union[tuple[str, Mapping[str, Any] | None], "Method[Any]"]
_NONE: frozenset[str] = frozenset()


@attrs.frozen
class Command:
    """One command of a batch: its name, REST method, encoded params, and typed request.

    ``references`` names the commands this one refers to with ``$result[name]`` and kin;
    ``alone`` says why its params would change inside a batch query (it is then sent alone, as a
    plain call), or is None.
    """

    name: str
    method: str
    params: Mapping[str, Any]
    request: Method[Any] | None = None
    references: frozenset[str] = attrs.field(init=False, eq=False, repr=False)
    query: str = attrs.field(init=False, eq=False, repr=False)
    alone: str | None = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        # Encode once; references survive the encoding readable ($, [ and ] are kept).
        query = build_query(self.params)
        refs = frozenset(m.group(2) for m in _REFERENCE.finditer(query)) if "$" in query else _NONE
        object.__setattr__(self, "query", query)
        object.__setattr__(self, "references", refs)
        object.__setattr__(self, "alone", query_problem(self.params, references=True))


def page_commands(method: str, params: Mapping[str, Any], starts: Iterable[int]) -> list[Command]:
    """One command per page of ``method`` at each offset in ``starts``, named ``p{start}``.

    Equal, field for field, to ``Command(f"p{start}", method, {**params, "start": start})``
    (``method`` normalized, ``params`` encoded, without ``start``), but the params are encoded
    and checked once, not once per page: the page's query is theirs and ``&start=N`` (the key
    comes last in that dict; a number needs no escaping, refers to nothing and survives a
    batch query).
    """
    if "start" in params:
        raise ValueError("page_commands sets start itself: do not pass it")
    base = Command("p", method, params)
    head = f"{base.query}&start=" if base.query else "start="
    # Each page's command is built field by field, without __attrs_post_init__: its query is
    # known, and its params differ from base's by nothing ``references`` and ``alone`` read.
    new, set_ = object.__new__, object.__setattr__
    references, alone = base.references, base.alone
    commands = []
    for start in starts:
        command = new(Command)
        set_(command, "name", f"p{start}")
        set_(command, "method", method)
        set_(command, "params", {**params, "start": start})
        set_(command, "request", None)
        set_(command, "query", f"{head}{int(start)}")
        set_(command, "references", references)
        set_(command, "alone", alone)
        commands.append(command)
    return commands


def make_command(name: str, spec: CommandSpec) -> Command:
    """Validate and encode one command (``ValueError``/``TypeError`` before any request)."""
    if isinstance(spec, tuple):
        if len(spec) != 2:
            raise ValueError(f"command {name!r}: expected (method, params), got {len(spec)} items")
        method, params = spec
        request = None
    elif hasattr(spec, "api_method") and hasattr(spec, "to_params"):
        method, params, request = spec.api_method, spec.to_params(), spec
    else:
        raise TypeError(f"command {name!r}: expected (method, params) or a typed request")
    normalized = normalize_method(method)
    if normalized in NOT_BATCHABLE:
        raise ValueError(f"command {name!r}: {normalized!r} cannot run inside batch")
    return Command(name, normalized, encode_params(params), request)


def normalize_commands(
    commands: Mapping[str, CommandSpec] | Sequence[CommandSpec],
) -> list[Command]:
    """Turn the caller's commands into :class:`Command` values (list input: names "0", "1", ...)."""
    if isinstance(commands, Mapping):
        items: Iterable[tuple[str, CommandSpec]] = commands.items()
    elif isinstance(commands, (list, tuple)):
        items = ((str(i), spec) for i, spec in enumerate(commands))
    else:
        raise TypeError("commands must be a mapping of name -> command, or a list of commands")
    out: list[Command] = []
    for name, spec in items:
        if not isinstance(name, str) or not name or any(c in name for c in "[]&=?"):
            raise ValueError(f"invalid command name {name!r}")
        out.append(make_command(name, spec))
    names = {c.name for c in out}
    referred = {ref for c in out for ref in c.references}
    for command in out:
        unknown = command.references - names
        if unknown:
            raise ValueError(f"command {command.name!r} refers to unknown {sorted(unknown)}")
        if command.alone is not None and (command.references or command.name in referred):
            # It cannot ride in a batch unchanged, and alone its references cannot resolve.
            raise ValueError(
                f"command {command.name!r} has {command.alone}, so it must be sent alone, "
                "but it is linked to other commands by $result references"
            )
    return out


def plan_chunks(commands: Sequence[Command], size: int = MAX_COMMANDS) -> list[list[Command]]:
    """Split commands into requests of at most ``size``, keeping order and references together.

    Commands that refer to each other (``$result[name]``) form a group that must travel in one
    request; a group larger than ``size`` cannot and raises ``ValueError``. A command whose
    params would change inside a batch query (:attr:`Command.alone`) gets a chunk of its own,
    sent as a plain call.
    """
    if not any(c.references for c in commands):  # the common case: slices, in order
        chunks: list[list[Command]] = []
        run: list[Command] = []
        for command in commands:
            if command.alone is not None:
                chunks.extend(run[i : i + size] for i in range(0, len(run), size))
                chunks.append([command])
                run = []
            else:
                run.append(command)
        chunks.extend(run[i : i + size] for i in range(0, len(run), size))
        return chunks
    # Commands sent alone have no references (normalize_commands makes sure): they go last.
    alone = [[c] for c in commands if c.alone is not None]
    commands = [c for c in commands if c.alone is None]
    index = {c.name: i for i, c in enumerate(commands)}
    parent = list(range(len(commands)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, command in enumerate(commands):
        for ref in command.references:
            parent[find(index[ref])] = find(i)
    groups: dict[int, list[int]] = {}
    for i in range(len(commands)):
        groups.setdefault(find(i), []).append(i)
    planned: list[list[int]] = []
    for members in sorted(groups.values(), key=lambda m: m[0]):
        if len(members) > size:
            names = ", ".join(commands[i].name for i in members[:5])
            raise ValueError(
                f"{len(members)} commands refer to each other ({names}, ...): they must travel in "
                f"one batch request, which carries at most {size} commands"
            )
        if not planned or len(planned[-1]) + len(members) > size:
            planned.append([])
        planned[-1].extend(members)
    return [[commands[i] for i in sorted(chunk)] for chunk in planned] + alone


def encode_command(command: Command) -> str:
    """The ``cmd`` value: ``method?query`` in PHP ``http_build_query`` form."""
    return f"{command.method}?{command.query}" if command.query else command.method


def batch_params(chunk: Sequence[Command], halt: bool) -> dict[str, Any]:
    """The params of one ``batch`` request."""
    return {"halt": 1 if halt else 0, "cmd": {c.name: encode_command(c) for c in chunk}}


def resolve_references(
    params: Any, responses: Mapping[str, Response], errors: Mapping[str, B24Error]
) -> Any:
    """Substitute ``$result[...]`` references client-side, as the portal would.

    Used when a command must be re-sent without the commands it refers to (they already ran).
    A whole-value reference inserts the raw value; inside a longer string only scalars are
    substituted; a missing key stops the walk at the last value reached.
    """
    if isinstance(params, Mapping):
        return {k: resolve_references(v, responses, errors) for k, v in params.items()}
    if isinstance(params, list):
        return [resolve_references(v, responses, errors) for v in params]
    if not isinstance(params, str) or "$" not in params:
        return params

    def lookup(match: re.Match[str]) -> Any:
        kind, name, path = match.group(1), match.group(2), match.group(3)
        response = responses.get(name)
        root: Any
        if kind == "result":
            root = response.result if response else None
        elif kind == "next":
            root = response.next if response else None
        elif kind == "total":
            root = response.total if response else None
        elif kind == "error":
            err = errors.get(name)
            root = (
                {"error": err.code, "error_description": err.description}
                if isinstance(err, ApiError)
                else None
            )
        else:
            root = attrs.asdict(response.time) if response and response.time else None
        for key in re.findall(r"\[([^\]]*)\]", path):
            if isinstance(root, Mapping) and key in root:
                root = root[key]
            elif isinstance(root, list) and key.isdigit() and int(key) < len(root):
                root = root[int(key)]
            else:
                break
        return root

    whole = _REFERENCE.fullmatch(params)
    if whole:
        return lookup(whole)
    return _REFERENCE.sub(
        lambda m: str(v) if isinstance(v := lookup(m), (str, int, float)) else m.group(0), params
    )
