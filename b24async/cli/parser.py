"""The CLI's argument parser: every command, option and help text.

Option names follow the Open Integration Package (``oint bitrix24 <Function> --url ... --token
...``): ``--users``, ``--from``, ``--to``, ``--event``, ``--status``, ``--userid``, ``--fire``.
Its function names are accepted as commands too (``b24async GetUserBusy --users 1 ...``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from b24async._version import __version__
from b24async.cli import commands
from b24async.cli import events as cli_events
from b24async.cli.exits import EXIT_CODES_HELP
from b24async.cli.helptext import BATCH_EPILOG, CALL_EPILOG, ENV_HELP, MAIN_EPILOG, OPI_COMMANDS
from b24async.cli.output import Redactor
from b24async.cli.values import (
    key_value,
    parse_day,
    parse_flag,
    parse_ids,
    positive_id,
    positive_int,
    seconds,
)

__all__ = ["build_parser"]


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the epilogs' layout and widens the option column a little."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose error messages never show a secret from the command line."""

    def __init__(self, *args: Any, redact: Redactor | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.redact = redact or Redactor()

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {self.redact(message)}\n")


# --- shared options -----------------------------------------------------------------------


def _common_options(redact: Redactor) -> argparse.ArgumentParser:
    """Options accepted before and after the command (``--url`` may come last, as in OPI).

    Their defaults are SUPPRESS so that a value given before the command is not overwritten
    by the subcommand parser's default.
    """
    parent = _Parser(add_help=False, redact=redact)
    group = parent.add_argument_group("connection and output")
    s = argparse.SUPPRESS
    group.add_argument(
        "--url", default=s, help="incoming webhook URL, or the portal address with --token"
    )
    group.add_argument(
        "--token", default=s, help="OAuth access token (with --url PORTAL); prefer B24_TOKEN"
    )
    group.add_argument(
        "--enterprise",
        action="store_true",
        default=s,
        help="the portal is on an Enterprise plan (5 req/s, burst 250) instead of 2 req/s, 50",
    )
    group.add_argument(
        "--timeout", type=seconds, default=s, metavar="SECONDS", help="per HTTP request (75)"
    )
    group.add_argument(
        "--retries",
        type=positive_int,
        default=s,
        metavar="N",
        help="tries in all after a network error or a 5xx (5)",
    )
    group.add_argument(
        "--pretty",
        dest="pretty",
        action="store_const",
        const=True,
        default=s,
        help="indent the JSON output (the default on a terminal)",
    )
    group.add_argument(
        "--compact",
        dest="pretty",
        action="store_const",
        const=False,
        default=s,
        help="one JSON line (the default when piped); the last of the two wins",
    )
    group.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=s,
        help="progress bar on stderr for long jobs (default: only on a terminal)",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=s,
        help="log retries and throttling on stderr (-vv: every request)",
    )
    group.add_argument(
        "-q", "--quiet", action="store_true", default=s, help="log nothing but errors"
    )
    return parent


# --- commands -----------------------------------------------------------------------------


def build_parser(redact: Redactor | None = None) -> argparse.ArgumentParser:
    """The ``b24async`` argument parser (``redact`` scrubs secrets from its error messages)."""
    redact = redact or Redactor()
    common = _common_options(redact)
    parser = _Parser(
        prog="b24async",
        description=(
            "Call the Bitrix24 REST API from the shell: any method, the typed endpoints, and\n"
            "bulk batches, throttled to the portal's limits. Results are JSON on stdout."
        ),
        epilog=MAIN_EPILOG,
        formatter_class=_Formatter,
        parents=[common],
        redact=redact,
    )
    parser.add_argument("--version", action="version", version=f"b24async {__version__}")
    top = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def leaf(
        group: argparse._SubParsersAction[Any], name: str, summary: str, epilog: str = "", **kw: Any
    ) -> argparse.ArgumentParser:
        if not kw.pop("hidden", False):
            kw["help"] = summary  # subcommands added without help= are not listed
        sub: argparse.ArgumentParser = group.add_parser(
            name,
            description=summary,
            epilog=(epilog + "\n\n" if epilog else "") + ENV_HELP + "\n" + EXIT_CODES_HELP,
            formatter_class=_Formatter,
            parents=[common],
            redact=redact,
            **kw,
        )
        return sub

    _add_call(leaf(top, "call", "call any REST method", CALL_EPILOG))
    _add_batch(leaf(top, "batch", "run a file of commands in bulk", BATCH_EPILOG))

    calendar = top.add_parser(
        "calendar",
        help="calendar: busy time, meeting participation",
        formatter_class=_Formatter,
        redact=redact,
    )
    calendar_sub = calendar.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    _add_busy(
        leaf(
            calendar_sub,
            "busy",
            "when are these users busy (calendar.accessibility.get)",
            "example:\n  b24async calendar busy --users 1,2,34 --from 2025-09-10 --to 2025-09-17",
        )
    )
    _add_participation(
        leaf(
            calendar_sub,
            "participation",
            "your answer to a meeting: Y, N, Q or H (calendar.meeting.status.get)",
            "example:\n  b24async calendar participation --event 1272",
        )
    )
    _add_participation_set(
        leaf(
            calendar_sub,
            "participation-set",
            "answer a meeting invitation (calendar.meeting.status.set)",
            "example:\n  b24async calendar participation-set --event 1848 --status Y",
        )
    )

    im = top.add_parser(
        "im", help="messenger: your status", formatter_class=_Formatter, redact=redact
    )
    im_sub = im.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    _add_status_get(leaf(im_sub, "status", "your messenger status (im.user.status.get)"))
    _add_status_set(
        leaf(
            im_sub,
            "status-set",
            "set your messenger status (im.user.status.set)",
            "example:\n  b24async im status-set --status dnd",
        )
    )

    user = top.add_parser(
        "user", help="users: list, fire, re-activate", formatter_class=_Formatter, redact=redact
    )
    user_sub = user.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    _add_user_active(
        leaf(
            user_sub,
            "fire",
            "deactivate (fire) a user: user.update ACTIVE=N; needs an admin webhook",
            "example:\n  b24async user fire --userid 7\n\n"
            "Firing the user the webhook (or token) acts as is refused without --force: an\n"
            "admin who does it is locked out of the portal.",
        ),
        mode="fire",
    )
    _add_user_active(
        leaf(
            user_sub,
            "activate",
            "re-activate a user: user.update ACTIVE=Y; needs an admin webhook",
            "example:\n  b24async user activate --userid 7",
        ),
        mode="activate",
    )
    _add_user_active(
        leaf(
            user_sub,
            "change-status",
            "fire (--fire true, the default) or re-activate (--fire false) a user",
            "example (the Open Integration Package's ChangeUserStatus):\n"
            "  b24async user change-status --userid 7 --fire true\n\n"
            "Firing the user the webhook (or token) acts as is refused without --force: an\n"
            "admin who does it is locked out of the portal.",
        ),
        mode="choose",
    )
    _add_user_list(
        leaf(
            user_sub,
            "list",
            "list users (user.get), every page",
            "examples:\n  b24async user list --active true\n"
            "  b24async user list --filter UF_DEPARTMENT=1 --jsonl > team.jsonl",
        )
    )

    events = top.add_parser(
        "events",
        help="events: receive deliveries, drain the offline queue",
        formatter_class=_Formatter,
        redact=redact,
    )
    events_sub = events.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    cli_events.add_listen(
        leaf(
            events_sub,
            "listen",
            "receive event deliveries, print each verified one as a JSON line",
            "example:\n  b24async events listen --port 8080",
        )
    )
    cli_events.add_drain(
        leaf(
            events_sub,
            "drain",
            "print the offline event queue as JSON lines (at-least-once); needs an app token",
            "example:\n  b24async events drain --url PORTAL --token TOKEN > events.jsonl",
        )
    )

    opi_adders: dict[str, Callable[[argparse.ArgumentParser], None]] = {
        "GetUserBusy": _add_busy,
        "GetUserParticipationStatus": _add_participation,
        "SetUserParticipationStatus": _add_participation_set,
        "GetUserStatus": _add_status_get,
        "SetUserStatus": _add_status_set,
        "ChangeUserStatus": lambda p: _add_user_active(p, mode="choose"),
    }
    for name, add in opi_adders.items():
        command, _opts = OPI_COMMANDS[name]
        add(leaf(top, name, f"same as: b24async {command}", hidden=True))
    return parser


def _add_call(p: argparse.ArgumentParser) -> None:
    p.add_argument("method", metavar="METHOD", help="REST method name, e.g. user.get")
    p.add_argument(
        "-p",
        "--param",
        action="append",
        type=key_value,
        default=[],
        metavar="KEY=VALUE",
        help="one parameter (repeatable); see below",
    )
    p.add_argument("--json", metavar="JSON", help="parameters as a JSON object, or @FILE")
    p.add_argument("--all", action="store_true", help="read every page of a list method")
    p.add_argument(
        "--keyset",
        action="store_true",
        help="with --all: walk by ID without counting rows (fast on huge lists)",
    )
    p.add_argument("--jsonl", action="store_true", help="with --all: print one row per line")
    p.set_defaults(handler=commands.call)


def _add_batch(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", help="JSON or JSON Lines file of commands; - for stdin")
    p.add_argument(
        "--halt",
        action="store_true",
        help="stop at the first failing command (requests then go one after another)",
    )
    p.add_argument("--jsonl", action="store_true", help="print one line per command")
    p.set_defaults(handler=commands.batch)


def _add_busy(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--users",
        required=True,
        type=parse_ids,
        metavar="IDS",
        help="user IDs: 1,2,34 or one ID (thousands are fine: they are split and merged)",
    )
    p.add_argument(
        "--from",
        dest="start",
        required=True,
        type=parse_day,
        metavar="DATE",
        help="first day, YYYY-MM-DD (a datetime's date part is used)",
    )
    p.add_argument(
        "--to",
        dest="end",
        required=True,
        type=parse_day,
        metavar="DATE",
        help="last day, inclusive",
    )
    p.set_defaults(handler=commands.busy)


def _add_event(p: argparse.ArgumentParser) -> None:
    p.add_argument("--event", required=True, type=positive_id, metavar="ID", help="event ID")


def _add_participation(p: argparse.ArgumentParser) -> None:
    _add_event(p)
    p.set_defaults(handler=commands.participation)


def _add_participation_set(p: argparse.ArgumentParser) -> None:
    _add_event(p)
    p.add_argument(
        "--status",
        required=True,
        metavar="Y|N|Q",
        help="Y accept, N decline, Q undecided (any case; H, host, cannot be set)",
    )
    p.set_defaults(handler=commands.participation_set)


def _add_status_get(p: argparse.ArgumentParser) -> None:
    p.set_defaults(handler=commands.status_get)


def _add_status_set(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--status",
        required=True,
        type=str.lower,
        choices=["online", "dnd", "away", "break"],
        help="online, dnd, away or break (any case)",
    )
    p.set_defaults(handler=commands.status_set)


def _add_user_active(p: argparse.ArgumentParser, *, mode: str) -> None:
    """``mode``: ``"fire"``, ``"activate"``, or ``"choose"`` (OPI's ``--fire true|false``)."""
    p.add_argument("--userid", required=True, type=positive_id, metavar="ID", help="user ID")
    if mode == "choose":
        p.add_argument(
            "--fire",
            type=parse_flag,
            default=True,
            metavar="true|false",
            help="true deactivates (fires) the user, false re-activates (default: true)",
        )
    else:
        p.set_defaults(fire=mode == "fire")
    if mode != "activate":
        p.add_argument(
            "--force",
            action="store_true",
            help="fire the user even if the credentials act as that user (which locks an "
            "admin out: every later call fails)",
        )
    p.set_defaults(handler=commands.user_active)


def _add_user_list(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--active",
        type=parse_flag,
        metavar="true|false",
        help="true: working users only; false: fired users only (default: all)",
    )
    p.add_argument(
        "--filter",
        action="append",
        type=key_value,
        default=[],
        metavar="KEY=VALUE",
        help="a user.get filter field, prefixes included: UF_DEPARTMENT=1, '>ID=100'",
    )
    p.add_argument("--sort", default="ID", metavar="FIELD", help="sort field (default: ID)")
    p.add_argument(
        "--order", default="ASC", type=str.upper, choices=["ASC", "DESC"], help="sort order"
    )
    p.add_argument("--keyset", action="store_true", help="walk by ID without counting rows")
    p.add_argument("--jsonl", action="store_true", help="print one user per line")
    p.set_defaults(handler=commands.user_list)
