"""OAuth app credentials: the token pair, its single-flight refresh, cross-process coordination.

The access token goes into each call's ``auth`` param; when the portal answers
``expired_token`` the refresh token is exchanged at the OAuth server (RU
``settings/oauth/index.md``) once for every caller that saw the old token fail. Re-exported by
:mod:`b24async.auth`, where these names have always lived (their ``__module__`` says so).
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import datetime as dt
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlencode

import attrs

from b24async.auth_urls import _origin
from b24async.errors import AuthError, DecodeError, ServerError, TransportError
from b24async.protocol import HttpRequest, decode_envelope, error_from_body
from b24async.redaction import REDACTED, redact

if TYPE_CHECKING:
    from b24async.auth import Send

__all__ = ["DEFAULT_OAUTH_URL", "OAuthCredentials", "RefreshCoordinator", "TokenPair"]

logger = logging.getLogger("b24async")

DEFAULT_OAUTH_URL = "https://oauth.bitrix.info/oauth/token/"


@attrs.frozen
class TokenPair:
    """A fresh OAuth token pair, as passed to ``on_token_refresh`` (persist both tokens).

    Refresh tokens are replaced on every refresh: keep the new one. Tokens are hidden from
    the repr.
    """

    access_token: str = attrs.field(repr=False)
    refresh_token: str = attrs.field(repr=False)
    expires_at: dt.datetime
    client_endpoint: str | None = None
    member_id: str | None = None
    scope: tuple[str, ...] = ()

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> TokenPair:
        """Build from the OAuth server's token response (RU ``settings/oauth/index.md``)."""
        access = raw.get("access_token")
        refresh = raw.get("refresh_token")
        if not isinstance(access, str) or not isinstance(refresh, str):
            raise ValueError("token response lacks access_token/refresh_token")
        if "expires" in raw:
            expires = float(raw["expires"])
        else:
            expires = time.time() + float(raw.get("expires_in", 3600))
        scope = raw.get("scope") or ""
        return cls(
            access_token=access,
            refresh_token=refresh,
            expires_at=dt.datetime.fromtimestamp(expires, dt.timezone.utc),
            client_endpoint=raw.get("client_endpoint"),
            member_id=raw.get("member_id"),
            scope=tuple(s for s in str(scope).split(",") if s),
        )


class RefreshCoordinator(Protocol):
    """Coordinates OAuth refreshes between processes (e.g. through Redis; see ``shared=``).

    :class:`OAuthCredentials` asks it for a new pair instead of refreshing on its own. It
    either returns a pair another process already obtained (``False``: not refreshed here),
    or calls ``request(refresh_token)`` once for everyone and shares the result (``True``).
    """

    async def obtain(
        self,
        stale_token: str,
        refresh_token: str,
        request: Callable[[str], Awaitable[TokenPair]],
    ) -> tuple[TokenPair, bool]:
        """A pair newer than ``stale_token``, and whether this call refreshed it."""


class OAuthCredentials:
    """An OAuth app's access token, refreshed once for all concurrent callers (single-flight)."""

    def __init__(
        self,
        origin: str,
        access_token: str,
        *,
        refresh_token: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        oauth_url: str = DEFAULT_OAUTH_URL,
        on_token_refresh: Callable[[TokenPair], Any] | None = None,
    ) -> None:
        if not isinstance(access_token, str) or not access_token:
            raise ValueError("token (the OAuth access token) is empty")
        oauth_origin, oauth_path = _origin(oauth_url, what="oauth_url")
        self.origin = origin
        self._base = f"{origin}/rest/"
        self._access = access_token
        self._refresh = refresh_token
        self.client_id = client_id
        self._secret = client_secret
        self.oauth_url = oauth_origin + (oauth_path or "/oauth/token/")
        self.on_token_refresh = on_token_refresh
        self.refreshes = 0
        self._retired: list[str] = []  # old tokens stay redacted after a refresh
        self._flight: asyncio.Task[None] | None = None  # the refresh in progress, if any
        self._dead: AuthError | None = None  # the OAuth server refused the refresh token
        #: Set by ``Bitrix24(shared=...)``: refreshes are then coordinated across processes.
        self.coordinator: RefreshCoordinator | None = None

    def relocate(self, origin: str) -> None:
        """The portal moved to ``origin`` (HTTP 302 from the old address)."""
        self.origin = origin
        self._base = f"{origin}/rest/"

    @property
    def can_refresh(self) -> bool:
        """Whether a refresh token and the app's id and secret were given."""
        return bool(self._refresh and self.client_id and self._secret)

    def endpoint(self, method: str) -> str:
        """``https://PORTAL/rest/{method}``."""
        return self._base + method

    def sign(self, params: dict[str, Any]) -> str:
        """Put the current access token into ``auth``; return it."""
        params["auth"] = self._access
        return self._access

    def redact(self, text: str) -> str:
        """Hide tokens (current and retired) and the client secret."""
        return redact(text, (self._access, self._refresh, self._secret, *self._retired))

    async def refresh(self, send: Send, stale_token: str | None) -> bool:
        """Refresh the pair once for every caller that saw ``stale_token`` fail.

        Single flight: the first caller starts the refresh; every caller that comes while it
        runs waits for the same one and shares its outcome, success or failure (one request
        to the OAuth server per expiry, however many callers). A caller whose token was
        already replaced returns at once. When the OAuth server refuses the refresh token
        (``invalid_grant``, ``invalid_client``: an :class:`AuthError`), it is not tried again:
        every later caller gets that error. An exception from ``on_token_refresh`` reaches the
        callers that waited for that refresh (the new pair is in use all the same).

        Returns False when these credentials cannot refresh (no refresh token or app keys).
        """
        if not self.can_refresh:
            return False
        if stale_token is not None and stale_token != self._access:
            return True  # someone else refreshed meanwhile
        if self._dead is not None:
            raise copy.copy(self._dead)  # a fresh copy: no traceback piling up across callers
        if self._flight is None:
            # The refresh serves every waiting call, not the one that started it: it runs in a
            # fresh context, so no call's bookkeeping (e.g. "sent" at close) counts it as its own.
            loop = asyncio.get_running_loop()
            flight = self._refresh_once(send, stale_token)
            self._flight = contextvars.Context().run(loop.create_task, flight)
        # shield: a cancelled caller must not cancel the refresh the others are waiting for
        # (the OAuth server may already have replaced the refresh token).
        await asyncio.shield(self._flight)
        return True

    async def _refresh_once(self, send: Send, stale_token: str | None) -> None:
        try:
            try:
                pair, mine = await self._obtain_pair(send, stale_token)
            except AuthError as exc:
                self._dead = exc
                logger.warning("OAuth token refresh refused: %s", self.redact(str(exc)))
                raise
            except Exception as exc:
                logger.warning("OAuth token refresh failed: %s", self.redact(str(exc)))
                raise
            self._retired.extend(t for t in (self._access, self._refresh) if t)
            self._access, self._refresh = pair.access_token, pair.refresh_token
            if not mine:  # another process refreshed: it has told the app already
                logger.info("OAuth token pair taken over from another process")
                return
            self.refreshes += 1
            logger.info("OAuth token refreshed; expires %s", pair.expires_at.isoformat())
            if self.on_token_refresh is not None:
                try:
                    outcome = self.on_token_refresh(pair)
                    if inspect.isawaitable(outcome):
                        await outcome
                except Exception as exc:
                    logger.warning(
                        "on_token_refresh raised %s: %s; the new token pair is in use but may "
                        "not have been saved",
                        type(exc).__name__,
                        self.redact(str(exc)),
                    )
                    raise
        finally:
            self._flight = None

    async def _obtain_pair(self, send: Send, stale_token: str | None) -> tuple[TokenPair, bool]:
        if self.coordinator is None:
            return await self._request_pair(send, self._refresh or ""), True

        async def request(refresh_token: str) -> TokenPair:
            return await self._request_pair(send, refresh_token)

        return await self.coordinator.obtain(
            stale_token or self._access, self._refresh or "", request
        )

    async def _request_pair(self, send: Send, refresh_token: str) -> TokenPair:
        if refresh_token not in (self._refresh, *self._retired):
            self._retired.append(refresh_token)  # a shared pair's token: redact it too
        query = urlencode(
            {
                "grant_type": "refresh_token",
                "client_id": self.client_id or "",
                "client_secret": self._secret or "",
                "refresh_token": refresh_token,
            }
        )
        method = "oauth.token"
        try:
            raw = await send(HttpRequest("GET", f"{self.oauth_url}?{query}"))
        except TransportError as exc:
            # A custom transport's text may hold the request URL, which holds the refresh
            # token and the client secret: mask them, as the engine does for REST calls.
            text = self.redact(str(exc.args[0]) if exc.args else "transport error")
            raise TransportError(text, method=method, sent=exc.sent) from None
        # Errors keep the body for inspection, with its token values masked.
        body = self.redact(raw.body.decode("utf-8", "replace")).encode()
        try:
            payload = decode_envelope(raw, method)
        except DecodeError as exc:
            raise DecodeError(exc.args[0], raw=body, status=raw.status, method=method) from None
        error = error_from_body(payload, raw.status, method)
        if error is not None:
            # A server failure stays a ServerError (transient: a later expiry tries again);
            # anything else the OAuth server refuses is an AuthError.
            if not isinstance(error, (AuthError, ServerError)):
                error = AuthError(
                    error.code,
                    error.description,
                    status=raw.status,
                    method=method,
                    extra=error.extra,
                )
            raise error
        try:
            return TokenPair.from_wire(payload)
        except (TypeError, ValueError) as exc:
            raise DecodeError(str(exc), raw=body, status=raw.status, method=method) from None

    def __repr__(self) -> str:
        return f"OAuthCredentials({self.origin}, token={REDACTED})"


# Pickles and reprs name these where they have always lived (b24async.auth re-exports them).
for _public in (TokenPair, RefreshCoordinator, OAuthCredentials):
    _public.__module__ = "b24async.auth"
del _public
