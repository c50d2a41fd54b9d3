"""The REST methods the fake portal serves: one pure, synchronous handler per method.

This is layer 2 of the seam described in ``docs/portal-contract.md``. The HTTP layer looks a
method up with :func:`lookup`, calls ``spec.handler(state, params, ctx)`` and turns a
:class:`MethodResult` into ``{"result", "total", "next"}`` or a :class:`MethodFailure` into
``{"error", "error_description"}`` with its HTTP status. Handlers never sleep, never look at
HTTP and never check limits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import attrs

from b24async.testing.methods_accessibility import calendar_accessibility_get
from b24async.testing.methods_app import app_info
from b24async.testing.methods_calendar import (
    calendar_event_add,
    calendar_event_get,
    calendar_meeting_status_get,
    calendar_meeting_status_set,
)
from b24async.testing.methods_calendar_edit import (
    calendar_event_delete,
    calendar_event_getbyid,
    calendar_event_update,
)
from b24async.testing.methods_common import CallContext, Handler, MethodFailure, MethodResult
from b24async.testing.methods_event import EVENT_METHODS
from b24async.testing.methods_im import im_user_status_get, im_user_status_set
from b24async.testing.methods_user import department_get, user_current, user_get, user_update
from b24async.testing.state import PortalState

__all__ = [
    "METHODS",
    "CallContext",
    "Handler",
    "MethodFailure",
    "MethodResult",
    "MethodSpec",
    "lookup",
    "server_time",
]


@attrs.frozen
class MethodSpec:
    """One served method: its lower-case REST name, handler, scope and whether it writes."""

    name: str
    handler: Handler
    scope: str
    writes: bool


def server_time(state: PortalState, params: Mapping[str, Any], ctx: CallContext) -> MethodResult:
    """``server.time``: the call's time in ISO-8601 with the portal's offset."""
    return MethodResult(result=dt.datetime.fromtimestamp(int(ctx.now), state.timezone).isoformat())


def _spec(name: str, handler: Handler, scope: str, *, writes: bool = False) -> MethodSpec:
    return MethodSpec(name=name, handler=handler, scope=scope, writes=writes)


METHODS: Mapping[str, MethodSpec] = {
    spec.name: spec
    for spec in (
        _spec("user.get", user_get, "user"),
        _spec("user.current", user_current, "user"),
        _spec("user.update", user_update, "user", writes=True),
        _spec("department.get", department_get, "department"),
        _spec("calendar.accessibility.get", calendar_accessibility_get, "calendar"),
        _spec("calendar.meeting.status.get", calendar_meeting_status_get, "calendar"),
        _spec("calendar.meeting.status.set", calendar_meeting_status_set, "calendar", writes=True),
        _spec("calendar.event.add", calendar_event_add, "calendar", writes=True),
        _spec("calendar.event.get", calendar_event_get, "calendar"),
        _spec("calendar.event.update", calendar_event_update, "calendar", writes=True),
        _spec("calendar.event.delete", calendar_event_delete, "calendar", writes=True),
        _spec("calendar.event.getbyid", calendar_event_getbyid, "calendar"),
        _spec("im.user.status.set", im_user_status_set, "im", writes=True),
        _spec("im.user.status.get", im_user_status_get, "im"),
        _spec("server.time", server_time, "base"),
        _spec("app.info", app_info, "base"),
        *(_spec(name, handler, "base") for name, handler in EVENT_METHODS.items()),
    )
}
"""Every served method, keyed by lower-case name."""


def lookup(name: str) -> MethodSpec | None:
    """The method called ``name`` (any case), or None if the portal does not serve it."""
    return METHODS.get(name.lower())
