"""Messenger results: the current user's status (``im.user.status.*``)."""

from __future__ import annotations

from enum import Enum
from typing import Any

from b24async.models import _convert as cv

__all__ = ["UserStatus"]


class UserStatus(str, Enum):
    """The messenger status of the current user; wire values are lower case and case-sensitive.

    ``BREAK`` is in current docs and CORE but not in older portals. ``UNKNOWN`` stands for a
    status this version does not know when *reading* one; it can never be set.
    """

    ONLINE = "online"
    DND = "dnd"
    AWAY = "away"
    BREAK = "break"
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def settable(cls) -> tuple[UserStatus, ...]:
        """The statuses ``im.user.status.set`` accepts (every member but ``UNKNOWN``)."""
        return tuple(s for s in cls if s is not cls.UNKNOWN)

    @classmethod
    def from_wire(cls, raw: Any) -> UserStatus | None:
        """Parse ``im.user.status.get``; ``false``/``null``/``""`` (none stored) give ``None``.

        >>> UserStatus.from_wire("dnd"), UserStatus.from_wire(False)
        (<UserStatus.DND: 'dnd'>, None)
        """
        if raw is None or raw is False or raw == "":
            return None
        return cv.as_enum(cls, raw, cls.UNKNOWN)
