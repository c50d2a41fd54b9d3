"""Who is calling: incoming webhooks and OAuth access tokens turned into a :class:`Credential`.

Webhooks live in the URL path (``/rest/{user_id}/{code}/{method}``); OAuth calls carry the token
as ``auth`` (query or body), ``access_token``, or ``Authorization: Bearer``. Failures use the
codes of facts §1: ``INVALID_CREDENTIALS``, ``NO_AUTH_FOUND``, ``invalid_token``,
``expired_token``, and ``authorization_error`` when the user behind the credential is fired.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import attrs

from b24async.testing.oauth import TokenStore, derived_code
from b24async.testing.replies import INVALID_CREDENTIALS, NO_AUTH_FOUND, RestError
from b24async.testing.state import PortalState

__all__ = [
    "AUTHORIZATION_ERROR",
    "Credential",
    "Webhooks",
    "insufficient_scope",
    "oauth_credential",
]

AUTHORIZATION_ERROR = RestError(401, "authorization_error", "Unable to authorize user")
BASE_SCOPES = frozenset({"", "base"})  # methods every credential may call


def insufficient_scope(kind: str) -> RestError:
    """The error for a method outside the credential's scope."""
    token = "webhook token" if kind == "webhook" else "access token"
    return RestError(
        401,
        "insufficient_scope",
        f"The request requires higher privileges than provided by the {token}",
    )


@attrs.frozen
class Credential:
    """The caller of one request.

    ``identity`` is what the operating budget is counted per: one webhook, or one OAuth app
    (all of the app's tokens share it, as the real portal counts per application).
    ``scopes`` is None when every scope is granted (webhooks of the fake).
    """

    kind: Literal["webhook", "oauth"]
    user_id: int
    identity: str
    scopes: frozenset[str] | None = None

    def allows(self, scope: str) -> bool:
        """Whether a method of this scope may be called."""
        return self.scopes is None or scope in BASE_SCOPES or scope in self.scopes


class Webhooks:
    """The portal's incoming webhooks: code -> owner user ID."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._owners: dict[str, int] = {}

    def add(self, user_id: int) -> str:
        """Register a webhook for ``user_id``; its code is derived from the seed and a counter."""
        code = derived_code(self._seed, f"webhook:{len(self._owners)}")
        self._owners[code] = user_id
        return code

    def resolve(self, user_segment: str, code: str, state: PortalState) -> Credential | RestError:
        """The credential for a webhook path, or the error to reply with."""
        owner = self._owners.get(code)
        if owner is None or user_segment != str(owner):
            return INVALID_CREDENTIALS
        if not state.is_active(owner):
            return AUTHORIZATION_ERROR
        return Credential("webhook", owner, f"webhook:{owner}:{code}")


def _bearer(authorization: str) -> str:
    scheme, _, token = authorization.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def oauth_credential(
    params: Mapping[str, Any],
    authorization: str,
    tokens: TokenStore,
    state: PortalState,
) -> Credential | RestError:
    """The credential of an OAuth call (``/rest/{method}``), or the error to reply with."""
    token: Any = params.get("auth")
    if not token:
        token = params.get("access_token")
    if not token:
        token = _bearer(authorization)
    if not isinstance(token, str) or not token:
        return NO_AUTH_FOUND
    user_id = tokens.check(token)
    if isinstance(user_id, RestError):
        return user_id
    if not state.is_active(user_id):
        return AUTHORIZATION_ERROR
    scopes = frozenset(tokens.app.scope.split(","))
    return Credential("oauth", user_id, f"app:{tokens.app.client_id}", scopes)
