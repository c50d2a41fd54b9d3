"""OAuthCredentials.refresh: one flight per expiry, shared outcomes, bodies kept, secrets masked.

The OAuth server is a function here (the ``send`` the engine passes in), so each answer can be
shaped exactly; the portal-level behaviour is in ``test_failures_reach_callers.py``.
"""

from __future__ import annotations

import asyncio
import json
import pickle
from typing import Any

import pytest

from b24async.auth import OAuthCredentials
from b24async.errors import AuthError, DecodeError, InvalidGrant, ServerError
from b24async.protocol import HttpRequest, RawResponse

REFRESH = "refresh-token-0123456789"
SECRET = "client-secret-0123456789"


class OAuthServer:
    """Answers token requests with canned replies; counts them; can be held open."""

    def __init__(self, *replies: tuple[int, Any]) -> None:
        self.replies = list(replies)
        self.requests: list[HttpRequest] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def send(self, request: HttpRequest) -> RawResponse:
        self.requests.append(request)
        await self.gate.wait()
        status, body = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return RawResponse(status, {"content-type": "application/json"}, raw)


def credentials(**options: Any) -> OAuthCredentials:
    return OAuthCredentials(
        "https://p.bitrix24.com",
        "access-token-0123456789",
        refresh_token=REFRESH,
        client_id="local.app",
        client_secret=SECRET,
        **options,
    )


def pair(n: int) -> dict[str, Any]:
    return {"access_token": f"new-access-{n:016d}", "refresh_token": f"new-refresh-{n:016d}"}


async def test_concurrent_callers_share_one_failed_refresh_and_later_ones_too() -> None:
    server = OAuthServer((400, {"error": "invalid_grant", "error_description": "Invalid grant"}))
    creds = credentials()
    server.gate.clear()
    stale = "access-token-0123456789"
    callers = [asyncio.create_task(creds.refresh(server.send, stale)) for _ in range(20)]
    await asyncio.sleep(0)
    server.gate.set()
    outcomes = await asyncio.gather(*callers, return_exceptions=True)
    assert all(isinstance(o, InvalidGrant) for o in outcomes)
    with pytest.raises(InvalidGrant):  # a later expiry: the refused token is not sent again
        await creds.refresh(server.send, stale)
    assert len(server.requests) == 1


async def test_a_server_failure_is_shared_but_a_later_expiry_tries_again() -> None:
    server = OAuthServer(
        (500, {"error": "INTERNAL_SERVER_ERROR", "error_description": ""}), (200, pair(1))
    )
    creds = credentials()
    outcomes = await asyncio.gather(
        *(creds.refresh(server.send, creds.sign({})) for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(o, ServerError) for o in outcomes)
    assert len(server.requests) == 1
    assert await creds.refresh(server.send, creds.sign({})) is True  # transient: tried again
    assert len(server.requests) == 2 and creds.sign({}) == "new-access-0000000000000001"


async def test_the_refresh_survives_the_cancellation_of_its_starter() -> None:
    server = OAuthServer((200, pair(2)))
    saved: list[str] = []
    creds = credentials(on_token_refresh=lambda p: saved.append(p.refresh_token))
    server.gate.clear()
    stale = creds.sign({})
    starter = asyncio.create_task(creds.refresh(server.send, stale))
    await asyncio.sleep(0)
    waiter = asyncio.create_task(creds.refresh(server.send, stale))
    await asyncio.sleep(0)
    starter.cancel()
    server.gate.set()
    assert await waiter is True
    with pytest.raises(asyncio.CancelledError):
        await starter
    assert saved == ["new-refresh-0000000000000002"] and len(server.requests) == 1


@pytest.mark.parametrize(
    "body",
    [
        b"<html><body>502 Bad Gateway</body></html>",
        {"refresh_token": REFRESH + "-next", "expires_in": 3600},  # no access_token
    ],
)
async def test_a_bad_token_response_keeps_its_body_with_tokens_masked(body: Any) -> None:
    server = OAuthServer((200, body))
    creds = credentials()
    with pytest.raises(DecodeError) as info:
        await creds.refresh(server.send, creds.sign({}))
    error = info.value
    assert error.method == "oauth.token" and error.status == 200 and error.raw
    text = f"{error} {error!r} {error.raw!r} {pickle.loads(pickle.dumps(error)).raw!r}"
    assert REFRESH not in text and SECRET not in text
    if isinstance(body, bytes):
        assert error.raw == body
    else:
        assert json.loads(error.raw) == {"refresh_token": "***", "expires_in": 3600}


async def test_an_oauth_refusal_keeps_its_extra_keys() -> None:
    reply = {"error": "PAYMENT_REQUIRED", "error_description": "Pay", "portal": "p.bitrix24.com"}
    server = OAuthServer((402, reply))
    creds = credentials()
    with pytest.raises(AuthError) as info:
        await creds.refresh(server.send, creds.sign({}))
    assert info.value.code == "PAYMENT_REQUIRED" and info.value.extra == {
        "portal": "p.bitrix24.com"
    }


# A TokenPair pickled (protocol 2) by b24async before auth.py was split (TokenPair defined in
# b24async/auth.py): access 'a-token', refresh 'r-token', expiring 2026-01-02 03:04:05 UTC.
_PAIR_BEFORE_THE_SPLIT = (
    "gAJjYjI0YXN5bmMuYXV0aApUb2tlblBhaXIKcQApgXEBfXECKFgMAAAAYWNjZXNzX3Rva2VucQNYBwAAAGEtdG9rZW5x"
    "BFgNAAAAcmVmcmVzaF90b2tlbnEFWAcAAAByLXRva2VucQZYCgAAAGV4cGlyZXNfYXRxB2NkYXRldGltZQpkYXRldGlt"
    "ZQpxCGNfY29kZWNzCmVuY29kZQpxCVgLAAAAB8OqAQIDBAUAAABxClgGAAAAbGF0aW4xcQuGcQxScQ1jZGF0ZXRpbWUK"
    "dGltZXpvbmUKcQ5jZGF0ZXRpbWUKdGltZWRlbHRhCnEPSwBLAEsAh3EQUnERhXESUnEThnEUUnEVWA8AAABjbGllbnRf"
    "ZW5kcG9pbnRxFlgcAAAAaHR0cHM6Ly9wb3J0YWwuZXhhbXBsZS9yZXN0L3EXWAkAAABtZW1iZXJfaWRxGFgCAAAAbTFx"
    "GVgFAAAAc2NvcGVxGlgIAAAAY2FsZW5kYXJxG1gEAAAAdXNlcnEchnEddWIu"
)


def test_token_pairs_pickled_before_the_auth_split_still_load_and_repickle_the_same() -> None:
    import base64
    import datetime as dt

    from b24async.auth import TokenPair

    old = base64.b64decode(_PAIR_BEFORE_THE_SPLIT)
    pair = pickle.loads(old)
    assert pair == TokenPair(
        access_token="a-token",
        refresh_token="r-token",
        expires_at=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc),
        client_endpoint="https://portal.example/rest/",
        member_id="m1",
        scope=("calendar", "user"),
    )
    # Still named b24async.auth.TokenPair: a pickle made now loads in older releases too.
    assert pickle.dumps(pair, protocol=2) == old


def test_oauth_names_keep_their_module_and_their_type_hints_resolve() -> None:
    import typing

    import b24async.auth as auth

    for name in ("TokenPair", "OAuthCredentials", "RefreshCoordinator"):
        assert getattr(auth, name).__module__ == "b24async.auth"
    hints = typing.get_type_hints(auth.TokenPair)
    assert hints["expires_at"].__name__ == "datetime"
