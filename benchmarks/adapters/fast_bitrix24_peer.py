"""fast_bitrix24 (``BitrixAsync``), configured as its README says, told the portal's limits.

Its README: ``BitrixAsync(webhook)`` for async code; ``request_pool_size`` and
``requests_per_second`` set the leaky bucket (50 and 2.0 by default: the standard plan);
``operating_time_limit`` the per-method budget (its 600 s measurement period is fixed);
``verbose=False`` turns the tqdm progress bar off (we do not want to time a progress bar).

* fan-in: each coroutine awaits ``bx.call("calendar.accessibility.get", {...})`` for its user
  (``call()`` with one dict is its documented single call; it cannot merge separate callers).
* bulk write: one ``bx.call("user.update", [ {...}, ... ])`` with the whole list (its
  documented way: batches of 50, sent in parallel).
* bulk read: ``bx.get_all("user.get")``.
* probe: ``bx.call("server.time", raw=True)`` (``call()`` refuses an empty params dict;
  ``raw=True`` is its documented plain single call).

The ``fast_bitrix24_slow`` variant runs the write jobs inside ``with bx.slow(2):``, the remedy
its README gives for server errors under heavy load (``slow(max_concurrent_requests)``; with
the default of 1 it sends one batch at a time, ~1 request/s; 2 batches in flight of ~1 s each
come closest to the 2 requests/s drain without overflowing the bucket). With its defaults a
10,000-write ``call()`` ends in "All attempts to get data from server exhausted". The variant
runs the write jobs only.

Plain ``http://127.0.0.1`` webhooks are accepted as they are (its URL check wants a scheme,
a host and a path), so no workaround is needed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any, ClassVar

from fast_bitrix24 import BitrixAsync

from adapters import Done, Env, IdSet, Outcome, error_code


def _record(outcome: Outcome, exc: BaseException) -> None:
    """Count what an exception told the caller (fast_bitrix24 raises per call)."""
    details: Any = exc.args[0] if exc.args else None
    if isinstance(details, dict) and details and all(isinstance(v, dict) for v in details.values()):
        for error in details.values():  # ErrorInServerResponseException: per-command errors
            outcome.error(str(error.get("error") or "ERROR"))
    else:
        outcome.error(error_code(exc))


class FastBitrix24:
    label = f"fast_bitrix24 {version('fast_bitrix24')}"
    USAGE: ClassVar[dict[str, str]] = {
        "fan_in": 'await bx.call("calendar.accessibility.get", {...}) per coroutine',
        "bulk_write": 'await bx.call("user.update", [{...}, ...])',
        "bulk_read": 'await bx.get_all("user.get")',
        "probe": 'await bx.call("server.time", raw=True)',
    }

    def __init__(self, *, slow: bool = False) -> None:
        self._bx: BitrixAsync | None = None
        self.slow = slow
        self.usage = dict(self.USAGE)
        if slow:
            self.label += " in slow(2)"
            self.usage["bulk_write"] = f"with bx.slow(2): {self.usage['bulk_write']}"

    def unsupported(self, job: str) -> str | None:
        if self.slow and job not in ("bulk_write", "contention") and not job.startswith("op_"):
            return "not run: the slow() variant is for the write jobs (see fast_bitrix24)"
        return None

    @property
    def bx(self) -> BitrixAsync:
        assert self._bx is not None, "open() first"
        return self._bx

    async def open(self, env: Env) -> None:
        self._bx = BitrixAsync(
            env.webhook_url,
            verbose=False,
            request_pool_size=env.burst,
            requests_per_second=env.rate,
            operating_time_limit=max(1, int(env.operating_budget)),
        )

    async def close(self) -> None:
        return None  # it opens and closes its aiohttp session around each call itself

    async def fan_in(self, users: Sequence[int], day_from: str, day_to: str, done: Done) -> Outcome:
        outcome = Outcome()

        async def one(user: int) -> None:
            params = {"users": [user], "from": day_from, "to": day_to}
            try:
                await self.bx.call("calendar.accessibility.get", params)
            except Exception as exc:
                _record(outcome, exc)
                return
            outcome.ok += 1
            done(1)

        await asyncio.gather(*(one(user) for user in users))
        return outcome

    async def bulk_write(self, updates: Sequence[tuple[int, str]], done: Done) -> Outcome:
        items = [{"ID": user, "ACTIVE": flag} for user, flag in updates]
        outcome = Outcome()
        try:
            if self.slow:
                with self.bx.slow(2):
                    results = await self.bx.call("user.update", items)
            else:
                results = await self.bx.call("user.update", items)
        except Exception as exc:
            _record(outcome, exc)
            outcome.raised = f"{type(exc).__name__} after some batches: the call returns nothing"
            return outcome
        outcome.ok = len(results) if isinstance(results, (list, tuple)) else 1
        done(outcome.ok)
        return outcome

    async def bulk_read(self, done: Done) -> Outcome:
        outcome = Outcome()
        try:
            rows = await self.bx.get_all("user.get")
        except Exception as exc:
            _record(outcome, exc)
            outcome.raised = type(exc).__name__
            return outcome
        ids = IdSet()
        for row in rows:
            ids.add(row["ID"])
        outcome.rows = outcome.ok = len(rows)
        outcome.unique_ids = ids.count
        done(-(-len(rows) // 50))
        return outcome

    async def probe(self, method: str) -> None:
        await self.bx.call(method, raw=True)


def make() -> FastBitrix24:
    return FastBitrix24()


def make_slow() -> FastBitrix24:
    return FastBitrix24(slow=True)
