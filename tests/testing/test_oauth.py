"""The fake OAuth server: refresh grant, single-use refresh tokens, expiry, client checks."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from b24async.testing import FakePortal, OAuthTokens

from .conftest import FakeClock, call


async def _as(session: aiohttp.ClientSession, portal: FakePortal, token: str) -> tuple[int, Any]:
    """Call user.current with an access token."""
    return await call(session, f"{portal.url}/rest/user.current?auth={token}")


async def _refresh(
    session: aiohttp.ClientSession, portal: FakePortal, refresh_token: str, **overrides: str
) -> tuple[int, Any]:
    """A GET refresh request."""
    return await call(session, portal.oauth_url, params=_grant(portal, refresh_token, **overrides))


def _grant(portal: FakePortal, refresh_token: str, **overrides: str) -> dict[str, str]:
    params = {
        "grant_type": "refresh_token",
        "client_id": portal.client_id,
        "client_secret": portal.client_secret,
        "refresh_token": refresh_token,
    }
    params.update(overrides)
    return params


def test_app_credentials_look_like_bitrix_and_follow_the_seed() -> None:
    portal = FakePortal(users=1, seed=4)
    assert portal.client_id.startswith("local.")
    assert len(portal.client_secret) == 50
    assert FakePortal(users=1, seed=4).client_id == portal.client_id
    assert FakePortal(users=1, seed=5).client_id != portal.client_id
    tokens = portal.issue_tokens(1)
    assert isinstance(tokens, OAuthTokens)
    assert tokens.access_token != tokens.refresh_token
    with pytest.raises(ValueError, match="no user"):
        portal.issue_tokens(2)


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_refresh_returns_a_new_pair(
    method: str, clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    async with FakePortal(users=3, clock=clock) as portal:
        old = portal.issue_tokens(2)
        params = _grant(portal, old.refresh_token)
        kwargs: dict[str, Any] = {"params": params} if method == "GET" else {"data": params}
        status, body = await call(session, portal.oauth_url, method=method, **kwargs)
        assert status == 200
        assert set(body) == {
            "access_token", "refresh_token", "expires", "expires_in", "domain",
            "server_endpoint", "client_endpoint", "member_id", "user_id", "status", "scope",
        }  # fmt: skip
        assert body["expires_in"] == 3600
        assert isinstance(body["expires"], int)
        assert body["expires"] == int(old.expires_at)  # the portal clock did not move
        assert body["client_endpoint"] == f"{portal.url}/rest/"
        assert body["domain"] == portal.url.removeprefix("http://")
        assert (body["user_id"], body["status"], body["scope"]) == (2, "L", "calendar,im,user")
        assert body["refresh_token"] != old.refresh_token
        status, me = await call(
            session, f"{body['client_endpoint']}user.current?auth={body['access_token']}"
        )
        assert (status, me["result"]["ID"]) == (200, "2")
        # The old access token stays valid until it expires.
        assert (await _as(session, portal, old.access_token))[0] == 200
        assert portal.stats.refreshes == 1


async def test_refresh_tokens_are_single_use(session: aiohttp.ClientSession) -> None:
    async with FakePortal(users=2) as portal:
        old = portal.issue_tokens(1)
        status, first = await _refresh(session, portal, old.refresh_token)
        assert status == 200
        reused = await _refresh(session, portal, old.refresh_token)
        grant_error = {"error": "invalid_grant", "error_description": "Invalid grant"}
        assert reused == (400, grant_error)
        unknown = await _refresh(session, portal, "nope")
        assert unknown == (400, grant_error)
        status, _ = await _refresh(session, portal, first["refresh_token"])
        assert status == 200
        assert portal.stats.refreshes == 4
        assert portal.stats.requests == 0  # the token endpoint is not /rest


async def test_client_must_match(session: aiohttp.ClientSession) -> None:
    async with FakePortal(users=2) as portal:
        tokens = portal.issue_tokens(1)
        for overrides in ({"client_secret": "wrong"}, {"client_id": "local.other.1"}):
            status, body = await _refresh(session, portal, tokens.refresh_token, **overrides)
            assert (status, body["error"]) == (401, "invalid_client")
        status, body = await _refresh(
            session, portal, tokens.refresh_token, grant_type="authorization_code"
        )
        assert status == 400
        # Failed attempts did not burn the refresh token.
        status, _ = await _refresh(session, portal, tokens.refresh_token)
        assert status == 200


async def test_access_tokens_expire_after_lifetime(
    clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    async with FakePortal(users=2, token_lifetime=60, clock=clock) as portal:
        tokens = portal.issue_tokens(1)
        clock.advance(59.9)
        assert (await _as(session, portal, tokens.access_token))[0] == 200
        clock.advance(0.1)
        status, body = await _as(session, portal, tokens.access_token)
        assert (status, body["error"]) == (401, "expired_token")
        status, fresh = await _refresh(session, portal, tokens.refresh_token)
        assert (status, fresh["expires_in"]) == (200, 60)
        assert (await _as(session, portal, fresh["access_token"]))[0] == 200


async def test_expire_access_tokens_then_refresh(session: aiohttp.ClientSession) -> None:
    async with FakePortal(users=2) as portal:
        tokens = portal.issue_tokens(1)
        portal.expire_access_tokens()
        status, body = await _as(session, portal, tokens.access_token)
        assert (status, body["error"]) == (401, "expired_token")
        later = portal.issue_tokens(1)  # tokens issued afterwards are fresh
        assert (await _as(session, portal, later.access_token))[0] == 200
        status, fresh = await call(
            session, portal.oauth_url, data=_grant(portal, tokens.refresh_token)
        )
        assert status == 200
        assert fresh["access_token"] not in (tokens.access_token, later.access_token)


async def test_tokens_of_one_portal_do_not_open_another(session: aiohttp.ClientSession) -> None:
    async with FakePortal(users=2) as first, FakePortal(users=2) as second:
        token = first.issue_tokens(1).access_token
        status, body = await call(session, f"{second.url}/rest/user.current?auth={token}")
        assert (status, body["error"]) == (401, "invalid_token")
