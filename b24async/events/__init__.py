"""Bitrix24 events: a verified receiver for deliveries and an at-least-once offline stream.

* :class:`EventReceiver` answers the portal's POSTs (``receiver.app`` is an aiohttp app),
  checks ``application_token`` and runs your ``on_event`` in the background; a new token from
  ``ONAPPUPDATE`` is taken once the portal confirms it (:mod:`b24async.events.rotation`).
* ``b24.offline_events()`` (:class:`OfflineEvents`) reads the app's offline queue, clearing
  each event only after your code has moved past it.
* Subscribing is done with typed requests from :mod:`b24async.methods`: ``BindEvent``,
  ``UnbindEvent``, ``GetEventHandlers``, ``GetAvailableEvents``.
"""

from __future__ import annotations

from b24async.events.form import FormError, parse_form
from b24async.events.offline import OfflineEvents
from b24async.events.receiver import EventReceiver, ReceiverStats
from b24async.events.tokens import (
    MemoryTokenStore,
    RotatingTokenStore,
    TokenStore,
    TokenStoreUnavailable,
)
from b24async.models.events import (
    CALENDAR_ENTRY_EVENTS,
    CalendarEntryChange,
    Event,
    EventAuth,
    EventData,
    EventParseError,
    NewUser,
    OfflineInfo,
    event_from_form,
    event_from_offline,
)

__all__ = [
    "CALENDAR_ENTRY_EVENTS",
    "CalendarEntryChange",
    "Event",
    "EventAuth",
    "EventData",
    "EventParseError",
    "EventReceiver",
    "FormError",
    "MemoryTokenStore",
    "NewUser",
    "OfflineEvents",
    "OfflineInfo",
    "ReceiverStats",
    "RotatingTokenStore",
    "TokenStore",
    "TokenStoreUnavailable",
    "event_from_form",
    "event_from_offline",
    "parse_form",
]
