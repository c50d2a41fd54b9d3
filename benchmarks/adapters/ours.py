"""b24async: one client, told the portal's limits; every job through its public API.

* fan-in: each coroutine awaits ``b24.call("calendar.accessibility.get", ...)`` for its one
  user; the client coalesces concurrent calls into batches and merges users into commands.
* bulk write: ``b24.batch([...])`` with every ``user.update`` (the client plans the batches).
* bulk read: ``async for row in b24.paginate("user.get")`` (defaults: offset paging,
  ``prefetch=4``).
* probe: ``b24.call("server.time")``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from importlib.metadata import version
from typing import ClassVar

from adapters import Done, Env, IdSet, Outcome, error_code
from b24async import ApiError, Bitrix24, RateLimits


class Ours:
    label = f"b24async {version('b24async')}"
    usage: ClassVar[dict[str, str]] = {
        "fan_in": 'await b24.call("calendar.accessibility.get", {...}) per coroutine',
        "bulk_write": 'await b24.batch([("user.update", {...}), ...])',
        "bulk_read": 'async for row in b24.paginate("user.get")',
        "probe": 'await b24.call("server.time")',
    }

    def __init__(self) -> None:
        self._b24: Bitrix24 | None = None

    def unsupported(self, job: str) -> str | None:
        return None

    @property
    def b24(self) -> Bitrix24:
        assert self._b24 is not None, "open() first"
        return self._b24

    async def open(self, env: Env) -> None:
        # The operating limits in unscaled seconds, then scaled like the portal (window, floor,
        # ban and threshold together).
        limits = RateLimits(
            rate=env.rate,
            burst=env.burst,
            operating_budget=env.operating_budget / env.time_scale,
        ).scaled(env.time_scale)
        self._b24 = Bitrix24(env.webhook_url, limits=limits)

    async def close(self) -> None:
        if self._b24 is not None:
            await self._b24.close()

    async def fan_in(self, users: Sequence[int], day_from: str, day_to: str, done: Done) -> Outcome:
        outcome = Outcome()

        async def one(user: int) -> None:
            params = {"users": [user], "from": day_from, "to": day_to}
            try:
                response = await self.b24.call("calendar.accessibility.get", params)
            except ApiError as exc:
                outcome.error(error_code(exc))
                return
            result = response.result
            if isinstance(result, dict) and str(user) in result:
                outcome.ok += 1
            else:
                outcome.error("WRONG_ANSWER")
            done(1)

        await asyncio.gather(*(one(user) for user in users))
        return outcome

    async def bulk_write(self, updates: Sequence[tuple[int, str]], done: Done) -> Outcome:
        commands = [("user.update", {"ID": user, "ACTIVE": flag}) for user, flag in updates]
        reported = 0

        def progress(finished: int, total: int) -> None:
            nonlocal reported
            done(finished - reported)
            reported = finished

        result = await self.b24.batch(commands, progress=progress)
        outcome = Outcome(ok=len(result.responses))
        for exc in result.errors.values():
            outcome.error(error_code(exc))
        if result.skipped:
            outcome.error("SKIPPED", len(result.skipped))
        return outcome

    async def bulk_read(self, done: Done) -> Outcome:
        outcome = Outcome()
        ids = IdSet()
        async for row in self.b24.paginate("user.get"):
            ids.add(row["ID"])
            outcome.rows += 1
            if outcome.rows % 50 == 0:
                done(1)
        if outcome.rows % 50:
            done(1)
        outcome.ok = outcome.rows
        outcome.unique_ids = ids.count
        return outcome

    async def probe(self, method: str) -> None:
        await self.b24.call(method)


def make() -> Ours:
    return Ours()
