"""The engine executes the flow's steps: backoffs sleep on the injected clock, a refresh runs
once, the throttle hears of limits, the errors it raises are new ones where it adds to them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from b24async.auth import WebhookCredentials
from b24async.engine import Decoded, Engine
from b24async.errors import OperationTimeLimit, TransportError
from b24async.protocol import HttpRequest, RawResponse, Response, decode_response
from b24async.retry import RetryPolicy
from b24async.stats import Counters
from b24async.throttle import Throttle


class RecordingClock:
    """A clock that never waits: it records each sleep and moves its time on."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(seconds, 0.0)


class ScriptedTransport:
    """Answers with the scripted replies in order (an exception is raised instead)."""

    def __init__(self, *replies: tuple[int, dict[str, Any]] | Exception) -> None:
        self.replies = list(replies)
        self.sent: list[HttpRequest] = []

    async def send(self, request: HttpRequest) -> RawResponse:
        self.sent.append(request)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        status, body = reply
        return RawResponse(status, {}, json.dumps(body).encode())

    async def close(self) -> None:
        pass


def engine(transport: ScriptedTransport, clock: RecordingClock, **retry: Any) -> Engine:
    credentials = WebhookCredentials("https://p.bitrix24.com", "1", "c0de")
    policy = RetryPolicy(backoff=1.0, max_backoff=4.0, **retry)
    return Engine(credentials, transport, Throttle(), policy, Counters(), clock=clock)


def decode(raw: RawResponse) -> Decoded[Response]:
    response = decode_response(raw, "user.get")
    return response, (("user.get", response.time),)


SERVER_ERROR = (500, {"error": "INTERNAL_SERVER_ERROR", "error_description": "boom"})
OK = (200, {"result": [{"ID": "1"}], "time": {"start": 1.0, "finish": 1.1}})


async def test_backoffs_sleep_on_the_injected_clock() -> None:
    clock = RecordingClock()
    transport = ScriptedTransport(SERVER_ERROR, TransportError("reset", sent=True), OK)
    eng = engine(transport, clock)
    response = await eng.send(
        "user.get", {"ID": 1}, commands=("user.get",), idempotent=True, decode=decode
    )
    assert response.result == [{"ID": "1"}]
    assert (
        len(clock.sleeps) == 2 and 0.5 <= clock.sleeps[0] <= 1.0 and 1.0 <= clock.sleeps[1] <= 2.0
    )
    assert eng.counters.retries == 2 and eng.counters.transport_errors == 1
    assert len(transport.sent) == 3


async def test_a_write_is_not_resent_and_the_raised_error_is_a_new_named_one() -> None:
    clock = RecordingClock()
    original = TransportError("reset", sent=True)
    eng = engine(ScriptedTransport(original), clock)
    with pytest.raises(TransportError) as info:
        await eng.send(
            "crm.lead.add", {}, commands=("crm.lead.add",), idempotent=False, decode=decode
        )
    assert info.value is not original and original.method == ""
    assert info.value.method == "crm.lead.add" and info.value.may_have_applied
    assert clock.sleeps == []


async def test_operating_limit_given_up_carries_reset_at_from_the_clock() -> None:
    clock = RecordingClock()
    blocked = (429, {"error": "OPERATION_TIME_LIMIT", "error_description": "blocked"})
    eng = engine(ScriptedTransport(blocked), clock, limit_attempts=1)
    with pytest.raises(OperationTimeLimit) as info:
        await eng.send("user.get", {}, commands=("user.get",), idempotent=True, decode=decode)
    assert info.value.reset_at is not None and info.value.reset_at >= clock.now
    assert eng.counters.operation_limit_hits == 1
