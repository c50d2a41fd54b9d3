"""``b24async``: the Bitrix24 REST API from the shell (also ``python -m b24async``).

::

    $ export B24_WEBHOOK_URL=https://b24-xxx.bitrix24.com/rest/1/<code>/
    $ b24async call user.current
    $ b24async calendar busy --users 1,2,34 --from 2025-09-10 --to 2025-09-17
    $ b24async batch commands.jsonl

Commands: ``call`` (any method), ``batch`` (a file of commands), and one per typed endpoint
(``calendar busy|participation|participation-set``, ``im status|status-set``,
``user fire|activate|change-status|list``), with the Open Integration Package's option names;
its function names (``GetUserBusy``, ...) work as commands too. Results are JSON on stdout,
errors JSON on stderr, and the exit status tells usage (2), API (3), network (4) and
authentication (5) errors apart. Secrets are never printed. ``b24async --help`` says the rest.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Iterator, Mapping, Sequence

from b24async.cli.commands import Context
from b24async.cli.connect import is_webhook_url, open_client, resolve_target
from b24async.cli.exits import ExitCode, UsageError, error_body, exit_code_for
from b24async.cli.output import Output, Redactor
from b24async.cli.parser import build_parser
from b24async.errors import B24Error

__all__ = ["ExitCode", "build_parser", "main"]

_SECRET_VARIABLES = ("B24_WEBHOOK_URL", "B24_TOKEN", "B24_APPLICATION_TOKEN")


def _secrets(argv: Sequence[str], env: Mapping[str, str]) -> list[str]:
    """Every value that may hold a secret, found before parsing (so parse errors hide them).

    That is the token and webhook variables, the value of --token, and anything shaped like a
    webhook URL, wherever it stands (``b24async im status https://.../rest/1/code/`` forgets
    --url, and argparse would echo the URL back as an unrecognized argument). A portal address
    alone is not a secret.
    """
    found = [env.get(name, "") for name in _SECRET_VARIABLES]
    for i, arg in enumerate(argv):
        value = arg.split("=", 1)[1] if arg.startswith("--") and "=" in arg else arg
        if is_webhook_url(value):
            found.append(value)
        if arg == "--token" and i + 1 < len(argv):
            found.append(argv[i + 1])
        elif arg.startswith("--token="):
            found.append(value)
    return found


class _RedactingFormatter(logging.Formatter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__("b24async: %(message)s")
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return self._redact(super().format(record))


@contextlib.contextmanager
def _logging(args: argparse.Namespace, redact: Redactor) -> Iterator[None]:
    """Send the client's log to stderr (redacted) for one run; restore the logger after."""
    verbose: int = getattr(args, "verbose", 0) or 0
    if getattr(args, "quiet", False):
        level = logging.ERROR
    else:
        level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_RedactingFormatter(redact))
    logger = logging.getLogger("b24async")
    saved = logger.level, logger.propagate
    logger.setLevel(level)
    logger.addHandler(handler)
    logger.propagate = False  # the CLI's handler is the one place its log goes
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


async def _run(args: argparse.Namespace, out: Output, env: Mapping[str, str]) -> ExitCode:
    if getattr(args, "standalone", False):  # events listen: a server, no client
        standalone: ExitCode = await args.handler(None, args, Context(out=out))
        return standalone
    target = resolve_target(args, env)
    out.redact.add(target.token, target.url if is_webhook_url(target.url) else None)
    async with open_client(target, args) as b24:
        ctx = Context(out=out, progress=getattr(args, "progress", None))
        code: ExitCode = await args.handler(b24, args, ctx)
        return code


async def _interruptible(args: argparse.Namespace, out: Output, env: Mapping[str, str]) -> ExitCode:
    """Run the command; Ctrl-C cancels it (so it can keep its account), then is re-raised.

    Python 3.11's ``asyncio.run`` cancels the main task on SIGINT; 3.10's raises
    ``KeyboardInterrupt`` wherever the loop happens to be (inside aiohttp's cleanup, say), where
    it can be lost. One handler here makes Ctrl-C mean the same on every version.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    interrupted = False

    def interrupt() -> None:
        nonlocal interrupted
        interrupted = True
        if task is not None:
            task.cancel()

    try:
        loop.add_signal_handler(signal.SIGINT, interrupt)
        installed = True
    except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not the main thread
        installed = False
    try:
        code = await _run(args, out, env)
    except asyncio.CancelledError:
        if interrupted:
            raise KeyboardInterrupt from None
        raise
    finally:
        if installed:
            loop.remove_signal_handler(signal.SIGINT)
    if interrupted:  # the command finished its own way after the cancellation
        raise KeyboardInterrupt
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    env = os.environ
    redact = Redactor(_secrets(arguments, env))
    parser = build_parser(redact)
    try:
        args = parser.parse_args(arguments)
    except SystemExit as exit_:  # --help, --version, or a usage error already printed
        if exit_.code is None or isinstance(exit_.code, int):
            return exit_.code or 0
        return ExitCode.USAGE
    out = Output(sys.stdout, sys.stderr, pretty=getattr(args, "pretty", None), redact=redact)
    try:
        with _logging(args, redact):
            return int(asyncio.run(_interruptible(args, out, env)))
    except UsageError as error:
        out.message(f"b24async: error: {error}")
        return ExitCode.USAGE
    except B24Error as error:
        out.error(error_body(error))
        return exit_code_for(error)
    except KeyboardInterrupt:
        out.message("b24async: interrupted")
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``b24async ... | head``): stop quietly, and keep Python from
        # complaining again when it flushes stdout at exit.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.BROKEN_PIPE
