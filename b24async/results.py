"""What a :meth:`~b24async.Bitrix24.batch` returns: one outcome per command, always.

Every command ends in exactly one :class:`Outcome`:

* ``SUCCEEDED``: the portal ran it; ``res[name]`` is its result.
* ``FAILED``: the portal answered with an error code for it (an :class:`~b24async.ApiError`):
  it did not run.
* ``UNKNOWN``: its request left and the answer was lost (a dropped connection, a proxy's HTML
  502, a 5xx): the portal **may have applied it**. It is never re-sent automatically when it
  is not idempotent; check the portal (e.g. search for the record) before sending it again.
* ``NOT_SENT``: it never reached the portal (the connection was refused, the client was closed
  or the batch was cancelled before its request left): safe to send again.
* ``SKIPPED``: ``halt=True`` stopped the batch before it ran: safe to send again.

A failed HTTP request affects only its own commands: the others keep their results.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Generic, TypeVar, overload

import attrs

from b24async.batchcodec import Command
from b24async.errors import ApiError, B24Error, ClientClosed
from b24async.protocol import Response, Timing

__all__ = ["BatchAccount", "BatchResult", "CommandOutcome", "Outcome"]

T = TypeVar("T")
D = TypeVar("D")


class Outcome(enum.Enum):
    """How one command of a batch ended (see the module docs)."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNKNOWN = "unknown"
    NOT_SENT = "not_sent"
    SKIPPED = "skipped"

    @property
    def may_have_applied(self) -> bool:
        """True for ``SUCCEEDED`` and ``UNKNOWN``: the portal ran it, or may have."""
        return self in (Outcome.SUCCEEDED, Outcome.UNKNOWN)


def classify(error: B24Error) -> Outcome:
    """The outcome a command's error stands for."""
    if error.may_have_applied:
        return Outcome.UNKNOWN
    return Outcome.FAILED if isinstance(error, ApiError) else Outcome.NOT_SENT


@attrs.frozen
class CommandOutcome:
    """One command's outcome as soon as it is known (handed to ``BatchAccount.on_outcome``).

    Exactly one of ``response`` and ``error`` is set, unless ``outcome`` is ``SKIPPED``.
    """

    name: str
    method: str
    outcome: Outcome
    response: Response | None = None
    error: B24Error | None = None


class BatchAccount:
    """The live account of a running batch: pass one to :meth:`~b24async.Bitrix24.batch`.

    ``on_outcome`` is called with each :class:`CommandOutcome` as soon as it is known. If the
    batch is interrupted (its task cancelled, e.g. by Ctrl-C), the account still tells what was
    known: :attr:`outcomes` so far, :attr:`in_flight` (sent, no answer: outcome unknown) and
    :attr:`unsent` (never sent).
    """

    def __init__(self, on_outcome: Callable[[CommandOutcome], None] | None = None) -> None:
        self.on_outcome = on_outcome
        self.names: tuple[str, ...] = ()
        self.outcomes: dict[str, CommandOutcome] = {}
        self._sent: set[str] = set()

    def start(self, names: Sequence[str]) -> None:
        """Begin accounting for ``names`` (called by the runner)."""
        self.names = tuple(names)

    def sending(self, names: Sequence[str]) -> None:
        """Mark ``names`` as sent: their request left (past the throttle), called by the runner."""
        self._sent.update(names)

    def record(self, outcome: CommandOutcome) -> None:
        """Record a final outcome and report it (called by the runner; once per command)."""
        if outcome.name in self.outcomes:
            return
        self.outcomes[outcome.name] = outcome
        if self.on_outcome is not None:
            self.on_outcome(outcome)

    @property
    def in_flight(self) -> tuple[str, ...]:
        """Commands sent without a known outcome yet: if the batch stops now, unknown."""
        return tuple(n for n in self.names if n in self._sent and n not in self.outcomes)

    @property
    def unsent(self) -> tuple[str, ...]:
        """Commands not sent yet and without an outcome."""
        return tuple(n for n in self.names if n not in self._sent and n not in self.outcomes)

    def closed(self, commands: Sequence[Command], error: ClientClosed) -> ClientClosed:
        """The :class:`ClientClosed` a batch of ``commands`` ends with when the client closes.

        Its ``result`` holds every outcome known so far; each command without one ends with a
        ``ClientClosed`` of its own: ``sent=True`` (outcome unknown) if its request had left,
        ``sent=False`` (not sent) otherwise; those outcomes are recorded (and reported) too, so
        that every command has exactly one. ``error`` is what the close raised in the batch.
        """
        for command in commands:
            if command.name not in self.outcomes:
                cut = ClientClosed.cut_short(command.name in self._sent, command.method)
                self.record(CommandOutcome(command.name, command.method, classify(cut), error=cut))
        responses: dict[str, Response] = {}
        errors: dict[str, B24Error] = {}
        skipped: list[str] = []
        for command in commands:
            known = self.outcomes[command.name]
            if known.response is not None:
                responses[command.name] = known.response
            elif known.error is not None:
                errors[command.name] = known.error
            else:
                skipped.append(command.name)
        result: BatchResult[Any] = BatchResult(commands, responses, errors, skipped)
        sent = error.sent or bool(result.responses) or bool(result.may_have_applied)
        return ClientClosed(
            f"the Bitrix24 client was closed during batch(): {result.summary()}; "
            "every command's outcome is on .result",
            sent=sent,
            result=result,
        )


class BatchResult(Mapping[str, T], Generic[T]):
    """The outcome of :meth:`~b24async.Bitrix24.batch`: a mapping of name -> result.

    As a :class:`~collections.abc.Mapping` it holds the commands that **succeeded**: ``name in
    res``, ``len(res)``, ``res.keys()``/``items()``/``values()`` and ``res.get(name)`` agree
    on them. Results of typed requests are parsed by the request (``BatchResult[User]`` and so
    on); plain ``(method, params)`` commands give the raw ``result`` value. ``res[name]`` for a
    command that failed raises its error; for a skipped or unknown name, ``KeyError``.

    Every command's fate, succeeded or not: :meth:`outcome`, :attr:`errors` (name -> its
    :class:`~b24async.B24Error`), :attr:`skipped`, :attr:`may_have_applied` (the request left,
    the answer was lost: check before re-sending) and :attr:`not_sent` (safe to send again).
    :attr:`names` lists every command in the order given. For list input the names are
    ``"0"``, ``"1"``, ... and ``res[0]`` works too.
    """

    def __init__(
        self,
        commands: Sequence[Command],
        responses: Mapping[str, Response],
        errors: Mapping[str, B24Error],
        skipped: Sequence[str] = (),
    ) -> None:
        self._commands = {c.name: c for c in commands}
        self.responses: Mapping[str, Response] = {
            c.name: responses[c.name] for c in commands if c.name in responses
        }
        self.errors: Mapping[str, B24Error] = {
            c.name: errors[c.name] for c in commands if c.name in errors
        }
        self.skipped: tuple[str, ...] = tuple(skipped)
        self._parsed: dict[str, Any] = {}

    # -- the Mapping: succeeded commands ---------------------------------------------------------

    def __getitem__(self, name: str | int) -> T:
        key = str(name)
        if key in self.responses:
            if key not in self._parsed:
                request = self._commands[key].request
                result = self.responses[key].result
                self._parsed[key] = request.parse(result) if request is not None else result
            value: T = self._parsed[key]
            return value
        if key in self.errors:
            raise self.errors[key]
        if key in self.skipped:
            raise KeyError(f"command {key!r} did not run: an earlier command failed and halt=True")
        raise KeyError(key)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, (str, int)) and str(name) in self.responses

    def __iter__(self) -> Iterator[str]:
        return iter(self.responses)

    def __len__(self) -> int:
        return len(self.responses)

    @overload
    def get(self, name: str | int, /) -> T | None: ...
    @overload
    def get(self, name: str | int, /, default: T | D) -> T | D: ...

    def get(self, name: str | int, /, default: Any = None) -> Any:
        """The result of a succeeded command, else ``default`` (a failure does not raise)."""
        if str(name) not in self.responses:
            return default
        return self[name]

    # -- every command -----------------------------------------------------------------------

    @property
    def names(self) -> tuple[str, ...]:
        """Every command's name, in the order given."""
        return tuple(self._commands)

    def outcome(self, name: str | int) -> Outcome:
        """How command ``name`` ended; ``KeyError`` for a name that was not in the batch."""
        key = str(name)
        if key in self.responses:
            return Outcome.SUCCEEDED
        if key in self.errors:
            return classify(self.errors[key])
        if key in self._commands:
            return Outcome.SKIPPED
        raise KeyError(key)

    @property
    def ok(self) -> bool:
        """True when every command ran and succeeded."""
        return len(self.responses) == len(self._commands)

    @property
    def may_have_applied(self) -> tuple[str, ...]:
        """Commands whose request left and whose answer was lost: outcome unknown.

        The portal may have run them. Reads and idempotent writes among them were already
        retried as far as the retry policy allows; a non-idempotent write (``*.add``) is never
        re-sent automatically: look on the portal before sending it again.
        """
        return tuple(n for n, e in self.errors.items() if e.may_have_applied)

    @property
    def not_sent(self) -> tuple[str, ...]:
        """Commands that certainly did not run and were not refused by the portal.

        They never left (connection refused, client closed) or ``halt=True`` skipped them:
        safe to send again as they are.
        """
        names = [n for n, e in self.errors.items() if classify(e) is Outcome.NOT_SENT]
        return (*names, *self.skipped)

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

    def results(self) -> dict[str, T]:
        """Every successful command's (typed) result, by name (same as ``dict(res)``)."""
        return {name: self[name] for name in self.responses}

    def raise_for_errors(self) -> None:
        """Raise the first failed command's error, if any failed."""
        for name in self._commands:
            if name in self.errors:
                raise self.errors[name]

    def summary(self) -> str:
        """Counts per outcome, e.g. ``"40 ok, 1 failed, 2 unknown, 7 not sent, 0 skipped"``."""
        unknown = len(self.may_have_applied)
        not_sent = len(self.not_sent) - len(self.skipped)
        failed = len(self.errors) - unknown - not_sent
        return (
            f"{len(self.responses)} ok, {failed} failed, {unknown} unknown, "
            f"{not_sent} not sent, {len(self.skipped)} skipped"
        )

    def __repr__(self) -> str:
        return f"BatchResult({self.summary()})"
