"""Typed event requests: subscribing (``event.bind``...), the offline queue (``event.offline.*``).

Every one of these methods needs an OAuth app: a webhook client gets
:class:`~b24async.errors.WrongAuthType` (HTTP 403 ``WRONG_AUTH_TYPE``). The ``event.offline.*``
methods also need an admin's token. Use :meth:`b24async.Bitrix24.offline_events` rather than the
offline requests directly: it reserves, yields and clears for you.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import attrs

from b24async.methods.base import ListMethod, Method, validate_bool
from b24async.models import _convert as cv
from b24async.models.events import Event, event_from_offline

__all__ = [
    "BindEvent",
    "ClearOfflineEvents",
    "EventHandler",
    "GetAvailableEvents",
    "GetEventHandlers",
    "GetOfflineEvents",
    "ListOfflineEvents",
    "MarkOfflineEventsFailed",
    "OfflineBatch",
    "OfflineRow",
    "UnbindEvent",
]


def _event_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"event must be a non-empty event code such as 'ONUSERADD', got {value!r}")
    return value.strip().upper()


def _handler_url(instance: Any, attribute: attrs.Attribute[Any], value: str | None) -> None:
    offline = getattr(instance, "offline", False)
    if offline and value is not None:
        raise ValueError("an offline handler has no URL: leave handler=None")
    if not offline:
        if not isinstance(value, str) or not value.startswith(("http://", "https://")):
            raise ValueError(f"handler must be an http(s) URL for an online handler, got {value!r}")
        if len(value) > 255:
            raise ValueError("handler URL longer than 255 characters (the portal stores 255)")


def _opt_user(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"auth_type must be a user ID (int >= 0) or None, got {value!r}")
    return value


def _connector(value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or not value):
        raise ValueError(f"connector must be a non-empty string or None, got {value!r}")
    return value


def _with_connector(params: dict[str, Any], connector: str | None) -> dict[str, Any]:
    if connector is not None:
        params["auth_connector"] = connector
    return params


@attrs.frozen
class BindEvent(Method[bool]):
    """Subscribe a handler: ``event.bind``. Returns ``True``.

    Online (default): the portal POSTs each event to ``handler``. Offline (``offline=True``,
    admin only, no handler): events are queued on the portal for ``b24.offline_events()``.
    ``auth_type`` is the user whose token the handler receives (None: the acting user).
    ``min_timeout`` (seconds) applies to ``ONOFFLINEEVENT`` only: notifications within that
    time of the previous one are dropped. ``connector`` is the ``auth_connector`` (a separate
    offline queue; writes carrying the same connector are not queued for it).

    Binding the same event, URL, user and connector twice fails with ``ERROR_CORE``
    ("Handler already binded").
    """

    api_method: ClassVar[str] = "event.bind"

    event: str = attrs.field(converter=_event_name)
    handler: str | None = attrs.field(default=None, kw_only=True)
    offline: bool = attrs.field(default=False, kw_only=True, validator=validate_bool)
    auth_type: int | None = attrs.field(default=None, kw_only=True, converter=_opt_user)
    min_timeout: int | None = attrs.field(default=None, kw_only=True)
    connector: str | None = attrs.field(default=None, kw_only=True, converter=_connector)

    def __attrs_post_init__(self) -> None:
        _handler_url(self, attrs.fields(BindEvent).handler, self.handler)
        if self.min_timeout is not None:
            if self.event != "ONOFFLINEEVENT":
                raise ValueError("min_timeout applies to ONOFFLINEEVENT only")
            if isinstance(self.min_timeout, bool) or not isinstance(self.min_timeout, int):
                raise TypeError(f"min_timeout must be an int, got {self.min_timeout!r}")
            if self.min_timeout < 0:
                raise ValueError(f"min_timeout must be >= 0, got {self.min_timeout}")
        if self.offline and self.event == "ONOFFLINEEVENT":
            raise ValueError("ONOFFLINEEVENT cannot itself be offline: bind it with a handler URL")

    def to_params(self) -> dict[str, Any]:
        """``{"event": ..., "handler": ..., "event_type": ...}`` and the optional keys.

        >>> BindEvent("onUserAdd", handler="https://example.com/b24").to_params()
        {'event': 'ONUSERADD', 'event_type': 'online', 'handler': 'https://example.com/b24'}
        """
        params: dict[str, Any] = {
            "event": self.event,
            "event_type": "offline" if self.offline else "online",
        }
        if self.handler is not None:
            params["handler"] = self.handler
        if self.auth_type is not None:
            params["auth_type"] = self.auth_type
        if self.min_timeout is not None:
            params["options"] = {"minTimeout": self.min_timeout}
        return _with_connector(params, self.connector)

    def parse(self, result: Any) -> bool:
        """``True``."""
        return cv.as_bool(result, self.api_method)


@attrs.frozen
class UnbindEvent(Method[int]):
    """Unsubscribe: ``event.unbind``. Returns how many handler rows were removed (0 is fine).

    ``auth_type=None`` removes the rows of every user (admin) or your own (others); ``0``
    removes only the rows bound "as the acting user".
    """

    api_method: ClassVar[str] = "event.unbind"

    event: str = attrs.field(converter=_event_name)
    handler: str | None = attrs.field(default=None, kw_only=True)
    offline: bool = attrs.field(default=False, kw_only=True, validator=validate_bool)
    auth_type: int | None = attrs.field(default=None, kw_only=True, converter=_opt_user)
    connector: str | None = attrs.field(default=None, kw_only=True, converter=_connector)

    def __attrs_post_init__(self) -> None:
        _handler_url(self, attrs.fields(UnbindEvent).handler, self.handler)

    def to_params(self) -> dict[str, Any]:
        """The wire params.

        >>> UnbindEvent("ONUSERADD", offline=True).to_params()
        {'event': 'ONUSERADD', 'event_type': 'offline'}
        """
        params: dict[str, Any] = {
            "event": self.event,
            "event_type": "offline" if self.offline else "online",
        }
        if self.handler is not None:
            params["handler"] = self.handler
        if self.auth_type is not None:
            params["auth_type"] = self.auth_type
        return _with_connector(params, self.connector)

    def parse(self, result: Any) -> int:
        """``result.count``."""
        return cv.as_int(cv.as_map(result, self.api_method).get("count"), "count")


@attrs.frozen
class EventHandler:
    """One bound handler as ``event.get`` lists it (the portal does not say its ID)."""

    event: str
    offline: bool
    handler: str | None = None
    """The URL (online handlers)."""
    auth_type: int = 0
    """Whose token it receives; 0: the acting user's."""
    connector: str = ""
    """The ``auth_connector`` (offline handlers)."""


@attrs.frozen
class GetEventHandlers(Method[list[EventHandler]]):
    """The app's bound handlers: ``event.get`` (a non-admin sees only their own)."""

    api_method: ClassVar[str] = "event.get"

    def to_params(self) -> dict[str, Any]:
        """No params."""
        return {}

    def parse(self, result: Any) -> list[EventHandler]:
        """One :class:`EventHandler` per row."""
        rows = []
        for raw in cv.as_list(result, self.api_method):
            row = cv.as_map(raw, self.api_method)
            offline = cv.as_bool(row.get("offline", 0), "offline")
            rows.append(
                EventHandler(
                    event=str(row.get("event", "")).upper(),
                    offline=offline,
                    handler=None if offline else str(row.get("handler", "")),
                    auth_type=0 if offline else cv.as_int(row.get("auth_type", 0), "auth_type"),
                    connector=str(row.get("connector_id") or ""),
                )
            )
        return rows


@attrs.frozen
class GetAvailableEvents(Method[list[str]]):
    """Event codes the app may bind: ``events`` (its scopes and global ones by default).

    ``scope`` lists one scope's events; ``full=True`` every event of the portal.
    """

    api_method: ClassVar[str] = "events"

    scope: str | None = None
    full: bool = attrs.field(default=False, kw_only=True, validator=validate_bool)

    def to_params(self) -> dict[str, Any]:
        """``{"SCOPE": scope}`` or ``{"FULL": True}`` or ``{}``."""
        if self.scope is not None:
            return {"SCOPE": self.scope}
        return {"FULL": True} if self.full else {}

    def parse(self, result: Any) -> list[str]:
        """Upper-case event codes."""
        return [str(name).upper() for name in cv.as_list(result, self.api_method)]


# -- the offline queue ----------------------------------------------------------------------


def _positive(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{attribute.name} must be a positive int, got {value!r}")


def _process_id(value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or not value):
        raise ValueError(f"process_id must be a non-empty string, got {value!r}")
    return value


def _message_ids(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        raise TypeError("message_ids must be a sequence of MESSAGE_ID strings, not one string")
    ids = tuple(value)
    for item in ids:
        if not isinstance(item, str) or len(item) != 32:
            raise ValueError(f"a MESSAGE_ID is 32 characters, got {item!r}")
    return ids


@attrs.frozen
class OfflineBatch:
    """What ``event.offline.get`` returned: the batch's process ID and its events."""

    process_id: str | None
    """None when the rows were deleted on read (``clear=True`` without a process ID)."""
    events: tuple[Event, ...]


@attrs.frozen
class GetOfflineEvents(Method[OfflineBatch]):
    """Read the offline queue: ``event.offline.get`` (admin).

    ``clear=False`` reserves up to ``limit`` rows under a new process ID (they stay until
    cleared; needs the ``rest_offline_extended`` licence, else ``WRONG_LICENSE``); ``clear=True``
    deletes what it returns. With ``process_id``, no new rows are reserved: it re-reads that
    batch (and deletes it if ``clear``). ``error=True`` reads rows marked failed.
    """

    api_method: ClassVar[str] = "event.offline.get"

    limit: int = attrs.field(default=50, validator=_positive)
    clear: bool = attrs.field(default=True, kw_only=True, validator=validate_bool)
    process_id: str | None = attrs.field(default=None, kw_only=True, converter=_process_id)
    error: bool = attrs.field(default=False, kw_only=True, validator=validate_bool)
    connector: str | None = attrs.field(default=None, kw_only=True, converter=_connector)

    def to_params(self) -> dict[str, Any]:
        """The wire params.

        >>> GetOfflineEvents(10, clear=False).to_params()
        {'limit': 10, 'clear': 0, 'error': 0}
        """
        params: dict[str, Any] = {
            "limit": self.limit,
            "clear": int(self.clear),
            "error": int(self.error),
        }
        if self.process_id is not None:
            params["process_id"] = self.process_id
        return _with_connector(params, self.connector)

    def parse(self, result: Any) -> OfflineBatch:
        """The process ID and the rows as :class:`~b24async.events.Event`."""
        body = cv.as_map(result, self.api_method)
        process_id = body.get("process_id")
        rows = cv.as_list(body.get("events") or [], self.api_method)
        return OfflineBatch(
            process_id=str(process_id) if process_id else None,
            events=tuple(event_from_offline(cv.as_map(row, self.api_method)) for row in rows),
        )


@attrs.frozen
class ClearOfflineEvents(Method[bool]):
    """Delete reserved rows: ``event.offline.clear`` (the whole batch, or ``message_ids``)."""

    api_method: ClassVar[str] = "event.offline.clear"

    process_id: str = attrs.field(converter=_process_id)
    message_ids: tuple[str, ...] | None = attrs.field(
        default=None, kw_only=True, converter=_message_ids
    )
    connector: str | None = attrs.field(default=None, kw_only=True, converter=_connector)

    def to_params(self) -> dict[str, Any]:
        """``{"process_id": ..., "message_id": [...]}``."""
        params: dict[str, Any] = {"process_id": self.process_id}
        if self.message_ids is not None:
            params["message_id"] = list(self.message_ids)
        return _with_connector(params, self.connector)

    def parse(self, result: Any) -> bool:
        """``True`` (also when nothing matched)."""
        return cv.as_bool(result, self.api_method)


@attrs.frozen
class MarkOfflineEventsFailed(Method[bool]):
    """Move reserved rows to the error set: ``event.offline.error``.

    They leave the batch (``PROCESS_ID`` empty) and come back only through
    ``GetOfflineEvents(error=True)`` (or ``b24.offline_events()``, which reads them first).
    """

    api_method: ClassVar[str] = "event.offline.error"

    process_id: str = attrs.field(converter=_process_id)
    message_ids: tuple[str, ...] = attrs.field(converter=_message_ids)
    connector: str | None = attrs.field(default=None, kw_only=True, converter=_connector)

    def to_params(self) -> dict[str, Any]:
        """``{"process_id": ..., "message_id": [...]}``."""
        params = {"process_id": self.process_id, "message_id": list(self.message_ids)}
        return _with_connector(params, self.connector)

    def parse(self, result: Any) -> bool:
        """``True``."""
        return cv.as_bool(result, self.api_method)


@attrs.frozen
class OfflineRow:
    """A row of ``event.offline.list``: the event plus its reservation and error state."""

    event: Event
    process_id: str
    """``""`` when not reserved."""
    error: bool


@attrs.frozen
class ListOfflineEvents(ListMethod[OfflineRow]):
    """Every row of the offline queue, reserved and failed ones too: ``event.offline.list``.

    Read-only. ``filter``/``order`` take the fields ``ID``, ``TIMESTAMP_X``, ``EVENT_NAME``,
    ``MESSAGE_ID``, ``PROCESS_ID``, ``ERROR`` (filter keys may carry ``=``, ``>``, ``<``,
    ``>=``, ``<=``, ``@``, ``%``).
    """

    api_method: ClassVar[str] = "event.offline.list"

    filter: Mapping[str, Any] | None = attrs.field(default=None, kw_only=True)
    order: Mapping[str, str] | None = attrs.field(default=None, kw_only=True)
    connector: str | None = attrs.field(default=None, kw_only=True, converter=_connector)

    def to_params(self) -> dict[str, Any]:
        """The wire params."""
        params: dict[str, Any] = {}
        if self.filter:
            params["filter"] = dict(self.filter)
        if self.order:
            params["order"] = dict(self.order)
        return _with_connector(params, self.connector)

    def parse_item(self, raw: Any) -> OfflineRow:
        """One row."""
        row = cv.as_map(raw, self.api_method)
        return OfflineRow(
            event=event_from_offline(row),
            process_id=str(row.get("PROCESS_ID") or ""),
            error=cv.as_bool(row.get("ERROR", "0"), "ERROR"),
        )
