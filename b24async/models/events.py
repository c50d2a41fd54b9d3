"""The typed, frozen event: what a handler POST or an offline row says happened.

``Event.data`` is typed for the events of this SDK's domain (:class:`CalendarEntryChange` for
``ONCALENDARENTRYADD/UPDATE/DELETE``, :class:`NewUser` for ``ONUSERADD``) and a read-only
mapping for the rest. Online deliveries arrive as all-strings PHP forms with null values and
empty arrays left out; offline rows arrive as JSON with their types (events facts §2.2, §4.1).
Secrets (the application token, access and refresh tokens) never appear in a repr.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import attrs

from b24async.models._convert import FrozenMap

__all__ = [
    "CALENDAR_ENTRY_EVENTS",
    "CalendarEntryChange",
    "Event",
    "EventAuth",
    "EventData",
    "EventParseError",
    "NewUser",
    "OfflineInfo",
    "event_from_form",
    "event_from_offline",
]

CALENDAR_ENTRY_EVENTS = frozenset(
    {"ONCALENDARENTRYADD", "ONCALENDARENTRYUPDATE", "ONCALENDARENTRYDELETE"}
)
"""Calendar entry events; ``data`` is ``{id}`` of the entry (one per meeting copy)."""


class EventParseError(ValueError):
    """A delivery or offline row that is not a well-formed event (the receiver answers 400)."""


@attrs.frozen
class CalendarEntryChange:
    """``data`` of ``ONCALENDARENTRYADD/UPDATE/DELETE``: the ID of the stored entry."""

    id: int


@attrs.frozen
class NewUser:
    """``data`` of ``ONUSERADD``: the new user's record (fields depend on the app's scope).

    ``active`` is ``None`` when the scope does not include it; the portal sends a boolean
    (``"1"``/``"0"`` on the wire) where the docs say ``"Y"``/``"N"``; both are read.
    """

    id: int
    active: bool | None
    name: str
    last_name: str
    email: str
    fields: Mapping[str, Any] = attrs.field(repr=False)
    """Every field as sent (read-only)."""


EventData = CalendarEntryChange | NewUser | Mapping[str, Any]


@attrs.frozen
class EventAuth:
    """The ``auth`` block of a delivery. Tokens are left out of the repr.

    ``user_id``, ``access_token``, ``expires`` and ``scope`` are present only when the event
    carries a user's token; ``refresh_token`` only for events that send one (``ONAPPINSTALL``,
    ``ONOFFLINEEVENT``, calendar events). ``ONAPPUNINSTALL`` has none of them.
    """

    domain: str
    member_id: str
    application_token: str = attrs.field(repr=False)
    user_id: int | None = None
    access_token: str | None = attrs.field(default=None, repr=False)
    refresh_token: str | None = attrs.field(default=None, repr=False)
    expires: dt.datetime | None = None
    scope: tuple[str, ...] = ()
    status: str | None = None
    server_endpoint: str | None = None
    client_endpoint: str | None = None


@attrs.frozen
class OfflineInfo:
    """Where an offline event came from: its queue row."""

    row_id: int
    message_id: str
    user_id: int | None
    """The user whose action caused the latest change (``EVENT_ADDITIONAL.user_id``)."""


@attrs.frozen
class Event:
    """One event, from a handler POST (``auth`` set) or the offline queue (``offline`` set)."""

    name: str
    """The upper-case event code, e.g. ``"ONCALENDARENTRYADD"``."""
    ts: dt.datetime
    """When the portal queued it (aware; UTC for deliveries, the portal's offset offline)."""
    data: EventData
    handler_id: int | None = None
    """``event_handler_id`` of a delivery (None offline)."""
    auth: EventAuth | None = None
    offline: OfflineInfo | None = None


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return FrozenMap({str(k): _freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(item) for item in value)
    return value


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise EventParseError(f"{what} is not an integer")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise EventParseError(f"{what} is not an integer") from None


def _flag(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    text = str(value).upper()
    if text in ("1", "Y", "TRUE"):
        return True
    if text in ("0", "N", "FALSE"):
        return False
    raise EventParseError("ACTIVE is not a boolean")


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def parse_data(name: str, raw: Any) -> EventData:
    """Type ``data`` for the domain events; any other event keeps a read-only mapping."""
    data = raw if isinstance(raw, Mapping) else {}  # empty arrays and nulls are not sent
    if name in CALENDAR_ENTRY_EVENTS:
        if "id" not in data:
            raise EventParseError(f"{name} without data[id]")
        return CalendarEntryChange(_int(data["id"], "data[id]"))
    if name == "ONUSERADD":
        if "ID" not in data:
            raise EventParseError("ONUSERADD without data[ID]")
        return NewUser(
            id=_int(data["ID"], "data[ID]"),
            active=_flag(data.get("ACTIVE")),
            name=_text(data.get("NAME")),
            last_name=_text(data.get("LAST_NAME")),
            email=_text(data.get("EMAIL")),
            fields=_freeze(data),
        )
    frozen: Mapping[str, Any] = _freeze(data)
    return frozen


def _auth(raw: Any) -> EventAuth:
    if not isinstance(raw, Mapping):
        raise EventParseError("no auth block")
    for key in ("member_id", "application_token", "domain"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise EventParseError(f"auth[{key}] is missing")
    expires = raw.get("expires")
    scope = raw.get("scope")
    return EventAuth(
        domain=raw["domain"],
        member_id=raw["member_id"],
        application_token=raw["application_token"],
        user_id=_int(raw["user_id"], "auth[user_id]") if raw.get("user_id") else None,
        access_token=raw.get("access_token") or None,
        refresh_token=raw.get("refresh_token") or None,
        expires=(
            dt.datetime.fromtimestamp(_int(expires, "auth[expires]"), dt.timezone.utc)
            if expires
            else None
        ),
        # The docs say space-separated, real payloads use commas (facts §2.3): read both.
        scope=tuple(s for s in str(scope or "").replace(" ", ",").split(",") if s),
        status=raw.get("status") or None,
        server_endpoint=raw.get("server_endpoint") or None,
        client_endpoint=raw.get("client_endpoint") or None,
    )


def event_from_form(form: Mapping[str, Any]) -> Event:
    """An :class:`Event` from a parsed delivery form; :class:`EventParseError` if malformed."""
    name = form.get("event")
    if not isinstance(name, str) or not name:
        raise EventParseError("no event name")
    name = name.upper()
    ts = form.get("ts")
    handler = form.get("event_handler_id")
    return Event(
        name=name,
        ts=dt.datetime.fromtimestamp(_int(ts, "ts"), dt.timezone.utc),
        data=parse_data(name, form.get("data")),
        handler_id=_int(handler, "event_handler_id") if handler not in (None, "") else None,
        auth=_auth(form.get("auth")),
    )


def event_from_offline(row: Mapping[str, Any]) -> Event:
    """An :class:`Event` from an ``event.offline.get`` row."""
    try:
        name = str(row["EVENT_NAME"]).upper()
        ts = dt.datetime.fromisoformat(str(row["TIMESTAMP_X"]))
        message_id = str(row["MESSAGE_ID"])
        row_id = _int(row["ID"], "ID")
    except (KeyError, ValueError) as error:
        raise EventParseError(f"not an offline event row: {error}") from None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=dt.timezone.utc)
    additional = row.get("EVENT_ADDITIONAL")
    user = additional.get("user_id") if isinstance(additional, Mapping) else None
    return Event(
        name=name,
        ts=ts,
        data=parse_data(name, row.get("EVENT_DATA")),
        offline=OfflineInfo(row_id, message_id, _int(user, "user_id") if user else None),
    )
