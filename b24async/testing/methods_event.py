"""The event methods: ``events``, ``event.*`` and ``event.offline.*`` (events facts §1, §4).

Every method is for OAuth apps only (403 ``WRONG_AUTH_TYPE`` otherwise); the offline ones are
for admins only (403 ``ACCESS_DENIED``). The handlers read and change the portal's
:class:`~b24async.testing.events.EventHub` (``state.events``).
"""

from __future__ import annotations

import datetime as dt
import re
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from b24async.testing.events import EVENT_SCOPES, Cause, EventHub
from b24async.testing.methods_common import (
    PAGE_SIZE,
    CallContext,
    MethodFailure,
    MethodResult,
    list_values,
    parse_date,
    php_empty,
    php_intval,
    php_str,
    php_truthy,
    upper_keys,
)
from b24async.testing.offline_queue import OfflineRow, field_value, row_json
from b24async.testing.state import PortalState

__all__ = ["EVENT_METHODS"]

_DENIED = "Access denied!"


def _hub(state: PortalState, ctx: CallContext) -> EventHub:
    if not ctx.app:
        raise MethodFailure(
            403, "WRONG_AUTH_TYPE", "Current authorization type is denied for this method"
        )
    assert state.events is not None, "the FakePortal sets state.events"
    return state.events


def _admin(state: PortalState, ctx: CallContext, why: str = "") -> None:
    if not state.is_admin(ctx.user_id):
        raise MethodFailure(403, "ACCESS_DENIED", f"{_DENIED} {why}".strip())


def _argument(name: str, text: str | None = None) -> MethodFailure:
    return MethodFailure(400, "ERROR_ARGUMENT", text or f"Argument '{name}' is null or empty")


def _scopes(state: PortalState, hub: EventHub) -> set[str]:
    return {"", *hub.app.scope.split(",")}


def events(state: PortalState, params: Mapping[str, Any], ctx: CallContext) -> MethodResult:
    """``events``: names of the events of the token's scopes plus global ones (or all)."""
    hub = _hub(state, ctx)
    upper = upper_keys(params)
    if not php_empty(upper.get("SCOPE")):
        wanted = {php_str(upper["SCOPE"])}
    elif php_truthy(upper.get("FULL")):
        wanted = set(EVENT_SCOPES.values())
    else:
        wanted = _scopes(state, hub)
    return MethodResult(result=[name for name, scope in EVENT_SCOPES.items() if scope in wanted])


def _check_url(url: str) -> None:
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if "." not in host or host.startswith("."):
        raise MethodFailure(400, "ERROR_WRONG_HANDLER_URL", "Wrong handler URL")
    if parts.scheme not in ("http", "https"):
        raise MethodFailure(400, "ERROR_UNSUPPORTED_PROTOCOL", "Unsupported protocol")


def _event_type(upper: Mapping[str, Any]) -> bool:
    kind = php_str(upper.get("EVENT_TYPE", "online")).lower() or "online"
    if kind not in ("online", "offline"):
        raise _argument("EVENT_TYPE", "Value must be one of {online|offline}")
    return kind == "offline"


def _target(upper: Mapping[str, Any]) -> tuple[str, bool, str]:
    """``EVENT``, ``EVENT_TYPE`` and ``HANDLER`` of a bind or unbind, checked in that order."""
    name = php_str(upper.get("EVENT")).upper()
    if not name:
        raise _argument("EVENT")
    offline = _event_type(upper)
    handler = "" if offline else php_str(upper.get("HANDLER"))
    if not offline and not handler:
        raise _argument("HANDLER")
    return name, offline, handler


def event_bind(state: PortalState, params: Mapping[str, Any], ctx: CallContext) -> MethodResult:
    """``event.bind``: checks in the server's order (§1.2); the result is ``true``."""
    hub = _hub(state, ctx)
    upper = upper_keys(params)
    name, offline, handler = _target(upper)
    admin = state.is_admin(ctx.user_id)
    user_id = php_intval(upper.get("AUTH_TYPE", 0))
    if offline:
        if not admin:
            raise MethodFailure(
                403,
                "ACCESS_DENIED",
                f"{_DENIED} Offline events binding requires administrator access rights",
            )
        user_id = 0
    elif not admin:
        if user_id not in (0, ctx.user_id):
            raise MethodFailure(
                403,
                "ACCESS_DENIED",
                f"{_DENIED} Event binding with AUTH_TYPE requires administrator access rights",
            )
        user_id = ctx.user_id
    if not offline:
        _check_url(handler)
    if EVENT_SCOPES.get(name) not in _scopes(state, hub):
        raise MethodFailure(400, "ERROR_EVENT_NOT_FOUND", "Event not found")
    if offline and name == "ONOFFLINEEVENT":
        raise _argument("EVENT_TYPE", "Offline event cannot be registered for this event.")
    key = (name, handler, user_id, ctx.connector)
    if any((r.event, r.handler, r.user_id, r.connector) == key for r in hub.handlers):
        raise MethodFailure(
            400, "ERROR_CORE", "Unable to set event handler: Handler already binded"
        )
    row = hub.add_handler(name, handler, user_id, ctx.connector, offline=offline)
    options = upper.get("OPTIONS")
    if isinstance(options, dict) and name == "ONOFFLINEEVENT" and "minTimeout" in options:
        row.options["minTimeout"] = php_intval(options["minTimeout"])  # the only whitelisted one
    return MethodResult(result=True)


def event_unbind(state: PortalState, params: Mapping[str, Any], ctx: CallContext) -> MethodResult:
    """``event.unbind``: ``{"count": n}``, 0 when nothing matched (not an error; §1.3)."""
    hub = _hub(state, ctx)
    upper = upper_keys(params)
    name, offline, handler = _target(upper)
    admin = state.is_admin(ctx.user_id)
    if offline and not admin:
        raise MethodFailure(
            403,
            "ACCESS_DENIED",
            f"{_DENIED} Offline events unbinding requires administrator access rights",
        )
    matches: Callable[[int], bool]
    if "AUTH_TYPE" in upper:
        raw = upper["AUTH_TYPE"]
        if not admin and raw != ctx.user_id:  # PHP's strict !== against an int (§1.3 quirk)
            raise MethodFailure(
                403,
                "ACCESS_DENIED",
                f"{_DENIED} Event unbinding with AUTH_TYPE requires administrator access rights",
            )
        wanted = php_intval(raw)
        matches = wanted.__eq__
    else:
        matches = (lambda _user: True) if admin else ctx.user_id.__eq__
    connector = ctx.connector if offline else None
    gone = [
        row
        for row in hub.handlers
        if row.event == name
        and row.handler == handler
        and row.offline == offline
        and matches(row.user_id)
        and (connector is None or row.connector == connector)
    ]
    hub.handlers = [row for row in hub.handlers if row not in gone]
    return MethodResult(result={"count": len(gone)})


def event_get(state: PortalState, params: Mapping[str, Any], ctx: CallContext) -> MethodResult:
    """``event.get``: the app's handler rows by ID, without IDs (§1.4)."""
    hub = _hub(state, ctx)
    admin = state.is_admin(ctx.user_id)
    rows: list[dict[str, Any]] = []
    for row in hub.handlers:
        if not admin and row.user_id != ctx.user_id:
            continue
        if row.offline:
            rows.append({"event": row.event, "connector_id": row.connector, "offline": 1})
        else:
            rows.append(
                {
                    "event": row.event,
                    "handler": row.handler,
                    "auth_type": str(row.user_id),
                    "offline": 0,
                }
            )
    return MethodResult(result=rows)


def event_test(state: PortalState, params: Mapping[str, Any], ctx: CallContext) -> MethodResult:
    """``event.test``: ``ONAPPTEST`` to this app's handlers; the result is ``1``."""
    hub = _hub(state, ctx)
    data = {"QUERY": dict(params), "LANGUAGE_ID": "en"}
    hub.fire("ONAPPTEST", data, Cause(ctx.user_id, by_app=True, connector=ctx.connector))
    return MethodResult(result=1)


# -- offline --------------------------------------------------------------------------------

_GET_FIELDS = ("ID", "TIMESTAMP_X", "EVENT_NAME", "MESSAGE_ID")
_LIST_FIELDS = (*_GET_FIELDS, "PROCESS_ID", "ERROR")
_OPERATORS = (">=", "<=", "=", ">", "<", "@", "%", "")
_MD5 = re.compile(r"[0-9a-f]{32}")


def _offline_hub(state: PortalState, ctx: CallContext) -> EventHub:
    hub = _hub(state, ctx)
    _admin(state, ctx)
    return hub


def _comparable(field: str, value: Any, zone: dt.tzinfo) -> Any:
    if field in ("ID", "ERROR"):
        return php_intval(value)
    if field == "TIMESTAMP_X":
        parsed = parse_date(value)
        return parsed.instant(zone).timestamp() if parsed is not None else 0.0
    return php_str(value)


def _filter(raw: Any, fields: tuple[str, ...], zone: dt.tzinfo) -> Callable[[OfflineRow], bool]:
    if php_empty(raw):
        return lambda _row: True
    if not isinstance(raw, dict):
        raise _argument("FILTER", "Filter must be an array")
    tests: list[Callable[[OfflineRow], bool]] = []
    for key, value in raw.items():
        text = str(key).upper()
        op = next(op for op in _OPERATORS if text.startswith(op))
        field = text[len(op) :]
        if field not in fields:
            raise _argument("FILTER", f"Filter field not allowed: {field}")
        tests.append(_test(op, field, value, zone))
    return lambda row: all(test(row) for test in tests)


def _test(op: str, field: str, value: Any, zone: dt.tzinfo) -> Callable[[OfflineRow], bool]:
    if op == "@":
        options = {_comparable(field, item, zone) for item in list_values(value) or [value]}
        return lambda row: field_value(row, field) in options
    wanted = _comparable(field, value, zone)
    if op == "%":
        return lambda row: str(wanted).lower() in str(field_value(row, field)).lower()
    compare: dict[str, Callable[[Any, Any], bool]] = {
        "": lambda a, b: a == b,
        "=": lambda a, b: a == b,
        ">": lambda a, b: a > b,
        "<": lambda a, b: a < b,
        ">=": lambda a, b: a >= b,
        "<=": lambda a, b: a <= b,
    }
    check = compare[op]
    return lambda row: check(field_value(row, field), wanted)


def _order(raw: Any, fields: tuple[str, ...], default: str) -> list[tuple[str, bool]]:
    if php_empty(raw):
        return [(default, False)]
    if not isinstance(raw, dict):
        raise _argument("ORDER", "Order must be an array")
    order = []
    for key, direction in raw.items():
        field = str(key).upper()
        if field not in fields:
            raise _argument("ORDER", f"Order field not allowed: {field}")
        text = php_str(direction).upper()
        if text not in ("ASC", "DESC"):
            raise _argument("ORDER", f"Order direction not allowed: {text}")
        order.append((field, text == "DESC"))
    return order


def _sorted(rows: list[OfflineRow], order: list[tuple[str, bool]]) -> list[OfflineRow]:
    rows = sorted(rows, key=lambda row: row.id)
    for field, descending in reversed(order):
        rows.sort(key=lambda row: field_value(row, field), reverse=descending)
    return rows


def event_offline_get(
    state: PortalState, params: Mapping[str, Any], ctx: CallContext
) -> MethodResult:
    """``event.offline.get``: mark (unless ``process_id``), read, delete when ``clear`` (§4.2)."""
    hub = _offline_hub(state, ctx)
    upper = upper_keys(params)
    clear = php_truthy(upper.get("CLEAR", 1))
    if not clear and not hub.offline_extended:
        raise MethodFailure(
            403,
            "WRONG_LICENSE",
            "This feature is not enabled for the current license: extended offline events handling",
        )
    limit = php_intval(upper.get("LIMIT", PAGE_SIZE))
    if limit <= 0:
        raise _argument("LIMIT", "Value must be positive integer")
    error = php_truthy(upper.get("ERROR", 0))
    keep = _filter(upper.get("FILTER"), _GET_FIELDS, state.timezone)
    order = _order(upper.get("ORDER"), _GET_FIELDS, "TIMESTAMP_X")
    process_id = php_str(upper.get("PROCESS_ID"))
    if not process_id:
        free = [
            row
            for row in hub.offline.rows(ctx.connector)
            if not row.process_id and row.error == error and keep(row)
        ]
        process_id = hub.offline.reserve(_sorted(free, order)[:limit])
        given = False
    else:
        given = True
    rows = _sorted(hub.offline.reserved(process_id, ctx.connector, error=error), order)[:limit]
    body = [row_json(row, state.timezone, listing=False) for row in rows]
    if clear:
        hub.offline.delete(rows)
    answer = process_id if (given or not clear) else None
    return MethodResult(result={"process_id": answer, "events": body})


def _message_ids(upper: Mapping[str, Any], *, required: bool) -> list[str] | None:
    if "MESSAGE_ID" not in upper:
        if required:
            raise _argument("MESSAGE_ID", "Value must be array of MESSAGE_ID values")
        return None
    values = list_values(upper["MESSAGE_ID"])
    if values is None or not all(_MD5.fullmatch(php_str(v).lower() or "-") for v in values):
        raise _argument("MESSAGE_ID", "Value must be array of MESSAGE_ID values")
    return [php_str(v).lower() for v in values]


def event_offline_clear(
    state: PortalState, params: Mapping[str, Any], ctx: CallContext
) -> MethodResult:
    """``event.offline.clear``: delete rows of one process id; ``message_id`` wins over ``id``."""
    hub = _offline_hub(state, ctx)
    upper = upper_keys(params)
    process_id = php_str(upper.get("PROCESS_ID"))
    if not process_id:
        raise _argument("PROCESS_ID")
    rows = [row for row in hub.offline.rows(ctx.connector) if row.process_id == process_id]
    message_ids = _message_ids(upper, required=False)
    if message_ids is not None:
        rows = [row for row in rows if row.message_id in message_ids]
    elif "ID" in upper:
        values = list_values(upper["ID"])
        ids = [php_intval(v) for v in values or []]
        if values is None or any(i <= 0 for i in ids):
            raise _argument("ID", "Value must be array of integers")
        rows = [row for row in rows if row.id in ids]
    hub.offline.delete(rows)
    return MethodResult(result=True)


def event_offline_error(
    state: PortalState, params: Mapping[str, Any], ctx: CallContext
) -> MethodResult:
    """``event.offline.error``: move listed rows of a process to the error set (§4.4)."""
    hub = _offline_hub(state, ctx)
    upper = upper_keys(params)
    process_id = php_str(upper.get("PROCESS_ID"))
    if not process_id:
        raise _argument("PROCESS_ID")
    message_ids = _message_ids(upper, required=True) or []
    hub.offline.mark_error(process_id, ctx.connector, message_ids)
    return MethodResult(result=True)


def event_offline_list(
    state: PortalState, params: Mapping[str, Any], ctx: CallContext
) -> MethodResult:
    """``event.offline.list``: every row (reserved and error too), 50 a page (§4.5)."""
    hub = _offline_hub(state, ctx)
    upper = upper_keys(params)
    keep = _filter(upper.get("FILTER"), _LIST_FIELDS, state.timezone)
    order = _order(upper.get("ORDER"), _LIST_FIELDS, "ID")
    rows = _sorted([row for row in hub.offline.rows(ctx.connector) if keep(row)], order)
    offset = max(ctx.start or 0, 0)
    page = rows[offset : offset + PAGE_SIZE]
    nxt = offset + PAGE_SIZE if offset + PAGE_SIZE < len(rows) else None
    body = [row_json(row, state.timezone, listing=True) for row in page]
    return MethodResult(result=body, total=len(rows), next=nxt)


EVENT_METHODS: Mapping[str, Callable[[PortalState, Mapping[str, Any], CallContext], Any]] = {
    "events": events,
    "event.bind": event_bind,
    "event.unbind": event_unbind,
    "event.get": event_get,
    "event.test": event_test,
    "event.offline.get": event_offline_get,
    "event.offline.clear": event_offline_clear,
    "event.offline.error": event_offline_error,
    "event.offline.list": event_offline_list,
}
"""The methods of this module by REST name (all in the global scope)."""
