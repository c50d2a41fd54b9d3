"""Typed messenger requests: the current user's status."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from b24async.methods.base import Method
from b24async.models import _convert as cv
from b24async.models.im import UserStatus

__all__ = ["GetUserStatus", "SetUserStatus"]


def _settable_status(value: UserStatus | str) -> UserStatus:
    valid = ", ".join(repr(s.value) for s in UserStatus.settable())
    if isinstance(value, UserStatus):
        if value is UserStatus.UNKNOWN:
            raise ValueError(f"UserStatus.UNKNOWN cannot be set; use one of {valid}")
        return value
    if not isinstance(value, str):
        raise TypeError(f"SetUserStatus.status must be a UserStatus or str, got {value!r}")
    # Exact match only: the portal compares case-sensitively and answers "DND" with STATUS_ERROR.
    for status in UserStatus.settable():
        if value == status.value:
            return status
    raise ValueError(
        f"invalid status {value!r}: im.user.status.set is case-sensitive; "
        f"use one of {valid} (or a UserStatus member)"
    )


@attrs.frozen
class SetUserStatus(Method[bool]):
    """Set the current user's messenger status.

    ``im.user.status.set``: https://apidocs.bitrix24.com/api-reference/chats/users/im-user-status-set.html
    Open Integration Package: ``SetUserStatus``.

    ``status`` is a :class:`UserStatus` or its exact lower-case value (``"online"``, ``"dnd"``,
    ``"away"``, ``"break"``); ``"DND"`` is refused here rather than by the portal. Returns
    ``True``.
    """

    api_method: ClassVar[str] = "im.user.status.set"

    status: UserStatus = attrs.field(converter=_settable_status)

    def to_params(self) -> dict[str, Any]:
        """``{"STATUS": "dnd"}``.

        >>> SetUserStatus(UserStatus.DND).to_params()
        {'STATUS': 'dnd'}
        >>> SetUserStatus("away").to_params()
        {'STATUS': 'away'}
        """
        return {"STATUS": self.status.value}

    def parse(self, result: Any) -> bool:
        """``True`` on success."""
        return cv.as_bool(result, self.api_method)


@attrs.frozen
class GetUserStatus(Method[UserStatus | None]):
    """Read the current user's messenger status.

    ``im.user.status.get``: https://apidocs.bitrix24.com/api-reference/chats/users/im-user-status-get.html
    Open Integration Package: ``GetUserStatus``.

    Returns the :class:`UserStatus`, ``None`` when the portal stores none (it sends ``false``),
    or ``UserStatus.UNKNOWN`` for a status this version does not know.
    """

    api_method: ClassVar[str] = "im.user.status.get"

    def to_params(self) -> dict[str, Any]:
        """No params: ``{}``.

        >>> GetUserStatus().to_params()
        {}
        """
        return {}

    def parse(self, result: Any) -> UserStatus | None:
        """The status, or ``None`` for ``false``."""
        return UserStatus.from_wire(result)
