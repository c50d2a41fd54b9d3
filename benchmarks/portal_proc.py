"""Serve one FakePortal in its own process for one benchmark run.

Usage: ``python benchmarks/portal_proc.py '<PortalConfig JSON>'``. Prints one JSON line with
the portal's URL and the admin webhook once it serves, then serves until SIGTERM/SIGINT. The
portal's CPU is spent here, never in the measured client's process.

``python -m b24async.testing`` would do, but it has no flag for ``method_processing`` (the
operating-pressure job needs one method to be expensive), so the benchmark starts the portal
through the library API instead.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from typing import Any

from b24async.testing import FakePortal


async def serve(config: dict[str, Any]) -> None:
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopped.set)
    portal = FakePortal(
        users=int(config["users"]),
        rate=float(config["rate"]),
        burst=int(config["burst"]),
        latency=float(config["latency"]),
        processing=float(config["processing"]),
        method_processing=dict(config["method_processing"]),
        time_scale=float(config["time_scale"]),
        operating_budget=float(config["operating_budget"]),
        limiter=config.get("limiter", "2026"),
    )
    async with portal:
        line = {"url": portal.url, "webhook_url": portal.webhook_url}
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()
        await stopped.wait()


def main() -> int:
    asyncio.run(serve(json.loads(sys.argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
