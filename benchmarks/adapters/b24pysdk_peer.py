"""b24pysdk (the official SDK), through the token helpers its README documents.

Its README: ``BitrixWebhook(domain=..., webhook_token="1/code")``; low-level helpers on the
token: ``call_method``, ``call_batches`` (any number of commands, 50 per batch) and
``call_list_fast`` (ID-keyset pagination "for large datasets"). They are synchronous
(``requests``), so the adapter runs them with ``asyncio.to_thread``, the standard way to call
blocking code from asyncio. There is no client-side rate limiter to configure: it retries a 503
up to 3 times (1 s, then 2 s later).

The scheme: the SDK builds every REST URL as ``https://{domain}/rest/...`` and has no setting
for it, while the fake portal serves plain HTTP on 127.0.0.1 (as every client here is
measured). The adapter therefore replaces that one property, ``_MethodCaller._base_url``, to
return ``http://{domain}/rest``; nothing else of the SDK is touched, and every request still
goes through its callers, retries and response parsing. (Serving TLS for this client alone
would add handshake and encryption CPU to its numbers only.)

* fan-in: not supported: no async API; 5,000 concurrent coroutines would each need a thread.
* bulk write: ``token.call_batches([("user.update", {...}), ...])`` (sends the batches one
  after another).
* bulk read: ``token.call_list_fast("user.get")`` (a generator; batches one after another).
* probe: ``token.call_method("server.time")`` in its own thread.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any, ClassVar
from urllib.parse import urlsplit

from b24pysdk import BitrixWebhook

from adapters import Done, Env, IdSet, Outcome, error_code

_caller_module = importlib.import_module("b24pysdk.api.callers.call_method")
_caller_module._MethodCaller._base_url = property(  # the one-line scheme patch (see above)
    lambda self: f"http://{self._domain}/rest"
)


class B24PySdk:
    label = f"b24pysdk {version('b24pysdk')}"
    usage: ClassVar[dict[str, str]] = {
        "fan_in": "-",
        "bulk_write": 'token.call_batches([("user.update", {...}), ...]) in a thread',
        "bulk_read": 'token.call_list_fast("user.get") in a thread',
        "probe": 'token.call_method("server.time") in a thread',
    }

    def __init__(self) -> None:
        self._token: BitrixWebhook | None = None

    def unsupported(self, job: str) -> str | None:
        if job == "fan_in":
            return (
                "synchronous client (requests), no async API: 5,000 concurrent coroutines "
                "would each block the event loop or need a thread of their own"
            )
        return None

    @property
    def token(self) -> BitrixWebhook:
        assert self._token is not None, "open() first"
        return self._token

    async def open(self, env: Env) -> None:
        parts = urlsplit(env.webhook_url)
        user, code = [segment for segment in parts.path.split("/") if segment][1:3]
        self._token = BitrixWebhook(domain=parts.netloc, webhook_token=f"{user}/{code}")

    async def close(self) -> None:
        return None

    async def fan_in(self, users: Sequence[int], day_from: str, day_to: str, done: Done) -> Outcome:
        raise NotImplementedError(self.unsupported("fan_in"))

    async def bulk_write(self, updates: Sequence[tuple[int, str]], done: Done) -> Outcome:
        commands = [("user.update", {"ID": user, "ACTIVE": flag}) for user, flag in updates]
        outcome = Outcome()
        try:
            response: Any = await asyncio.to_thread(self.token.call_batches, commands)
        except Exception as exc:
            outcome.error(error_code(exc))
            outcome.raised = f"{type(exc).__name__}: the call returns nothing"
            return outcome
        body = response["result"]
        results = body.get("result") or {}
        outcome.ok = len(results)
        for error in (body.get("result_error") or {}).values():
            code = error.get("error") if isinstance(error, dict) else None
            outcome.error(str(code or "ERROR"))
        done(outcome.ok)
        return outcome

    async def bulk_read(self, done: Done) -> Outcome:
        loop = asyncio.get_running_loop()
        outcome = Outcome()
        ids = IdSet()

        def consume() -> None:
            response: Any = self.token.call_list_fast("user.get")
            for row in response["result"]:
                ids.add(row["ID"])
                outcome.rows += 1
                if outcome.rows % 50 == 0:
                    loop.call_soon_threadsafe(done, 1)

        try:
            await asyncio.to_thread(consume)
        except Exception as exc:
            outcome.error(error_code(exc))
            outcome.raised = type(exc).__name__
        if outcome.rows % 50:
            done(1)
        outcome.ok = outcome.rows
        outcome.unique_ids = ids.count
        return outcome

    async def probe(self, method: str) -> None:
        await asyncio.to_thread(self.token.call_method, method)


def make() -> B24PySdk:
    return B24PySdk()
