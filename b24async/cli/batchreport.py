"""What ``b24async batch`` prints: per-command lines, the run's document, the early-stop summary.

The document has the portal's own batch shape (``result``, ``result_error``, ``result_total``,
``result_next``) plus what was ``skipped`` or has an ``unknown`` outcome (sent, no answer), so a
script can tell which commands to check before re-sending. The input side is
:mod:`b24async.cli.batchfile`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from b24async import (
    ApiError,
    B24Error,
    BatchAccount,
    CommandOutcome,
    DecodeError,
    Outcome,
    TransportError,
)
from b24async.cli.exits import error_body
from b24async.cli.output import envelope

if TYPE_CHECKING:
    from b24async.cli.commands import Context

__all__ = ["batch_document", "error_entry", "outcome_line", "print_account"]


def outcome_line(outcome: CommandOutcome) -> dict[str, Any]:
    """One ``--jsonl`` line: the result envelope, the error (with its outcome) or skipped."""
    if outcome.response is not None:
        return {"name": outcome.name, **envelope(outcome.response)}
    if outcome.error is not None:
        return {
            "name": outcome.name,
            "error": error_entry(outcome.error),
            "outcome": outcome.outcome.value,
        }
    return {"name": outcome.name, "skipped": True}


def error_entry(error: B24Error) -> dict[str, Any]:
    """A failed command's ``error`` object: the error body, ``CLIENT_ERROR`` for a client-side
    failure (e.g. ``ClientClosed``), and ``may_have_applied``."""
    body = error_body(error)
    if not isinstance(error, (ApiError, DecodeError, TransportError)):  # e.g. ClientClosed
        body["error"] = "CLIENT_ERROR"
    body["may_have_applied"] = error.may_have_applied
    return body


def batch_document(outcomes: Iterable[CommandOutcome]) -> dict[str, Any]:
    """The whole-run JSON document: the portal's batch shape plus what was skipped or unknown."""
    done = list(outcomes)
    return {
        "result": {o.name: o.response.result for o in done if o.response is not None},
        "result_error": {o.name: error_entry(o.error) for o in done if o.error is not None},
        "result_total": {
            o.name: o.response.total
            for o in done
            if o.response is not None and o.response.total is not None
        },
        "result_next": {
            o.name: o.response.next
            for o in done
            if o.response is not None and o.response.next is not None
        },
        "skipped": [o.name for o in done if o.outcome is Outcome.SKIPPED],
        "unknown": [o.name for o in done if o.outcome is Outcome.UNKNOWN],
    }


def print_account(ctx: Context, account: BatchAccount, *, printed: bool) -> None:
    """After an early stop: the outcomes so far (unless streamed already), then the summary."""
    if not printed:
        ctx.out.result(batch_document(account.outcomes.values()))
    known = list(account.outcomes.values())
    unknown = [o.name for o in known if o.outcome is Outcome.UNKNOWN] + list(account.in_flight)
    not_sent = list(account.unsent)
    summary = {
        "summary": {
            "commands": len(account.names),
            "reported": len(known),
            "unknown": unknown,
            "not_sent": not_sent,
        }
    }
    ctx.out.line(summary)
    ctx.out.message(
        f"b24async: stopped early: {len(known)} of {len(account.names)} outcomes reported; "
        f"{len(unknown)} commands with an unknown outcome (sent, no answer: check before "
        f"re-sending), {len(not_sent)} not sent"
    )
