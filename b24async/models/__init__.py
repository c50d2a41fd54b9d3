"""Typed, frozen results of Bitrix24 REST methods, parsed by ``from_wire`` named constructors.

Wire values are converted in one place, :mod:`b24async.models._convert`. Unknown server fields
are kept in each model's read-only ``extra`` mapping; unknown enum values parse as the enum's
``UNKNOWN`` member (see :mod:`b24async.models.calendar`).
"""

from __future__ import annotations

from b24async.models.app import AppInfo
from b24async.models.calendar import (
    Accessibility,
    Availability,
    BusyInterval,
    Importance,
    ParticipationStatus,
)
from b24async.models.im import UserStatus
from b24async.models.slots import Slot, WorkingHours
from b24async.models.user import User

__all__ = [
    "Accessibility",
    "AppInfo",
    "Availability",
    "BusyInterval",
    "Importance",
    "ParticipationStatus",
    "Slot",
    "User",
    "UserStatus",
    "WorkingHours",
]
