"""Typed requests, one frozen class per REST method: ``await b24(GetUsers(active=True))``.

Each class validates its parameters when built (a bad request raises ``ValueError`` or
``TypeError`` and is never sent), knows its REST name (``api_method``), its wire params
(``to_params()``) and how to parse the ``result`` (``parse()``).
"""

from __future__ import annotations

from b24async.methods.app import GetAppInfo
from b24async.methods.base import ListMethod, Method
from b24async.methods.calendar import (
    GetAccessibility,
    GetParticipationStatus,
    SetParticipationStatus,
)
from b24async.methods.events import (
    BindEvent,
    ClearOfflineEvents,
    GetAvailableEvents,
    GetEventHandlers,
    GetOfflineEvents,
    ListOfflineEvents,
    MarkOfflineEventsFailed,
    UnbindEvent,
)
from b24async.methods.im import GetUserStatus, SetUserStatus
from b24async.methods.merging import MergeRule, merge_rule_for
from b24async.methods.user import GetUsers, SetUserActive

__all__ = [
    "BindEvent",
    "ClearOfflineEvents",
    "GetAccessibility",
    "GetAppInfo",
    "GetAvailableEvents",
    "GetEventHandlers",
    "GetOfflineEvents",
    "GetParticipationStatus",
    "GetUserStatus",
    "GetUsers",
    "ListMethod",
    "ListOfflineEvents",
    "MarkOfflineEventsFailed",
    "MergeRule",
    "Method",
    "SetParticipationStatus",
    "SetUserActive",
    "SetUserStatus",
    "UnbindEvent",
    "merge_rule_for",
]
