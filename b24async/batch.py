"""``batch``: any number of commands, 50 per HTTP request, one outcome per command.

The codec (:mod:`b24async.batchcodec`) plans the requests; this module sends them through the
client's engine, so the throttle, retries and token refresh apply to every request, and turns
what comes back into a :class:`~b24async.results.BatchResult` whatever happens to single
requests (:mod:`b24async.results` describes the outcome model):

* a request that fails as a whole affects only its own commands;
* after an ambiguous failure (the request left, the answer was lost) its reads and idempotent
  writes are re-planned into a retry request under the retry policy, also when it carried
  non-idempotent writes; those writes are never re-sent and end as ``UNKNOWN``;
* commands the portal blocked for their operating budget (``OPERATION_TIME_LIMIT`` inside the
  batch) did not run: they are held and re-sent, references to commands that already ran
  resolved client-side.

The codec's names stay importable from here (``Command``, ``ChunkOutcome``, ...).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import attrs

from b24async.batchcodec import (
    MAX_COMMANDS,
    NOT_BATCHABLE,
    ChunkOutcome,
    Command,
    CommandSpec,
    batch_params,
    command_timings,
    decode_batch,
    decode_results,
    encode_command,
    make_command,
    normalize_commands,
    plan_chunks,
    resolve_references,
    survives_query_encoding,
)
from b24async.batchstream import Take, TakeText, decode_batch_each, read_batch_each, streams
from b24async.clock import Clock
from b24async.errors import (
    ApiError,
    B24Error,
    ClientClosed,
    DecodeError,
    OperationTimeLimit,
)
from b24async.operating import in_batch
from b24async.plainread import result_text
from b24async.protocol import RawResponse, Response, Timing, decode_response
from b24async.results import BatchAccount, BatchResult, CommandOutcome, Outcome, classify
from b24async.sending import Tries, is_transient

if TYPE_CHECKING:
    from b24async.engine import Decoded, Engine

__all__ = [
    "MAX_COMMANDS",
    "NOT_BATCHABLE",
    "BatchResult",
    "ChunkOutcome",
    "Command",
    "CommandSpec",
    "ProgressCallback",
    "batch_params",
    "decode_batch",
    "encode_command",
    "hold_blocked",
    "make_command",
    "normalize_commands",
    "plan_chunks",
    "resolve_references",
    "run_batch",
    "send_alone",
    "send_chunk",
    "survives_query_encoding",
    "unmentioned",
]

#: Called as ``progress(done, total)`` as commands complete.
ProgressCallback = Callable[[int, int], None]


class _Run:
    """The bookkeeping of one :func:`run_batch`: every command's outcome, recorded once."""

    def __init__(
        self,
        engine: Engine,
        commands: Sequence[Command],
        halt: bool,
        progress: ProgressCallback | None,
        account: BatchAccount | None,
        clock: Clock,
        results_only: bool,
    ) -> None:
        self.engine = engine
        self.results_only = results_only
        self.halt = halt
        self.progress = progress
        self.account = account
        self.clock = clock
        self.total = len(commands)
        self.responses: dict[str, Response] = {}
        self.errors: dict[str, B24Error] = {}
        self.skipped: list[str] = []
        if account is not None:
            account.start([c.name for c in commands])

    # Without an account (a read of the client's own, e.g. a list's pages) no one watches the
    # outcomes as they come: no CommandOutcome is built for them (one per page otherwise).

    def _progress(self) -> None:
        if self.progress is not None:
            self.progress(len(self.responses) + len(self.errors) + len(self.skipped), self.total)

    def succeeded(self, command: Command, response: Response) -> None:
        self.responses[command.name] = response
        if self.account is not None:
            self.account.record(
                CommandOutcome(command.name, command.method, Outcome.SUCCEEDED, response=response)
            )
        if self.progress is not None:
            self._progress()

    def failed(self, command: Command, error: B24Error) -> None:
        self.errors[command.name] = error
        if self.account is not None:
            outcome = CommandOutcome(command.name, command.method, classify(error), error=error)
            self.account.record(outcome)
        self._progress()

    def skip(self, command: Command) -> None:
        self.skipped.append(command.name)
        if self.account is not None:
            self.account.record(CommandOutcome(command.name, command.method, Outcome.SKIPPED))
        self._progress()

    def result(self, commands: Sequence[Command]) -> BatchResult[Any]:
        return BatchResult(commands, self.responses, self.errors, self.skipped)

    # -- one chunk ---------------------------------------------------------------------------

    async def chunk(self, chunk: Sequence[Command]) -> bool:
        """Run one chunk until every command has an outcome; False if ``halt`` stopped here."""
        engine = self.engine
        pending = list(chunk)
        # The chunk's commands share their tries: a retry request carries some of them on, so
        # the retry policy's ``attempts`` bounds each command's tries in all.
        tries = Tries()
        ran_before = False  # an earlier request carrying the pending commands may have run
        limit_hits = 0
        account = self.account
        while pending:
            sent = None if account is None else partial(account.sending, [c.name for c in pending])
            c = pending[0]
            alone = len(pending) == 1 and c.alone is not None
            spent = tries.failures
            try:
                outcome = await (
                    send_alone(engine, c.name, c.method, c.params, on_sent=sent, tries=tries)
                    if alone
                    else send_chunk(
                        engine,
                        pending,
                        self.halt,
                        on_sent=sent,
                        tries=tries,
                        results_only=self.results_only,
                    )
                )
            except B24Error as exc:
                if isinstance(exc, ClientClosed):
                    # The closed client refused this request: it never left. Whether the
                    # commands ran is what their earlier requests say, not the whole batch.
                    exc = ClientClosed.cut_short(ran_before or tries.failures > spent)
                elif is_transient(exc) and tries.failures == spent:
                    tries.failures += 1  # a failure the engine did not count (a token refresh)
                ran_before = ran_before or exc.may_have_applied
                again = self._retry_set(pending, exc, tries)
                for command in pending:
                    if command not in again:
                        self.failed(command, exc)
                if not again:
                    return not self.halt
                engine.counters.retries += 1
                await self.clock.sleep(engine.retry.delay(tries.failures))
                pending = [self._resolved(c) for c in again]
                continue
            blocked = [] if alone else _blocked(pending, outcome)
            limit_hits += 1
            final = not blocked or limit_hits >= engine.retry.limit_attempts
            responses, errors = outcome.responses, outcome.errors
            for command in pending:  # in the order given
                response = responses.get(command.name)
                if response is not None:
                    self.succeeded(command, response)
                elif (error := errors.get(command.name)) is not None and (
                    final or command not in blocked
                ):
                    self.failed(command, error)
            if final:
                return self._settle_rest(pending, outcome)
            hold_blocked(engine, [c.method for c in blocked])
            again_names = {c.name for c in blocked} | (set(outcome.skipped) if self.halt else set())
            pending = [self._resolved(c) for c in pending if c.name in again_names]
            engine.counters.retries += 1
        return True

    def _settle_rest(self, pending: Sequence[Command], outcome: ChunkOutcome) -> bool:
        """Commands the answer left out: skipped by ``halt``, or (without halt) unaccounted."""
        for name in outcome.skipped:
            command = _by_name(pending, name)
            if self.halt:
                self.skip(command)
            else:
                self.failed(command, unmentioned(command.method))
        return not (self.halt and (outcome.errors or outcome.skipped))

    def _retry_set(self, pending: Sequence[Command], exc: B24Error, tries: Tries) -> list[Command]:
        """After the request failed as a whole: the commands to re-send in a retry request.

        Only after an ambiguous failure (:func:`~b24async.sending.is_transient`), only reads
        and idempotent writes, only while their tries last (the engine counted its own into
        ``tries``: an all-idempotent request has spent them all when it raises), never with
        ``halt`` (the order of effects is the point there). A command whose references point
        at a command with an unknown outcome stays behind.
        """
        engine = self.engine
        idempotent = engine.retry.idempotent
        if self.halt or not is_transient(exc) or tries.failures >= engine.retry.attempts:
            return []
        again = [c for c in pending if idempotent(c.method)]
        while True:
            known = {c.name for c in again} | set(self.responses)
            kept = [c for c in again if c.references <= known]
            if len(kept) == len(again):
                return kept
            again = kept

    def _resolved(self, command: Command) -> Command:
        """``command`` with references to commands that already ran resolved client-side."""
        outside = command.references & set(self.responses)
        if not outside:
            return command
        return attrs.evolve(
            command, params=resolve_references(command.params, self.responses, self.errors)
        )


def hold_blocked(engine: Engine, methods: Sequence[str]) -> None:
    """Commands the portal blocked inside a batch (``OPERATION_TIME_LIMIT``), one method per
    command: count each answer and hold their methods until their budgets reset."""
    engine.counters.operation_limit_hits += len(methods)
    for method in set(methods):
        engine.throttle.on_operation_limit(in_batch(method))  # the key inside a batch


def unmentioned(method: str) -> DecodeError:
    """The error of a command the batch answer leaves out although ``halt`` was off.

    A strict portal never does that; if one does, nobody can tell whether the command ran:
    its outcome is unknown (``may_have_applied``), never a proof that it did not run.
    """
    return DecodeError(
        "the batch answer does not mention this command", raw=b"", status=200, method=method
    )


def _by_name(commands: Sequence[Command], name: str) -> Command:
    for command in commands:
        if command.name == name:
            return command
    raise KeyError(name)  # pragma: no cover - decode_batch only reports names it was given


def _blocked(pending: Sequence[Command], outcome: ChunkOutcome) -> list[Command]:
    errors = outcome.errors
    if not errors:
        return []
    return [c for c in pending if isinstance(errors.get(c.name), OperationTimeLimit)]


async def run_batch(
    engine: Engine,
    commands: Sequence[Command],
    *,
    halt: bool,
    progress: ProgressCallback | None = None,
    account: BatchAccount | None = None,
    clock: Clock | None = None,
    results_only: bool = False,
) -> BatchResult[Any]:
    """Send ``commands`` in as few ``batch`` requests as the portal allows; never raise for
    a failed request (see the module docs).

    Chunks go concurrently under the throttle (sequentially with ``halt=True``, so that a
    failure stops the rest). ``account`` follows the run live (and survives cancellation);
    without one, nobody does. Backoffs sleep on ``clock`` (default: the engine's).
    ``results_only``: the caller reads nothing of a batched command's response but its
    ``result`` (a list's offset pages): ``time``, ``total`` and ``next`` are left None, the
    time blocks go to the throttle raw (:func:`~b24async.batchanswer.decode_results`). The
    commands then may not refer to each other (a ``$next``/``$total``/``$time`` reference
    resolved client-side would read those).
    """
    if results_only and any(c.references for c in commands):
        raise ValueError("results_only: the commands may not refer to each other")
    run = _Run(engine, commands, halt, progress, account, clock or engine.clock, results_only)
    chunks = plan_chunks(commands)
    if halt:
        for i, chunk in enumerate(chunks):
            if not await run.chunk(chunk):
                for later in chunks[i + 1 :]:
                    for command in later:
                        run.skip(command)
                break
    else:
        tasks = [asyncio.ensure_future(run.chunk(chunk)) for chunk in chunks]
        try:
            await asyncio.gather(*tasks)
        except Exception:
            # Not a request failure (those end as outcomes) but a bug or a closed client:
            # stop the other chunks rather than leave them running unobserved.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
    return run.result(commands)


async def send_chunk(
    engine: Engine,
    chunk: Sequence[Command],
    halt: bool,
    *,
    on_sent: Callable[[], None] | None = None,
    tries: Tries | None = None,
    take: Take | None = None,
    pause: Callable[[], Awaitable[None]] | None = None,
    take_text: TakeText | None = None,
    results_only: bool = False,
) -> ChunkOutcome:
    """Send one ``batch`` request through the engine and decode it per command.

    ``on_sent`` is called when the request leaves (past the throttle), once per attempt;
    ``tries`` carries the commands' earlier ambiguous failures (see :class:`Engine.send
    <b24async.engine.Engine.send>`). With ``take``, each command's response is passed through
    it as soon as it is decoded, and a large answer is read one command at a time
    (:func:`~b24async.batchstream.decode_batch_each`): the outcome holds ``take``'s values.
    With ``pause`` too, it is awaited after each command of a large answer
    (:func:`~b24async.batchstream.read_batch_each`). ``take_text`` is offered a walked
    command's JSON text before it is decoded (see :mod:`b24async.batchstream`).
    ``results_only`` (without ``take``): see :func:`run_batch`.
    """

    def decode(raw: RawResponse) -> Decoded[ChunkOutcome] | Awaitable[Decoded[ChunkOutcome]]:
        if take is None:
            if results_only:
                return decode_results(raw, chunk)
            outcome = decode_batch(raw, chunk)
        elif pause is not None and streams(raw):
            return read(raw, take, pause)
        else:
            outcome = decode_batch_each(raw, chunk, take, take_text)
        return outcome, command_timings(outcome, chunk)

    async def read(
        raw: RawResponse, take: Take, pause: Callable[[], Awaitable[None]]
    ) -> Decoded[ChunkOutcome]:
        outcome = await read_batch_each(raw, chunk, take, pause, take_text)
        return outcome, command_timings(outcome, chunk)

    engine.counters.batches += 1
    methods = [c.method for c in chunk]
    return await engine.send(
        "batch",
        batch_params(chunk, halt),
        commands=methods,
        idempotent=all(map(engine.retry.idempotent, set(methods))),  # (asked once per method)
        decode=decode,
        on_sent=on_sent,
        tries=tries,
    )


async def send_alone(
    engine: Engine,
    name: str,
    method: str,
    params: Mapping[str, Any],
    *,
    on_sent: Callable[[], None] | None = None,
    tries: Tries | None = None,
    take_text: TakeText | None = None,
) -> ChunkOutcome:
    """Send one command as a plain call (no batch envelope), its outcome under ``name``.

    For a command whose params would change inside a batch query, and for the coalescer's
    lone call on an idle client. The command's own :class:`~b24async.ApiError` (after the
    limit retries) is its outcome; a failure of the request as a whole is raised.
    ``take_text`` is offered the answer's ``result`` as JSON text, as :func:`send_chunk`
    offers a command's (:func:`~b24async.plainread.result_text`); what it keeps is the
    outcome's response. When it declines, or the answer is not read as text, the answer is
    decoded whole, as without it.
    """

    def decode(raw: RawResponse) -> tuple[Response, list[tuple[str, Timing | None]]]:
        if take_text is not None:
            read = result_text(raw, method)
            if read is not None:
                text, response = read
                kept = take_text(Command(name, method, params), text, response)
                if kept is not None:
                    return kept, [(method, response.time)]
        response = decode_response(raw, method)
        return response, [(method, response.time)]

    try:
        response = await engine.send(
            method,
            params if isinstance(params, dict) else dict(params),
            commands=(method,),
            idempotent=engine.retry.idempotent(method),
            decode=decode,
            on_sent=on_sent,
            tries=tries,
        )
    except ApiError as exc:  # the command's own error (limit retries already spent)
        return ChunkOutcome({}, {name: exc}, ())
    return ChunkOutcome({name: response}, {}, ())
