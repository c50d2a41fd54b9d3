"""Failures reach their callers: one refresh per expiry (also when it fails), the exceptions of
``on_token_refresh`` and of redirects that may not be followed, typed results that do not match.
Nothing is left as "Task exception was never retrieved"; nothing is printed without logging set up.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from support import redirecting_server

from b24async import (
    AiohttpTransport,
    Bitrix24,
    ClientClosed,
    DecodeError,
    InvalidGrant,
    RateLimits,
    RedirectError,
    TokenPair,
)
from b24async.methods import GetUsers, SetUserActive
from b24async.protocol import HttpRequest, RawResponse
from b24async.testing import FakePortal

FAST = RateLimits(rate=100.0, burst=200)


@contextmanager
def unhandled_loop_errors() -> Iterator[list[dict[str, Any]]]:
    """Collect what the loop's exception handler gets (e.g. never-retrieved task exceptions)."""
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    try:
        yield seen
        gc.collect()  # a task whose exception nobody retrieved reports it when collected
    finally:
        loop.set_exception_handler(previous)


def oauth_client(portal: FakePortal, access: str, refresh: str, **options: Any) -> Bitrix24:
    return Bitrix24(
        portal.url,
        token=access,
        refresh_token=refresh,
        client_id=portal.client_id,
        client_secret=portal.client_secret,
        oauth_url=portal.oauth_url,
        limits=FAST,
        **options,
    )


async def gather_outcomes(calls: list[Any]) -> list[Any]:
    return await asyncio.gather(*calls, return_exceptions=True)


@pytest.mark.parametrize("coalesce", [True, False])
async def test_revoked_refresh_token_one_attempt_for_100_callers(
    coalesce: bool, caplog: pytest.LogCaptureFixture
) -> None:
    async with FakePortal(rate=FAST.rate, burst=FAST.burst) as portal:
        tokens = portal.issue_tokens()
        portal.expire_access_tokens()
        with unhandled_loop_errors() as loop_errors:
            async with oauth_client(
                portal, tokens.access_token, "revoked-refresh-token", coalesce=coalesce
            ) as b24:
                outcomes = await gather_outcomes([b24.call("user.current") for _ in range(100)])
                later = await gather_outcomes([b24.call("user.current")])  # a later expiry
        assert all(isinstance(o, InvalidGrant) for o in outcomes + later), outcomes
        assert portal.stats.refreshes == 1  # the token endpoint saw exactly one attempt
        assert loop_errors == []
    refused = [r for r in caplog.records if "refresh refused" in r.getMessage()]
    assert len(refused) == 1 and refused[0].levelno == logging.WARNING


class Persist:
    """An ``on_token_refresh`` that fails the first time (a full disk, say)."""

    def __init__(self) -> None:
        self.calls: list[TokenPair] = []

    async def __call__(self, pair: TokenPair) -> None:
        self.calls.append(pair)
        if len(self.calls) == 1:
            raise OSError("cannot save the token pair: disk full")


@pytest.mark.parametrize("coalesce", [True, False])
async def test_on_token_refresh_error_reaches_the_waiting_callers(
    coalesce: bool, caplog: pytest.LogCaptureFixture
) -> None:
    async with FakePortal(rate=FAST.rate, burst=FAST.burst) as portal:
        tokens = portal.issue_tokens()
        portal.expire_access_tokens()
        persist = Persist()
        with unhandled_loop_errors() as loop_errors:
            async with oauth_client(
                portal,
                tokens.access_token,
                tokens.refresh_token,
                on_token_refresh=persist,
                coalesce=coalesce,
            ) as b24:
                outcomes = await gather_outcomes([b24.call("user.current") for _ in range(50)])
                after = await b24.call("user.current")  # the new pair is in use all the same
        failed = [o for o in outcomes if isinstance(o, BaseException)]
        assert failed and all(isinstance(o, OSError) for o in failed), failed
        assert all(o.result["ID"] == "1" for o in outcomes if not isinstance(o, BaseException))
        assert after.result["ID"] == "1"
        assert portal.stats.refreshes == 1 and len(persist.calls) == 1
        assert loop_errors == []
    warned = [r for r in caplog.records if "on_token_refresh raised" in r.getMessage()]
    assert len(warned) == 1 and warned[0].levelno == logging.WARNING
    assert tokens.refresh_token not in caplog.text


@pytest.mark.parametrize("coalesce", [True, False])
async def test_redirect_that_may_not_be_followed_reaches_every_caller(coalesce: bool) -> None:
    # Plain http to a host that is not loopback: refused before anything is sent there.
    async with redirecting_server(lambda path: "http://portal.invalid" + path) as origin:
        code = "s3cr3tc0de"
        with unhandled_loop_errors() as loop_errors:
            async with Bitrix24(f"{origin}/rest/1/{code}/", coalesce=coalesce) as b24:
                outcomes = await gather_outcomes(
                    [b24.call("user.get", {"ID": i}) for i in range(20)]
                )
    assert all(isinstance(o, RedirectError) for o in outcomes), outcomes
    assert all(not o.may_have_applied for o in outcomes)
    assert all(code not in f"{o} {o!r} {o.location}" for o in outcomes)
    assert loop_errors == []


async def test_redirect_loop_ends_in_redirect_error_not_decode_error() -> None:
    holder: dict[str, str] = {}
    async with redirecting_server(lambda path: holder["origin"] + path) as origin:
        holder["origin"] = origin  # the portal "moves" to itself, for ever
        async with Bitrix24(f"{origin}/rest/1/code/", coalesce=False) as b24:
            with pytest.raises(RedirectError, match="too many redirects") as info:
                await b24.call("user.get")
    assert not isinstance(info.value, DecodeError)
    assert info.value.status == 302 and info.value.method == "user.get"


class CannedTransport(AiohttpTransport):
    """A transport that answers from a function instead of a network (the public seam)."""

    def __init__(self, answer: Callable[[str, dict[str, Any]], Any]) -> None:
        super().__init__()
        self._answer = answer

    async def send(self, request: HttpRequest) -> RawResponse:
        method = request.url.rsplit("/", 1)[-1]
        body = json.loads(request.body or b"{}")
        payload = {"result": self._answer(method, body), "time": {"start": 1.0, "finish": 1.1}}
        return RawResponse(200, {"content-type": "application/json"}, json.dumps(payload).encode())


async def test_typed_results_that_do_not_match_raise_decode_error() -> None:
    def answer(method: str, body: dict[str, Any]) -> Any:
        if method == "batch":
            return {"result": {"0": {"odd": True}}, "result_error": [], "result_time": {}}
        if method == "user.get":
            return [{"ID": "1"}]  # a user row without the fields the model needs
        return {"odd": True}  # user.update should answer true

    transport = CannedTransport(answer)
    async with Bitrix24("https://p.bitrix24.com/rest/1/code/", transport=transport) as b24:
        with pytest.raises(DecodeError) as call_error:
            await b24(SetUserActive.fire(5))
        res = await b24.batch([SetUserActive.fire(5)])
        with pytest.raises(DecodeError) as batch_error:
            res[0]
        with pytest.raises(DecodeError) as page_error:
            [u async for u in b24.paginate(GetUsers())]
    for error in (call_error.value, batch_error.value):
        assert error.method == "user.update" and json.loads(error.raw) == {"odd": True}
        assert isinstance(error.__cause__, ValueError)
    assert page_error.value.method == "user.get" and json.loads(page_error.value.raw) == {"ID": "1"}


def test_nothing_is_printed_before_logging_is_configured() -> None:
    script = "import logging, b24async; logging.getLogger('b24async').warning('retrying')"
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert proc.stderr == ""
    assert any(isinstance(h, logging.NullHandler) for h in logging.getLogger("b24async").handlers)


@pytest.mark.parametrize("coalesce", [True, False])
async def test_close_right_after_a_refresh_says_the_call_was_not_sent(coalesce: bool) -> None:
    """The token request is not the call's own: a close before the call is re-sent reports
    the call as not sent (it never ran: its only answer was ``expired_token``)."""
    async with FakePortal(rate=FAST.rate, burst=FAST.burst) as portal:
        tokens = portal.issue_tokens()
        portal.expire_access_tokens()
        closing: list[asyncio.Task[None]] = []
        b24 = oauth_client(
            portal,
            tokens.access_token,
            tokens.refresh_token,
            on_token_refresh=lambda pair: closing.append(asyncio.ensure_future(b24.close())),
            coalesce=coalesce,
        )
        with pytest.raises(ClientClosed) as info:
            await b24.call("user.update", {"ID": 2, "NAME": "Renamed"})
        await asyncio.gather(*closing)
        assert not info.value.sent and not info.value.may_have_applied
        assert [e for e in portal.ledger if e.method == "user.update"] == []
