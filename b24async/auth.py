"""Credentials: where requests go and how they prove who they are.

Two kinds, as in the Bitrix24 docs (RU ``settings/how-to-call-rest-api/authorization.md``):

* an incoming **webhook**: ``https://PORTAL/rest/{USER_ID}/{CODE}/`` (the secret is in the path);
* an **OAuth app**: ``https://PORTAL/rest/{method}`` with ``auth=ACCESS_TOKEN``, refreshed with
  the refresh token at the OAuth server when the portal answers ``expired_token``.

Secrets (webhook code, tokens, client secret) never appear in reprs, logs or exception text:
:meth:`Credentials.redact` masks them, where they occur as secrets (:mod:`b24async.redaction`),
in anything the client is about to show.

The OAuth side lives in :mod:`b24async.auth_oauth`, address checks in :mod:`b24async.auth_urls`;
every name is importable from here.
"""

from __future__ import annotations

# TokenPair's annotations (dt.datetime) resolve in the namespace its __module__ names: this one.
import datetime as dt  # noqa: F401
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from b24async.auth_oauth import DEFAULT_OAUTH_URL, OAuthCredentials, RefreshCoordinator, TokenPair
from b24async.auth_urls import _origin as _origin
from b24async.auth_urls import parse_portal_url
from b24async.errors import InvalidToken, TokenExpired
from b24async.protocol import HttpRequest, RawResponse
from b24async.redaction import REDACTED, redact

__all__ = [
    "DEFAULT_OAUTH_URL",
    "Credentials",
    "OAuthCredentials",
    "RefreshCoordinator",
    "TokenPair",
    "WebhookCredentials",
    "is_token_error",
    "parse_portal_url",
]


Send = Callable[[HttpRequest], Awaitable[RawResponse]]


class Credentials(Protocol):
    """What the client needs from credentials."""

    def endpoint(self, method: str) -> str:
        """The URL of a REST method."""

    def sign(self, params: dict[str, Any]) -> str | None:
        """Add auth params in place; return the access token used (``None`` for webhooks)."""

    def redact(self, text: str) -> str:
        """Remove every secret from ``text``."""

    async def refresh(self, send: Send, stale_token: str | None) -> bool:
        """Refresh after ``expired_token``; False when these credentials cannot refresh."""

    def relocate(self, origin: str) -> None:
        """The portal moved to ``origin``."""

    @property
    def refreshes(self) -> int:
        """Token refreshes performed so far (0 for credentials that never refresh)."""


class WebhookCredentials:
    """An incoming webhook: the user id and secret code live in the URL path."""

    refreshes = 0  # webhook codes never expire

    def __init__(self, origin: str, user: str, code: str) -> None:
        self.origin = origin
        self.user = user
        self._code = code
        self._base = f"{origin}/rest/{user}/{code}/"

    def relocate(self, origin: str) -> None:
        """The portal moved to ``origin`` (HTTP 302 from the old address)."""
        self.origin = origin
        self._base = f"{origin}/rest/{self.user}/{self._code}/"

    def endpoint(self, method: str) -> str:
        """``https://PORTAL/rest/{user}/{code}/{method}``."""
        return self._base + method

    def sign(self, params: dict[str, Any]) -> str | None:
        """Webhooks carry their secret in the URL: nothing to add."""
        return None

    def redact(self, text: str) -> str:
        """Hide the webhook code (in webhook paths; elsewhere only when it cannot be a word)."""
        return redact(text, (self._code,))

    async def refresh(self, send: Send, stale_token: str | None) -> bool:
        """Webhook codes do not expire: nothing to refresh."""
        return False

    def __repr__(self) -> str:
        return f"WebhookCredentials({self.origin}/rest/{self.user}/{REDACTED}/)"


def is_token_error(exc: BaseException) -> bool:
    """Whether ``exc`` means the access token must be refreshed (expired or invalid token)."""
    return isinstance(exc, (TokenExpired, InvalidToken))
