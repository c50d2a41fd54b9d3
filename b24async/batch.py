"""``batch``: up to 50 commands per HTTP request, for any number of commands.

Sans-I/O planning and decoding live here (:func:`plan_chunks`, :func:`encode_command`,
:func:`decode_batch`); :func:`run_batch` sends the chunks through the client's engine, so the
throttle, retries and token refresh apply to every chunk (RU/EN ``batch.md``; facts file §4).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Union

import attrs

from b24async.codec import int_or_none
from b24async.errors import (
    ApiError,
    DecodeError,
    OperationTimeLimit,
    make_api_error,
    status_for_code,
)
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
    from b24async.engine import Engine
    from b24async.methods.base import Method

__all__ = [
    "MAX_COMMANDS",
    "BatchResult",
    "Command",
    "CommandSpec",
    "ProgressCallback",
    "decode_batch",
    "encode_command",
    "plan_chunks",
    "run_batch",
]

#: The portal executes at most this many commands per ``batch`` request.
MAX_COMMANDS = 50
#: Methods the portal refuses inside ``batch`` (ERROR_BATCH_METHOD_NOT_ALLOWED).
NOT_BATCHABLE = frozenset({"batch", "upload", "download"})

#: A command as the caller gives it: ``(method, params)``, or a typed request object.
CommandSpec = Union[tuple[str, Mapping[str, Any] | None], "Method[Any]"]
#: Called as ``progress(done, total)`` as commands complete.
ProgressCallback = Callable[[int, int], None]

_NONE: frozenset[str] = frozenset()
_REFERENCE = re.compile(r"\$(result|next|total|time|error)\[([^\]]*)\]((?:\[[^\]]*\])*)")


@attrs.frozen
class Command:
    """One command of a batch: its name, REST method, encoded params, and typed request.

    ``references`` names the commands this one refers to with ``$result[name]`` and kin.
    """

    name: str
    method: str
    params: Mapping[str, Any]
    request: Method[Any] | None = None
    references: frozenset[str] = attrs.field(init=False, eq=False, repr=False)
    query: str = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        # Encode once; references survive the encoding readable ($, [ and ] are kept).
        query = build_query(self.params)
        refs = frozenset(m.group(2) for m in _REFERENCE.finditer(query)) if "$" in query else _NONE
        object.__setattr__(self, "query", query)
        object.__setattr__(self, "references", refs)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


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
    for command in out:
        unknown = command.references - names
        if unknown:
            raise ValueError(f"command {command.name!r} refers to unknown {sorted(unknown)}")
    return out


def plan_chunks(commands: Sequence[Command], size: int = MAX_COMMANDS) -> list[list[Command]]:
    """Split commands into requests of at most ``size``, keeping order and references together.

    Commands that refer to each other (``$result[name]``) form a group that must travel in one
    request; a group larger than ``size`` cannot and raises ``ValueError``.
    """
    if not any(c.references for c in commands):  # the common case: plain slices
        return [list(commands[i : i + size]) for i in range(0, len(commands), size)]
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
    chunks: list[list[int]] = []
    for members in sorted(groups.values(), key=lambda m: m[0]):
        if len(members) > size:
            names = ", ".join(commands[i].name for i in members[:5])
            raise ValueError(
                f"{len(members)} commands refer to each other ({names}, ...): they must travel in "
                f"one batch request, which carries at most {size} commands"
            )
        if not chunks or len(chunks[-1]) + len(members) > size:
            chunks.append([])
        chunks[-1].extend(members)
    return [[commands[i] for i in sorted(chunk)] for chunk in chunks]


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


def _as_map(value: Any, names: Sequence[str]) -> dict[str, Any]:
    # PHP serializes an empty map as [] and a map keyed 0..n-1 as a JSON array.
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)} if value else {}
    return {}


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
    names = [c.name for c in chunk]
    results = _as_map(body.get("result"), names)
    errors = _as_map(body.get("result_error"), names)
    totals = _as_map(body.get("result_total"), names)
    nexts = _as_map(body.get("result_next"), names)
    times = _as_map(body.get("result_time"), names)
    responses: dict[str, Response] = {}
    failed: dict[str, ApiError] = {}
    skipped: list[str] = []
    for command in chunk:
        name = command.name
        if name in errors:
            err = (
                errors[name]
                if isinstance(errors[name], Mapping)
                else {"error": "", "error_description": str(errors[name])}
            )
            code = str(err.get("error") or "")
            failed[name] = make_api_error(
                code,
                str(err.get("error_description") or ""),
                status=status_for_code(code),
                method=command.method,
            )
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
    return ChunkOutcome(responses, failed, tuple(skipped))


def command_timings(
    outcome: ChunkOutcome, chunk: Sequence[Command]
) -> list[tuple[str, Timing | None]]:
    """One (method, time block) per command, for the throttle's operating budgets."""
    return [
        (c.method, outcome.responses[c.name].time if c.name in outcome.responses else None)
        for c in chunk
    ]


class BatchResult:
    """The outcome of :meth:`Bitrix24.batch`, per command name.

    ``res[name]`` returns that command's result (typed, for typed requests) or raises its
    :class:`ApiError`; ``res.errors`` maps failed names to their errors; ``res.skipped`` lists
    names that ``halt=True`` kept from running; ``res.timings``, ``res.totals`` and
    ``res.nexts`` give each command's ``time`` block and list paging data. For list input the
    names are ``"0"``, ``"1"``, ... and ``res[0]`` works too.
    """

    def __init__(
        self,
        commands: Sequence[Command],
        responses: Mapping[str, Response],
        errors: Mapping[str, ApiError],
        skipped: Sequence[str],
    ) -> None:
        self._commands = {c.name: c for c in commands}
        self.responses: Mapping[str, Response] = dict(responses)
        self.errors: Mapping[str, ApiError] = dict(errors)
        self.skipped: tuple[str, ...] = tuple(skipped)

    def __getitem__(self, name: str | int) -> Any:
        key = str(name)
        if key in self.errors:
            raise self.errors[key]
        if key in self.responses:
            command = self._commands[key]
            result = self.responses[key].result
            return command.request.parse(result) if command.request is not None else result
        if key in self.skipped:
            raise KeyError(f"command {key!r} did not run: an earlier command failed and halt=True")
        raise KeyError(key)

    def __contains__(self, name: object) -> bool:
        return str(name) in self._commands

    def __iter__(self) -> Iterator[str]:
        return iter(self._commands)

    def __len__(self) -> int:
        return len(self._commands)

    @property
    def ok(self) -> bool:
        """True when every command ran and succeeded."""
        return not self.errors and not self.skipped

    @property
    def timings(self) -> dict[str, Timing]:
        """Each successful command's ``time`` block."""
        return {n: r.time for n, r in self.responses.items() if r.time is not None}

    @property
    def totals(self) -> dict[str, int]:
        """List commands: ``total`` per command."""
        return {n: r.total for n, r in self.responses.items() if r.total is not None}

    @property
    def nexts(self) -> dict[str, int]:
        """List commands with more pages: the next ``start`` per command."""
        return {n: r.next for n, r in self.responses.items() if r.next is not None}

    def results(self) -> dict[str, Any]:
        """Every successful command's (typed) result, by name."""
        return {name: self[name] for name in self._commands if name in self.responses}

    def raise_for_errors(self) -> None:
        """Raise the first command's error, if any failed."""
        for name in self._commands:
            if name in self.errors:
                raise self.errors[name]

    def __repr__(self) -> str:
        return (
            f"BatchResult({len(self.responses)} ok, {len(self.errors)} failed, "
            f"{len(self.skipped)} skipped)"
        )


def resolve_references(
    params: Any, responses: Mapping[str, Response], errors: Mapping[str, ApiError]
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
            root = {"error": err.code, "error_description": err.description} if err else None
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


async def run_batch(
    engine: Engine,
    commands: Sequence[Command],
    *,
    halt: bool,
    progress: ProgressCallback | None = None,
) -> BatchResult:
    """Send ``commands`` in as few ``batch`` requests as the portal allows.

    Chunks go concurrently under the throttle (sequentially with ``halt=True``, so that a failure
    stops the rest). Commands the portal blocked for their operating budget
    (``OPERATION_TIME_LIMIT`` inside the batch) did not run: they are held and re-sent, with
    references to commands that already ran resolved client-side.
    """
    responses: dict[str, Response] = {}
    errors: dict[str, ApiError] = {}
    skipped: list[str] = []
    total = len(commands)
    done = 0

    def report(count: int) -> None:
        nonlocal done
        done += count
        if progress is not None and count:
            progress(done, total)

    async def run_chunk(chunk: Sequence[Command]) -> bool:
        """Run one chunk to completion (re-sending blocked commands); False if halted."""
        pending = list(chunk)
        attempts = 0
        while pending:
            outcome = await send_chunk(engine, pending, halt)
            responses.update(outcome.responses)
            blocked = [
                c for c in pending if isinstance(outcome.errors.get(c.name), OperationTimeLimit)
            ]
            for name, err in outcome.errors.items():
                if not isinstance(err, OperationTimeLimit):
                    errors[name] = err
            report(len(outcome.responses) + len(outcome.errors) - len(blocked))
            attempts += 1
            if not blocked or attempts >= engine.retry.limit_attempts:
                errors.update({c.name: outcome.errors[c.name] for c in blocked} if blocked else {})
                if halt and (outcome.errors or outcome.skipped):
                    skipped.extend(outcome.skipped)
                    return False
                return True
            engine.counters.operation_limit_hits += len(blocked)
            for command in {c.method for c in blocked}:
                engine.throttle.on_operation_limit(command)
            retry_names = {c.name for c in blocked} | (set(outcome.skipped) if halt else set())
            pending = [
                attrs.evolve(c, params=resolve_references(c.params, responses, errors))
                for c in chunk
                if c.name in retry_names
            ]
            engine.counters.retries += 1
        return True

    chunks = plan_chunks(commands)
    if halt:
        for i, chunk in enumerate(chunks):
            if not await run_chunk(chunk):
                skipped.extend(c.name for later in chunks[i + 1 :] for c in later)
                break
    else:
        await asyncio.gather(*(run_chunk(chunk) for chunk in chunks))
    return BatchResult(commands, responses, errors, skipped)


async def send_chunk(engine: Engine, chunk: Sequence[Command], halt: bool) -> ChunkOutcome:
    def decode(raw: RawResponse) -> tuple[ChunkOutcome, list[tuple[str, Timing | None]]]:
        outcome = decode_batch(raw, chunk)
        return outcome, command_timings(outcome, chunk)

    engine.counters.batches += 1
    return await engine.send(
        "batch",
        batch_params(chunk, halt),
        commands=[c.method for c in chunk],
        idempotent=all(engine.retry.idempotent(c.method) for c in chunk),
        decode=decode,
    )
