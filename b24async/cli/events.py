"""``b24async events listen`` and ``b24async events drain``.

``listen`` serves an :class:`~b24async.events.EventReceiver` and prints each verified event as a
JSON line; ``drain`` prints the app's offline queue, clearing each event only after its line
was written (at-least-once). Lines never carry tokens: ``auth`` keeps its non-secret keys.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

from aiohttp import web

from b24async.cli.commands import Context
from b24async.cli.exits import ExitCode, UsageError
from b24async.client import Bitrix24
from b24async.errors import WrongAuthType
from b24async.events import Event, EventReceiver, MemoryTokenStore

__all__ = ["add_drain", "add_listen", "event_line"]

APPLICATION_TOKEN_VARIABLE = "B24_APPLICATION_TOKEN"


def event_line(event: Event) -> dict[str, Any]:
    """An event as printed: everything but the secrets."""
    line: dict[str, Any] = {"event": event.name, "ts": event.ts, "data": event.data}
    if event.handler_id is not None:
        line["handler_id"] = event.handler_id
    if event.auth is not None:
        auth = event.auth
        line["auth"] = {
            "domain": auth.domain,
            "member_id": auth.member_id,
            "user_id": auth.user_id,
            "scope": list(auth.scope),
            "has_access_token": auth.access_token is not None,
        }
    if event.offline is not None:
        line["offline"] = {
            "id": event.offline.row_id,
            "message_id": event.offline.message_id,
            "user_id": event.offline.user_id,
        }
    return line


async def listen(b24: Bitrix24 | None, args: argparse.Namespace, ctx: Context) -> ExitCode:
    """Serve a receiver on ``--host``:``--port`` until interrupted (or ``--count`` events)."""
    token = os.environ.get(APPLICATION_TOKEN_VARIABLE)
    if bool(token) != bool(args.member_id):
        raise UsageError(f"--member-id and {APPLICATION_TOKEN_VARIABLE} go together")
    if args.portal and not args.member_id:
        raise UsageError("--portal is the trusted address of --member-id's portal: give both")
    if args.portal and not args.app_code:
        raise UsageError("--portal is used only to confirm a new token: give --app-code too")
    ctx.out.redact.add(token)
    store = MemoryTokenStore({args.member_id: token} if token and args.member_id else None)
    done = asyncio.Event()
    printed = 0

    async def on_event(event: Event) -> None:
        nonlocal printed
        ctx.out.line(event_line(event))
        printed += 1
        if args.count and printed >= args.count:
            done.set()

    try:
        receiver = EventReceiver(
            on_event,
            tokens=store,
            accept_install=not token,
            app_code=args.app_code,
            portals={args.member_id: args.portal} if args.portal else None,
            concurrency=1,
            max_body=args.max_body,
        )
    except ValueError as error:
        raise UsageError(str(error)) from None
    runner = web.AppRunner(receiver.app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, args.host, args.port).start()
        ctx.out.message(f"b24async: listening on http://{args.host}:{args.port}/")
        await done.wait()
    finally:
        await runner.cleanup()
    return ExitCode.OK


def add_listen(p: argparse.ArgumentParser) -> None:
    """Options of ``events listen``."""
    p.add_argument("--port", type=int, required=True, help="port to listen on")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument(
        "--member-id",
        help=f"accept only this portal, with the token in ${APPLICATION_TOKEN_VARIABLE} "
        "(default: learn the token from ONAPPINSTALL)",
    )
    p.add_argument(
        "--app-code",
        help="the app's CODE (a local app's client_id): take ONAPPUPDATE's new application "
        "token once the portal confirms the event's access token with app.info "
        "(default: a changed token is refused)",
    )
    p.add_argument(
        "--portal",
        help="with --member-id: that portal's address (https://portal.bitrix24.com), where a "
        "new token is confirmed (default: the address of the verified ONAPPINSTALL)",
    )
    p.add_argument("--count", type=int, default=0, help="stop after this many events")
    p.add_argument("--max-body", type=int, default=1024 * 1024, help="largest body, bytes")
    p.set_defaults(handler=listen, standalone=True)


async def drain(b24: Bitrix24 | None, args: argparse.Namespace, ctx: Context) -> ExitCode:
    """Print the offline queue as JSON lines; each event is cleared after its line."""
    assert b24 is not None
    try:
        async with b24.offline_events(
            limit=args.limit, follow=args.follow, adopt_after=args.adopt_after
        ) as events:
            async for event in events:
                ctx.out.line(event_line(event))
    except WrongAuthType:
        ctx.out.message(
            "b24async: events need an OAuth application: --url PORTAL --token TOKEN "
            "(an admin's token), not a webhook"
        )
        raise
    return ExitCode.OK


def add_drain(p: argparse.ArgumentParser) -> None:
    """Options of ``events drain``."""
    p.add_argument("--limit", type=int, default=50, help="events reserved per batch")
    p.add_argument("--follow", action="store_true", help="keep waiting for new events")
    p.add_argument(
        "--adopt-after",
        type=float,
        default=300.0,
        help="seconds before a batch reserved by a dead consumer is taken over (0: at once)",
    )
    p.set_defaults(handler=drain)
