"""The ``batch`` codec, without I/O: plan, encode, decode, references, query survival.

A ``batch`` request carries up to 50 commands, each a ``method?query`` string that the portal
parses with PHP's ``parse_str`` and then scans for ``$result[name]...`` references (RU/EN
``batch.md``; facts file §4; CORE ``CRestUtil::ParseBatchQuery``). Everything here is pure:
:mod:`b24async.batch` sends what this module plans.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Union

import attrs

from b24async.codec import int_or_none
from b24async.errors import ApiError, B24Error, DecodeError, make_api_error, status_for_code
from b24async.operating import BATCH_KEY, in_batch
from b24async.protocol import (
    RawResponse,
    Response,
    Timing,
    build_query,
    decode_envelope,
    encode_params,
    error_from_body,
    normalize_method,
)

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
# A reference as the client writes it (and plans by): $result[name] plus an optional path.
_REFERENCE = re.compile(r"\$(result|next|total|time|error)\[([^\]]*)\]((?:\[[^\]]*\])*)")
# What CORE's substitution would touch (case-insensitive, anything up to the next blank, as long
# as a [..] follows): any such text in a value is rewritten inside a batch.
_REFERENCE_LIKE = re.compile(r"\$(?:result|next|total|time|error)\S*\[[^\]]+\]", re.IGNORECASE)
# Characters PHP's parse_str treats specially in a variable name; a top-level key holding one is
# renamed ("a.b" -> "a_b") or split into nesting ("a[b]") inside a batch query.
_TOP_KEY_SPECIAL = frozenset(" .[]\x00")
_INNER_KEY_SPECIAL = frozenset("[]\x00")


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

    @classmethod
    def _derived(
        cls,
        name: str,
        method: str,
        params: Mapping[str, Any],
        query: str,
        like: Command,
    ) -> Command:
        """A command whose ``query`` is already known and whose params differ from ``like``'s
        by nothing :attr:`references` and :attr:`alone` depend on (see :func:`page_commands`)."""
        command = object.__new__(cls)
        set_ = object.__setattr__
        set_(command, "name", name)
        set_(command, "method", method)
        set_(command, "params", params)
        set_(command, "request", None)
        set_(command, "query", query)
        set_(command, "references", like.references)
        set_(command, "alone", like.alone)
        return command


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
    derived = Command._derived
    return [
        derived(f"p{start}", method, {**params, "start": start}, f"{head}{int(start)}", base)
        for start in starts
    ]


def _value_problem(value: Any, references: bool) -> str | None:
    if value is None:
        return "a null value (a query string has no null)"
    if isinstance(value, Mapping):
        if not value:
            return "an empty object (a query string has no empty array)"
        for key, item in value.items():
            text = str(key)
            if not text.strip() or any(c in _INNER_KEY_SPECIAL for c in text):
                return f"the key {text!r} (PHP's parse_str would read it differently)"
            if (problem := _value_problem(item, references)) is not None:
                return problem
        return None
    if isinstance(value, list):
        if not value:
            return "an empty list (a query string has no empty array)"
        for item in value:
            if (problem := _value_problem(item, references)) is not None:
                return problem
        return None
    if isinstance(value, str):
        text = _REFERENCE.sub("", value) if references else value
        if "$" in text and _REFERENCE_LIKE.search(text):
            return f"the value {value[:40]!r} (the portal would read it as a batch reference)"
        return None
    if isinstance(value, (int, float, bool)):
        return None
    return f"a {type(value).__name__} value"


def query_problem(params: Mapping[str, Any], *, references: bool = False) -> str | None:
    """Why ``params`` would not arrive unchanged inside a ``batch`` query, or None if they would.

    Inside a batch each command's params travel as a PHP query string that the portal parses
    with ``parse_str`` and then scans for references, so these change meaning on the way (a
    lone call, sent as JSON, keeps them): nulls and empty arrays (no query form), top-level keys
    with a dot, space or bracket (``parse_str`` renames or nests them), nested keys that are
    blank or hold brackets, and string values that CORE would substitute (``$result[..]``,
    ``$next[``, ``$total[``, ``$time[``, ``$error[``, any case). With ``references=True`` the
    well-formed references of an explicit :meth:`~b24async.Bitrix24.batch` are meant as such
    and allowed.
    """
    for key, value in params.items():
        text = str(key)
        if not text or text[0] == " " or any(c in _TOP_KEY_SPECIAL for c in text):
            return f"the key {text!r} (PHP's parse_str would rename it inside a batch)"
        if (problem := _value_problem(value, references)) is not None:
            return problem
    return None


def survives_query_encoding(params: Mapping[str, Any]) -> bool:
    """Whether a lone call's ``params`` mean the same inside a ``batch`` (:func:`query_problem`).

    The coalescer sends a call that fails this test alone, as a plain call.
    """
    return query_problem(params) is None


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


@attrs.frozen
class ChunkOutcome:
    """What one ``batch`` request returned, per command name."""

    responses: Mapping[str, Response]
    errors: Mapping[str, ApiError]
    skipped: tuple[str, ...]
    time: Timing | None = None  # the batch request's own ``time`` block


def as_map(value: Any) -> dict[str, Any]:
    """A ``result_*`` map of a batch answer keyed by command name (``{}`` if not a map)."""
    # PHP serializes an empty map as [] and a map keyed 0..n-1 as a JSON array.
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)} if value else {}
    return {}


def command_error(command: Command, value: Any) -> ApiError:
    """The :class:`ApiError` of a command named in the answer's ``result_error`` map."""
    err = value if isinstance(value, Mapping) else {"error": "", "error_description": str(value)}
    code = str(err.get("error") or "")
    return make_api_error(
        code,
        str(err.get("error_description") or ""),
        status=status_for_code(code),
        method=command.method,
    )


def decode_batch(raw: RawResponse, chunk: Sequence[Command]) -> ChunkOutcome:
    """Decode one ``batch`` answer; raise if the request as a whole failed (401, 503, ...)."""
    payload = decode_envelope(raw, "batch")
    error = error_from_body(payload, raw.status, "batch")
    if error is not None:
        raise error
    body = payload.get("result")
    if not isinstance(body, Mapping):
        raise DecodeError(
            "batch answer has no result map", raw=raw.body, status=raw.status, method="batch"
        )
    results = as_map(body.get("result"))
    errors = as_map(body.get("result_error"))
    totals = as_map(body.get("result_total"))
    nexts = as_map(body.get("result_next"))
    times = as_map(body.get("result_time"))
    responses: dict[str, Response] = {}
    failed: dict[str, ApiError] = {}
    skipped: list[str] = []
    for command in chunk:
        name = command.name
        if name in errors:
            failed[name] = command_error(command, errors[name])
        elif name in results:
            responses[name] = Response(
                method=command.method,
                result=results[name],
                time=Timing.from_wire(times.get(name)),
                total=int_or_none(totals.get(name)),
                next=int_or_none(nexts.get(name)),
            )
        else:
            skipped.append(name)
    return ChunkOutcome(responses, failed, tuple(skipped), Timing.from_wire(payload.get("time")))


def command_timings(
    outcome: ChunkOutcome, chunk: Sequence[Command]
) -> list[tuple[str, Timing | None]]:
    """One (key, time block) per command, then the batch's own, for the operating budgets.

    Commands are named ``in_batch(method)``: the portal bills a method's calls inside a batch
    (apart from direct calls, for webhooks) besides the ``batch`` key itself.
    """
    timings: list[tuple[str, Timing | None]] = [
        (
            in_batch(c.method),
            outcome.responses[c.name].time if c.name in outcome.responses else None,
        )
        for c in chunk
    ]
    timings.append((BATCH_KEY, outcome.time))
    return timings


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
