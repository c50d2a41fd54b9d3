"""``calendar.event.update``/``delete`` (the writes that fire calendar events) and ``getbyid``.

A meeting is stored as one entry per participant; changing or deleting the host's (parent)
entry changes or deletes every copy, and each copy fires its own event (events facts §5.2).
Only the descriptive fields can be updated here (``name``, ``description``, ``accessibility``,
``importance``); moving an entry in time is not modelled.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from b24async.testing.data import CalendarEvent
from b24async.testing.methods_calendar import _event_dict, _ViewerOffsets
from b24async.testing.methods_common import (
    CallContext,
    MethodFailure,
    MethodResult,
    php_intval,
    php_str,
)
from b24async.testing.state import PortalState

__all__ = ["calendar_event_delete", "calendar_event_getbyid", "calendar_event_update"]

_ACCESSIBILITY = ("busy", "absent", "quest", "free")
_IMPORTANCE = ("high", "normal", "low")


def _copies(state: PortalState, event: CalendarEvent) -> list[CalendarEvent]:
    """The entry and, for a meeting's parent, every attendee's copy."""
    if event.meeting is None or event.id != event.parent_id:
        return [event]
    found = (state.find_event(entry_id) for entry_id in event.meeting.entry_ids)
    return [copy for copy in found if copy is not None]


def _editable(state: PortalState, event_id: int, ctx: CallContext, error: str) -> CalendarEvent:
    event = state.find_event(event_id) if event_id > 0 else None
    if event is None:
        raise MethodFailure(400, "", error)
    if event.owner_id != ctx.user_id and not state.is_admin(ctx.user_id):
        raise MethodFailure(400, "", "Access denied")
    return event


def calendar_event_update(
    state: PortalState, params: Mapping[str, Any], ctx: CallContext
) -> MethodResult:
    """``calendar.event.update``: change an entry (and a meeting's copies); result: its ID."""
    method = "calendar.event.update"
    for name in ("id", "ownerId", "type"):
        if params.get(name) in (None, ""):
            raise MethodFailure(400, "", f'The parameter "{name}" is required ({method})')
    if php_str(params["type"]) != "user":
        raise MethodFailure(400, "", "CAL_REST_SECTION_ERROR")
    event_id = php_intval(params["id"])
    event = _editable(state, event_id, ctx, "CAL_REST_EVENT_UPDATE_ERROR")
    if php_intval(params["ownerId"]) != event.owner_id:
        raise MethodFailure(400, "", "CAL_REST_EVENT_UPDATE_ERROR")
    change: dict[str, Any] = {}
    if params.get("name") is not None:
        change["name"] = php_str(params["name"]).strip()
    if params.get("description") is not None:
        change["description"] = php_str(params["description"]).strip()
    if php_str(params.get("accessibility")) in _ACCESSIBILITY:
        change["accessibility"] = php_str(params["accessibility"])
    if php_str(params.get("importance")) in _IMPORTANCE:
        change["importance"] = php_str(params["importance"])
    copies = _copies(state, event)
    for copy in copies:
        state.replace_event(attrs.evolve(copy, **change))
    ledger = {key.upper(): value for key, value in change.items()}
    ledger["ENTRY_IDS"] = [copy.id for copy in copies]
    state.record(method, ctx.user_id, f"event:{event_id}", ledger, ctx.now)
    return MethodResult(result=event_id)


def calendar_event_delete(
    state: PortalState, params: Mapping[str, Any], ctx: CallContext
) -> MethodResult:
    """``calendar.event.delete``: remove an entry (a meeting's parent takes its copies along)."""
    method = "calendar.event.delete"
    if params.get("id") in (None, ""):
        raise MethodFailure(400, "", f'The parameter "id" is required ({method})')
    event_id = php_intval(params["id"])
    event = _editable(state, event_id, ctx, "CAL_REST_EVENT_DELETE_ERROR")
    copies = _copies(state, event)
    for copy in copies:
        state.delete_event(copy.id)
    change = {"ENTRY_IDS": [copy.id for copy in copies]}
    state.record(method, ctx.user_id, f"event:{event_id}", change, ctx.now)
    return MethodResult(result=True)


def calendar_event_getbyid(
    state: PortalState, params: Mapping[str, Any], ctx: CallContext
) -> MethodResult:
    """``calendar.event.getbyid``: one entry in the ``calendar.event.get`` shape.

    An unknown or deleted ID is an error here (the fake's reading; the docs do not say).
    """
    if params.get("id") in (None, ""):
        raise MethodFailure(400, "", 'The parameter "id" is required (calendar.event.getbyid)')
    event = state.find_event(php_intval(params["id"]))
    if event is None:
        raise MethodFailure(400, "", "Event not found")
    offsets = _ViewerOffsets(state, ctx.user_id)
    return MethodResult(result=_event_dict(state, event, offsets.of(event)))
