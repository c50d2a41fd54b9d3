"""The CLI's commands: each takes the open client, the parsed options and a :class:`Context`.

They use only the public API (``b24.call``, ``b24.batch``, ``b24.paginate`` and typed requests
such as ``await b24(GetAccessibility(...))``), so anything the CLI does a script can do the same
way. Typed requests validate their input before anything is sent: ``--status H`` is a usage
error, not a round trip to the portal.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import attrs

from b24async import BatchAccount, Bitrix24
from b24async.cli.batchfile import parse_commands
from b24async.cli.batchreport import batch_document, outcome_line, print_account
from b24async.cli.exits import ExitCode, UsageError
from b24async.cli.output import Output, envelope, jsonable
from b24async.methods import (
    GetAccessibility,
    GetParticipationStatus,
    GetUsers,
    GetUserStatus,
    SetParticipationStatus,
    SetUserActive,
    SetUserStatus,
)
from b24async.models import BusyInterval
from b24async.progress import ProgressBar

__all__ = [
    "Context",
    "batch",
    "busy",
    "call",
    "participation",
    "participation_set",
    "read_text",
    "set_param",
    "status_get",
    "status_set",
    "user_active",
    "user_list",
]

T = TypeVar("T")

#: Availability queries for more users than this take several commands: worth a progress bar.
_USERS_PER_COMMAND = 50


@attrs.frozen
class Context:
    """What every command needs besides the client: the output and the progress setting."""

    out: Output
    progress: bool | None = None  # None: draw a bar only when stderr is a terminal

    def bar(self, description: str, unit: str, *, streaming: bool = False) -> ProgressBar:
        """A progress bar on stderr (silent unless wanted).

        ``streaming``: rows are printed while the bar runs; when stdout is the same terminal
        they would tear the bar apart, so it stays off there unless ``--progress`` asks for it.
        """
        enabled = self.progress
        if enabled is None and streaming and _isatty(self.out.stdout):
            enabled = False
        return ProgressBar(description, unit=unit, file=self.out.stderr, enabled=enabled)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _build(factory: Callable[..., T], **kwargs: Any) -> T:
    """Build a typed request; its validation errors are usage errors (nothing was sent)."""
    try:
        return factory(**kwargs)
    except (ValueError, TypeError) as error:
        raise UsageError(str(error)) from None


def read_text(path: str) -> str:
    """A file's text (``-``: stdin); a byte-order mark from Windows editors is dropped."""
    if path == "-":
        return sys.stdin.read().lstrip("\ufeff")
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise UsageError(f"cannot read {path}: not UTF-8 text") from None


async def _checked(rows: AsyncIterator[T]) -> AsyncIterator[T]:
    """Re-yield ``rows``; bad input the client reports before the first row is a usage error."""
    iterator = rows.__aiter__()
    try:
        first = await iterator.__anext__()
    except StopAsyncIteration:
        return
    except (ValueError, TypeError) as error:
        raise UsageError(str(error)) from None
    yield first
    async for row in iterator:
        yield row


async def _print_rows(
    ctx: Context,
    description: str,
    unit: str,
    jsonl: bool,
    stream: Callable[[ProgressBar], AsyncIterator[Any]],
) -> None:
    """Print every row: one per line (``jsonl``), or ``{"result": [...], "total": N}``."""
    with ctx.bar(description, unit, streaming=jsonl) as bar:
        rows = _checked(stream(bar))
        if jsonl:
            async for row in rows:
                ctx.out.line(row)
            return
        collected = [row async for row in rows]
    ctx.out.result({"result": collected, "total": len(collected)})


# --- call -----------------------------------------------------------------------------------

_KEY = re.compile(r"([^\[\]]+)((?:\[[^\[\]]*\])*)")


def set_param(params: dict[str, Any], key: str, value: Any, *, option: str = "--param") -> None:
    """Set ``key`` in ``params``, with PHP-style brackets: ``FILTER[>ID]``, ``users[]``.

    ``option`` names the option in error messages.
    """
    match = _KEY.fullmatch(key)
    if match is None:
        raise UsageError(f"{option}: invalid key {key!r} (use NAME, NAME[KEY] or NAME[])")
    path = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
    node: Any = params
    for depth, part in enumerate(path):
        last = depth == len(path) - 1
        fresh: Any = None if last else ([] if path[depth + 1] == "" else {})
        if isinstance(node, list):
            if part != "":
                raise UsageError(f"{option} {key}: [] and [{part}] mixed at one level")
            node.append(value if last else fresh)
            node = node[-1]
        elif part == "":
            raise UsageError(f"{option} {key}: [] where a key is expected")
        elif last:
            node[part] = value
        else:
            child = node.setdefault(part, fresh)
            if type(child) is not type(fresh):
                raise UsageError(f"{option} {key}: conflicts with the earlier value of {part}")
            node = child


def _params(args: argparse.Namespace) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if args.json is not None:
        text = read_text(args.json[1:]) if args.json.startswith("@") else args.json
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as error:
            raise UsageError(f"--json: invalid JSON: {error}") from None
        if not isinstance(loaded, dict):
            raise UsageError("--json: expected a JSON object of parameters")
        params.update(loaded)
    for key, value in args.param:
        set_param(params, key, value)
    return params


async def call(b24: Bitrix24, args: argparse.Namespace, ctx: Context) -> ExitCode:
    """``b24async call METHOD``: one call, or every page of a list method with ``--all``."""
    params = _params(args)
    if args.all:
        await _print_rows(
            ctx,
            args.method,
            "row",
            args.jsonl,
            lambda bar: b24.paginate(args.method, params, keyset=args.keyset, progress=bar),
        )
        return ExitCode.OK
    try:
        response = await b24.call(args.method, params)
    except (ValueError, TypeError) as error:  # raised before sending: a bad method name
        raise UsageError(str(error)) from None
    ctx.out.result(envelope(response))
    return ExitCode.OK


# --- batch ----------------------------------------------------------------------------------


async def batch(b24: Bitrix24, args: argparse.Namespace, ctx: Context) -> ExitCode:
    """``b24async batch FILE``: any number of commands, 50 per request; exit 3 if any failed.

    With ``--jsonl`` each command's outcome is printed as soon as it is known. If the run stops
    early (Ctrl-C, a fatal error) every outcome known so far is printed, then a summary of the
    commands whose outcome is unknown (sent, no answer) and of those not sent.
    """
    source = "stdin" if args.file == "-" else args.file
    commands = parse_commands(read_text(args.file), source=source)
    account = BatchAccount(
        on_outcome=(lambda outcome: ctx.out.line(outcome_line(outcome))) if args.jsonl else None
    )
    with ctx.bar("batch", "cmd") as bar:
        try:
            result = await b24.batch(commands, halt=args.halt, progress=bar, account=account)
        except (ValueError, TypeError) as error:  # bad names or references: nothing was sent
            raise UsageError(f"{source}: {error}") from None
        except BaseException:  # Ctrl-C (a cancellation here) or a fatal error: keep the account
            print_account(ctx, account, printed=args.jsonl)
            raise
    if not args.jsonl:
        ctx.out.result(batch_document(account.outcomes.values()))
    return ExitCode.OK if result.ok else ExitCode.API


# --- typed endpoints ------------------------------------------------------------------------


async def busy(b24: Bitrix24, args: argparse.Namespace, ctx: Context) -> ExitCode:
    """``calendar busy``: ``GetAccessibility`` (``calendar.accessibility.get``)."""
    request = _build(GetAccessibility, users=args.users, start=args.start, end=args.end)
    if len(request.users) > _USERS_PER_COMMAND:
        with ctx.bar("users", "user") as bar:
            result = await b24(request, progress=bar)
    else:
        result = await b24(request)
    ctx.out.result(
        {"result": {str(user): [_busy_entry(i) for i in busy] for user, busy in result.items()}}
    )
    return ExitCode.OK


def _busy_entry(interval: BusyInterval) -> dict[str, Any]:
    """An entry as JSON, with ``span``: the half-open time it blocks.

    The portal's ``end`` of an all-day entry is the *start* of its last day (``end == start``
    for a one-day event); a script reading ``start``/``end`` alone would take that day as free,
    so ``span.end`` gives the exclusive end (the next midnight) as well.
    """
    start, end = interval.span
    return {**jsonable(interval), "span": {"start": start.isoformat(), "end": end.isoformat()}}


async def participation(b24: Bitrix24, args: argparse.Namespace, ctx: Context) -> ExitCode:
    """``calendar participation``: ``GetParticipationStatus`` (Y, N, Q or H)."""
    status = await b24(_build(GetParticipationStatus, event_id=args.event))
    ctx.out.result({"result": status})
    return ExitCode.OK


async def participation_set(b24: Bitrix24, args: argparse.Namespace, ctx: Context) -> ExitCode:
    """``calendar participation-set``: ``SetParticipationStatus``."""
    request = _build(SetParticipationStatus, event_id=args.event, status=args.status)
    ctx.out.result({"result": await b24(request)})
    return ExitCode.OK


async def status_get(b24: Bitrix24, args: argparse.Namespace, ctx: Context) -> ExitCode:
    """``im status``: ``GetUserStatus`` (``null`` when the portal stores none)."""
    ctx.out.result({"result": await b24(GetUserStatus())})
    return ExitCode.OK


async def status_set(b24: Bitrix24, args: argparse.Namespace, ctx: Context) -> ExitCode:
    """``im status-set``: ``SetUserStatus``."""
    ctx.out.result({"result": await b24(_build(SetUserStatus, status=args.status))})
    return ExitCode.OK


async def user_active(b24: Bitrix24, args: argparse.Namespace, ctx: Context) -> ExitCode:
    """``user fire`` / ``user activate`` / ``user change-status``: ``SetUserActive``.

    Firing the user the credentials act as is refused unless ``--force``: an admin who does it
    is locked out (the portal applies it), so ``user.current`` is asked first.
    """
    caller: int | None = None
    if args.fire and not getattr(args, "force", False):
        caller = await _current_user_id(b24)
        if caller == args.userid:
            raise UsageError(
                f"refusing to fire user {caller}: these credentials act as that user, and an "
                "admin who deactivates themselves is locked out of the portal (every later "
                "call with these credentials fails); pass --force to do it anyway"
            )
    request = _build(SetUserActive, user_id=args.userid, active=not args.fire, caller_id=caller)
    ctx.out.result({"result": await b24(request)})
    return ExitCode.OK


async def _current_user_id(b24: Bitrix24) -> int | None:
    """The ID of the user the credentials act as (``user.current``), or None if unreadable."""
    result = (await b24.call("user.current")).result
    try:
        return int(result["ID"])
    except (TypeError, KeyError, ValueError):
        return None


async def user_list(b24: Bitrix24, args: argparse.Namespace, ctx: Context) -> ExitCode:
    """``user list``: every page of ``GetUsers`` (``user.get``) as typed users."""
    where: dict[str, Any] = {}
    for key, value in args.filter:
        set_param(where, key, value, option="--filter")
    request = _build(GetUsers, filter=where, sort=args.sort, order=args.order, active=args.active)
    await _print_rows(
        ctx,
        "users",
        "user",
        args.jsonl,
        lambda bar: b24.paginate(request, keyset=args.keyset, progress=bar),
    )
    return ExitCode.OK
