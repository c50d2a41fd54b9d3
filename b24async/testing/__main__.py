"""Serve a fake Bitrix24 portal from the command line: ``python -m b24async.testing``.

Prints ``KEY=value`` lines on stdout (the webhook URL first, then the OAuth app and an issued
token pair), flushes, and serves until Ctrl-C or SIGTERM::

    $ python -m b24async.testing --port 8080 --users 2000
    B24_WEBHOOK_URL=http://127.0.0.1:8080/rest/1/0a1b2c3d4e5f6g7h/
    B24_PORTAL_URL=http://127.0.0.1:8080
    ...
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import signal
import sys
from collections.abc import Sequence

from b24async.testing.faults import Faults
from b24async.testing.operating import LIMITERS
from b24async.testing.portal import FakePortal

__all__ = ["main", "parse_args"]


def _method_cost(text: str) -> tuple[str, float]:
    method, sep, seconds = text.partition("=")
    try:
        cost = float(seconds)
    except ValueError:
        cost = -1.0
    if not sep or not method or cost < 0:
        raise argparse.ArgumentTypeError(f"expected METHOD=SECONDS, got {text!r}")
    return method, cost


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m b24async.testing",
        description="Serve a fake Bitrix24 portal on a loopback address.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback IP to bind")
    parser.add_argument("--port", type=int, default=0, help="port to bind (0: any free port)")
    parser.add_argument("--users", type=int, default=50, help="seeded users")
    parser.add_argument("--seed", type=int, default=0, help="data and credentials seed")
    parser.add_argument("--rate", type=float, default=2.0, help="leaky bucket drain per second")
    parser.add_argument("--burst", type=int, default=50, help="leaky bucket size")
    parser.add_argument(
        "--operating-budget",
        type=float,
        default=420.0,
        help="operating threshold, seconds per 600 s window (420; the docs' example is 480)",
    )
    parser.add_argument(
        "--limiter",
        choices=LIMITERS,
        default="2026",
        help="operating accounting: 2026 (floor, batch key, bans), legacy (no batch key, no "
        "bans), local (on-prem without shared storage), off (no operating fields)",
    )
    parser.add_argument("--time-scale", type=float, default=1.0, help="operating time scale")
    parser.add_argument("--processing", type=float, default=0.0, help="seconds per command")
    parser.add_argument(
        "--method-processing",
        action="append",
        default=[],
        type=_method_cost,
        metavar="METHOD=SECONDS",
        help="per-method processing seconds (repeatable), e.g. user.update=0.5",
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per reply")
    parser.add_argument(
        "--token-lifetime", type=float, default=3600.0, help="access token lifetime, seconds"
    )
    parser.add_argument("--error-500", type=float, default=0.0, help="P(HTTP 500) per request")
    parser.add_argument("--drop", type=float, default=0.0, help="P(dropped connection)")
    parser.add_argument("--html-502", type=float, default=0.0, help="P(HTML 502 page)")
    parser.add_argument("--slow", type=float, default=0.0, help="P(slow reply)")
    parser.add_argument("--fault-seed", type=int, default=0, help="fault draws seed")
    return parser.parse_args(argv)


def _portal(args: argparse.Namespace) -> FakePortal:
    faults = Faults(
        error_500=args.error_500,
        drop=args.drop,
        html_502=args.html_502,
        slow=args.slow,
        seed=args.fault_seed,
    )
    return FakePortal(
        users=args.users,
        seed=args.seed,
        rate=args.rate,
        burst=args.burst,
        operating_budget=args.operating_budget,
        limiter=args.limiter,
        time_scale=args.time_scale,
        processing=args.processing,
        method_processing=dict(args.method_processing),
        latency=args.latency,
        token_lifetime=args.token_lifetime,
        faults=faults,
        host=args.host,
        port=args.port,
    )


async def _serve(portal: FakePortal) -> OSError | None:
    """Serve until SIGINT/SIGTERM; the error when the port cannot be bound (nothing served)."""
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopped.set)
    try:
        await portal.start()
    except OSError as error:
        return error
    try:
        tokens = portal.issue_tokens(1)
        lines = {
            "B24_WEBHOOK_URL": portal.webhook_url,
            "B24_PORTAL_URL": portal.url,
            "B24_OAUTH_URL": portal.oauth_url,
            "B24_CLIENT_ID": portal.client_id,
            "B24_CLIENT_SECRET": portal.client_secret,
            "B24_ACCESS_TOKEN": tokens.access_token,
            "B24_REFRESH_TOKEN": tokens.refresh_token,
            # The names the b24async CLI reads for an OAuth app (portal address + token).
            "B24_URL": portal.url,
            "B24_TOKEN": tokens.access_token,
        }
        sys.stdout.write("".join(f"{key}={value}\n" for key, value in lines.items()))
        sys.stdout.flush()
        await stopped.wait()
    finally:
        await portal.stop()
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    args = parse_args(argv)
    try:
        portal = _portal(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    failure = asyncio.run(_serve(portal))
    if failure is not None:
        print(f"error: {_bind_failure(args, failure)}", file=sys.stderr)
        return 2
    return 0


def _bind_failure(args: argparse.Namespace, error: OSError) -> str:
    where = f"{args.host}:{args.port}"
    if error.errno == errno.EADDRINUSE:
        return f"port {args.port} is in use on {args.host}; try another --port, or --port 0"
    if error.errno == errno.EACCES:
        return f"no permission to bind {where}; try a port above 1023, or --port 0"
    return f"cannot serve on {where}: {error.strerror or error}"


if __name__ == "__main__":
    sys.exit(main())
