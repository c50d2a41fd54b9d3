"""The fake OAuth server: one registered app, its access and refresh tokens (facts §1).

Access tokens expire after ``lifetime`` seconds (``expired_token``); unknown ones are
``invalid_token``. Refresh tokens are single-use, the stricter of the documented behaviours: a
refresh returns a new pair and the old refresh token is dead from then on (``invalid_grant``).
Earlier access tokens stay valid until they expire, as in OAuth 2.0.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from b24async.testing.replies import EXPIRED_TOKEN, INVALID_TOKEN, RestError

__all__ = [
    "INVALID_CLIENT",
    "INVALID_GRANT",
    "UNSUPPORTED_GRANT",
    "OAuthApp",
    "OAuthTokens",
    "TokenStore",
    "derived_code",
]

INVALID_CLIENT = RestError(401, "invalid_client", "Invalid client")
INVALID_GRANT = RestError(400, "invalid_grant", "Invalid grant")
UNSUPPORTED_GRANT = RestError(400, "invalid_request", "Unsupported grant_type")

APP_SCOPE = "calendar,im,user"


@attrs.frozen
class OAuthTokens:
    """An access/refresh token pair issued by the fake portal's OAuth server.

    ``expires_at`` is the unix time (on the portal's clock) when the access token expires.
    """

    access_token: str
    refresh_token: str
    expires_at: float


def _derive(seed: int, label: str, length: int, alphabet: str) -> str:
    digest = hashlib.sha256(f"b24async-fake-portal:{seed}:{label}".encode()).digest()
    number = int.from_bytes(digest + hashlib.sha256(digest).digest(), "big")
    chars = []
    for _ in range(length):
        number, index = divmod(number, len(alphabet))
        chars.append(alphabet[index])
    return "".join(chars)


_ALNUM = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_HEX = "0123456789abcdef"


def derived_code(seed: int, label: str, length: int = 16) -> str:
    """A random-looking lower-case alphanumeric string that depends only on seed and label."""
    return _derive(seed, label, length, _ALNUM[:36])


@attrs.frozen
class OAuthApp:
    """The one local application registered on the fake portal."""

    client_id: str
    client_secret: str
    member_id: str
    scope: str = APP_SCOPE

    @classmethod
    def from_seed(cls, seed: int) -> OAuthApp:
        """Credentials shaped like a Bitrix24 local app's, derived from ``seed``."""
        client_id = (
            f"local.{_derive(seed, 'app-id', 14, _HEX)}.{_derive(seed, 'app-no', 8, _ALNUM[:10])}"
        )
        return cls(
            client_id=client_id,
            client_secret=_derive(seed, "app-secret", 50, _ALNUM),
            member_id=_derive(seed, "member-id", 32, _HEX),
        )


@attrs.define
class _Access:
    user_id: int
    expires_at: float


class TokenStore:
    """Issued tokens and their state; ``now`` is the portal's unix clock."""

    def __init__(self, app: OAuthApp, *, lifetime: float, now: Callable[[], float]) -> None:
        if lifetime <= 0:
            raise ValueError(f"token lifetime must be positive, got {lifetime!r}")
        self.app = app
        self.lifetime = lifetime
        self._now = now
        self._access: dict[str, _Access] = {}
        self._refresh: dict[str, int] = {}  # live refresh token -> user id

    def issue(self, user_id: int) -> OAuthTokens:
        """Issue a fresh pair for ``user_id``."""
        tokens = OAuthTokens(
            access_token=secrets.token_hex(35),
            refresh_token=secrets.token_hex(35),
            expires_at=self._now() + self.lifetime,
        )
        self._access[tokens.access_token] = _Access(user_id, tokens.expires_at)
        self._refresh[tokens.refresh_token] = user_id
        return tokens

    def check(self, access_token: str) -> int | RestError:
        """The user an access token acts for, or the auth error to reply with."""
        access = self._access.get(access_token)
        if access is None:
            return INVALID_TOKEN
        if self._now() >= access.expires_at:
            return EXPIRED_TOKEN
        return access.user_id

    def expire_all(self) -> None:
        """Make every access token issued so far expired."""
        now = self._now()
        for access in self._access.values():
            access.expires_at = min(access.expires_at, now)

    def refresh(self, params: Mapping[str, Any]) -> tuple[OAuthTokens, int] | RestError:
        """Handle a ``grant_type=refresh_token`` request: the new pair and its user, or an error."""
        if params.get("client_id") != self.app.client_id or not secrets.compare_digest(
            str(params.get("client_secret", "")), self.app.client_secret
        ):
            return INVALID_CLIENT
        if params.get("grant_type") != "refresh_token":
            return UNSUPPORTED_GRANT
        token = params.get("refresh_token")
        user_id = self._refresh.pop(token, None) if isinstance(token, str) else None
        if user_id is None:
            return INVALID_GRANT
        return self.issue(user_id), user_id

    def token_body(self, tokens: OAuthTokens, user_id: int, *, base_url: str) -> dict[str, Any]:
        """The JSON body of a token response (facts §1), for a portal served at ``base_url``."""
        lifetime: float = int(self.lifetime) if float(self.lifetime).is_integer() else self.lifetime
        return {
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "expires": math.floor(tokens.expires_at),
            "expires_in": lifetime,
            "scope": self.app.scope,
            # The real OAuth server is another host; here it is the portal's own host.
            "domain": base_url.split("://", 1)[1],
            "server_endpoint": f"{base_url}/rest/",
            "status": "L",
            "client_endpoint": f"{base_url}/rest/",
            "member_id": self.app.member_id,
            "user_id": user_id,
        }
