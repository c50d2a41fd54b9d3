"""The fake portal's event machinery: handler rows, firing, online delivery, offline storing.

Follows the checklist of the events facts (§7). A change fires an event for every handler row
of that event; online rows get one form-encoded POST each after the hit (identical items of one
hit are sent once, §2.4), offline rows get an upserted row in the app's queue unless the change
is the app's own write with the handler's connector (§4.1). A hit that stored offline rows
notifies the ``ONOFFLINEEVENT`` handlers, each at most once per its ``minTimeout`` (dropped, not
deferred; §4.6). Nothing is delivered while the app is not installed, and POSTs go to loopback
addresses only (anything else is recorded as not sent); there are no retries.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import secrets
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import aiohttp
import attrs

from b24async.testing.oauth import OAuthApp, TokenStore, derived_code
from b24async.testing.offline_queue import OfflineQueue
from b24async.testing.phpquery import build_query_php
from b24async.testing.state import LedgerEntry

__all__ = [
    "EVENT_SCOPES",
    "Cause",
    "DeliveryRecord",
    "EventHub",
    "HandlerRow",
    "fire_for_writes",
]

_log = logging.getLogger(__name__)

_CALENDAR_EVENTS = (
    "ONCALENDARENTRYADD",
    "ONCALENDARENTRYUPDATE",
    "ONCALENDARENTRYDELETE",
    "ONCALENDARSECTIONADD",
    "ONCALENDARSECTIONUPDATE",
    "ONCALENDARSECTIONDELETE",
    "ONCALENDARROOMCREATE",
    "ONCALENDARROOMUPDATE",
    "ONCALENDARROOMDELETE",
)
EVENT_SCOPES: Mapping[str, str] = {
    "ONAPPINSTALL": "",
    "ONAPPUNINSTALL": "",
    "ONAPPUPDATE": "",
    "ONAPPTEST": "",
    "ONAPPMETHODCONFIRM": "",
    "ONSUBSCRIPTIONRENEW": "",
    "ONOFFLINEEVENT": "",
    "ONUSERADD": "user",
    **dict.fromkeys(_CALENDAR_EVENTS, "calendar"),
}
"""Events the portal knows, with the scope that exposes them (``""``: global)."""

_REFRESH_TOKEN_EVENTS = frozenset(
    {"ONAPPINSTALL", "ONAPPUPDATE", "ONAPPTEST", "ONSUBSCRIPTIONRENEW", "ONOFFLINEEVENT"}
    | set(_CALENDAR_EVENTS)
)
_NO_AUTH_EVENTS = frozenset({"ONAPPUNINSTALL", "ONAPPMETHODCONFIRM"})
_DELIVERY_TIMEOUT = 10.0  # seconds; the real queue service publishes no number (Open q. 1)


@attrs.define
class HandlerRow:
    """One ``b_rest_event`` row of the app."""

    id: int
    event: str
    handler: str
    user_id: int
    connector: str
    offline: bool
    options: dict[str, Any] = attrs.Factory(dict)


@attrs.frozen
class Cause:
    """What caused a change: the acting user, and whether it was this app's own REST call."""

    user_id: int | None
    by_app: bool = False
    connector: str = ""


@attrs.frozen
class DeliveryRecord:
    """One attempted online delivery: HTTP status, or why nothing was received."""

    handler_id: int
    event: str
    url: str
    status: int | None
    error: str = ""
    form: Mapping[str, str] = attrs.field(factory=dict, repr=False)


@attrs.frozen
class _Item:
    row: HandlerRow
    event: str
    data: Any
    user_id: int | None  # whose token the handler receives (None: no token)


def _loopback_url(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class EventHub:
    """Handler rows, the offline queue and the delivery of one app on one portal."""

    def __init__(
        self,
        app: OAuthApp,
        tokens: TokenStore,
        *,
        seed: int,
        now: Callable[[], float],
        base_url: Callable[[], str],
    ) -> None:
        self.app = app
        self.tokens = tokens
        self.installed = True
        self.application_token = derived_code(seed, "application-token", 32)
        self.version = 1
        """The installed version of the app (``app.info`` ``VERSION``)."""
        self.handlers: list[HandlerRow] = []
        self.offline = OfflineQueue(now)
        self.deliveries: list[DeliveryRecord] = []
        self.offline_extended = True
        """Whether the licence allows ``clear=0`` (``rest_offline_extended``)."""
        self.auth_connector = True
        """Whether the licence allows ``auth_connector`` (``rest_auth_connector``)."""
        self._now = now
        self._base_url = base_url
        self._next_id = 1
        self._pending: list[_Item] = []
        self._stored_offline = False
        self._offline_user: int | None = None
        self._notified: dict[int, float] = {}
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- handler rows -----------------------------------------------------------------------

    def add_handler(
        self, event: str, handler: str, user_id: int, connector: str, *, offline: bool
    ) -> HandlerRow:
        """Append a handler row with the next (increasing) ID."""
        row = HandlerRow(self._next_id, event, handler, user_id, connector, offline)
        self._next_id += 1
        self.handlers.append(row)
        return row

    # -- firing -----------------------------------------------------------------------------

    def fire(self, event: str, data: Any, cause: Cause) -> None:
        """A change happened: queue online items and store offline rows for its handlers."""
        if not self.installed:
            return
        for row in self.handlers:
            if row.event != event:
                continue
            if row.offline:
                if cause.by_app and cause.connector == row.connector:
                    continue  # the app's own write: no record (the loop breaker, §4.1)
                self.offline.store(event, data, user_id=cause.user_id or 0, connector=row.connector)
                self._stored_offline = True
                self._offline_user = cause.user_id
            else:
                user_id = row.user_id or cause.user_id
                item = _Item(row, event, data, None if event in _NO_AUTH_EVENTS else user_id)
                if not any(_same(item, other) for other in self._pending):
                    self._pending.append(item)

    def end_hit(self) -> None:
        """The hit is over: notify ``ONOFFLINEEVENT`` handlers, then send what was queued."""
        if self._stored_offline:
            self._stored_offline = False
            now = self._now()
            for row in self.handlers:
                if row.event != "ONOFFLINEEVENT" or row.offline:
                    continue
                min_timeout = int(row.options.get("minTimeout", 1))
                last = self._notified.get(row.id)
                if min_timeout > 0 and last is not None and now - last < min_timeout:
                    continue  # "Time is not up.": dropped, not deferred
                self._notified[row.id] = now
                user_id = row.user_id or self._offline_user  # the hit's user (§2.3)
                self._pending.append(_Item(row, "ONOFFLINEEVENT", None, user_id))
        items, self._pending = self._pending, []
        for item in items:
            self._send(item)

    def _auth(self, item: _Item) -> dict[str, Any]:
        """The ``auth`` block, keys in the order of the docs' example (§2.3)."""
        base = self._base_url()
        endpoint = f"{base}/rest/"
        if item.user_id is None:  # no user (or sendAuth=false): no token, scope or status
            return {
                "domain": base.split("://", 1)[-1],
                "server_endpoint": endpoint,
                "client_endpoint": endpoint,
                "member_id": self.app.member_id,
                "application_token": self.application_token,
            }
        pair = self.tokens.issue(item.user_id)
        auth: dict[str, Any] = {
            "access_token": pair.access_token,
            "expires": int(pair.expires_at),
            "expires_in": int(self.tokens.lifetime),
            "scope": self.app.scope,
            "domain": base.split("://", 1)[-1],
            "server_endpoint": endpoint,
            "status": "L",
            "client_endpoint": endpoint,
            "member_id": self.app.member_id,
            "user_id": item.user_id,
        }
        if item.event in _REFRESH_TOKEN_EVENTS:
            auth["refresh_token"] = pair.refresh_token
        auth["application_token"] = self.application_token
        return auth

    def form(self, item: _Item) -> str:
        """The delivery body: PHP ``http_build_query`` of event, handler id, data, ts, auth."""
        body = {
            "event": item.event,
            "event_handler_id": item.row.id,
            "data": item.data,
            "ts": int(self._now()),
            "auth": self._auth(item),
        }
        return build_query_php(body)

    # -- delivery ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the HTTP session that delivers events (the portal is starting)."""
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=_DELIVERY_TIMEOUT)
        )

    async def stop(self) -> None:
        """Cancel deliveries in flight and close the session (the portal is stopping)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def idle(self) -> None:
        """Wait until every delivery started so far has finished."""
        # Only the unfinished ones: a finished task leaves the set by a done-callback that runs
        # on the loop's next turn, and awaiting a gather of finished tasks (Python 3.12+) never
        # yields to the loop, so waiting on the set itself would spin forever.
        while pending := [task for task in self._tasks if not task.done()]:
            await asyncio.wait(pending)

    def _send(self, item: _Item) -> None:
        url = item.row.handler
        body = self.form(item)
        if not _loopback_url(url):
            self._record(item, url, None, "not sent: the fake portal posts to loopback only", body)
            return
        if self._session is None:
            self._record(item, url, None, "not sent: the portal is not running", body)
            return
        task = asyncio.get_running_loop().create_task(self._post(self._session, item, url, body))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post(self, session: aiohttp.ClientSession, item: _Item, url: str, body: str) -> None:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        try:
            async with session.post(url, data=body.encode(), headers=headers) as response:
                await response.read()
                self._record(item, url, response.status, "", body)
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            self._record(item, url, None, type(error).__name__, body)  # no retry (§2.4)

    def _record(self, item: _Item, url: str, status: int | None, error: str, body: str) -> None:
        form = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
        self.deliveries.append(DeliveryRecord(item.row.id, item.event, url, status, error, form))

    # -- install / uninstall ----------------------------------------------------------------

    def install(self, installer_url: str | None, user_id: int, language: str) -> None:
        """(Re)install the app: a new application token, and ``ONAPPINSTALL`` to the installer."""
        self.installed = True
        self.application_token = secrets.token_hex(16)
        if installer_url is not None:
            self.handlers = [row for row in self.handlers if row.event != "ONAPPINSTALL"]
            self.add_handler("ONAPPINSTALL", installer_url, 0, "", offline=False)
            data = {
                "VERSION": str(self.version),
                "ACTIVE": "Y",
                "INSTALLED": "Y",
                "LANGUAGE_ID": language,
            }
            self.fire("ONAPPINSTALL", data, Cause(user_id))

    def update(self, user_id: int, language: str) -> None:
        """A new version of the app: a new application token, and ``ONAPPUPDATE``.

        The docs' ``OnAppUpdate`` page says the event "passes the updated application_token";
        the stricter reading is taken: every update changes it (events facts §3). As in the
        server code (``CRestUtil::UpdateApp``) the installer's ``ONAPPINSTALL`` row is dropped
        and the other handlers are kept (facts Open question 10). ``data`` is ``VERSION``,
        ``PREVIOUS_VERSION`` and ``LANGUAGE_ID``; the token is the updating user's, with a
        refresh token.
        """
        if not self.installed:
            raise RuntimeError("the app is not installed: install it before updating it")
        previous, self.version = self.version, self.version + 1
        self.application_token = secrets.token_hex(16)
        self.handlers = [row for row in self.handlers if row.event != "ONAPPINSTALL"]
        data = {
            "VERSION": str(self.version),
            "PREVIOUS_VERSION": str(previous),
            "LANGUAGE_ID": language,
        }
        self.fire("ONAPPUPDATE", data, Cause(user_id))

    def uninstall(self, *, clean: bool, language: str) -> None:
        """``ONAPPUNINSTALL`` to its handlers, then drop every handler and the offline queue."""
        self.fire("ONAPPUNINSTALL", {"LANGUAGE_ID": language, "CLEAN": int(clean)}, Cause(None))
        self.end_hit()
        self.handlers.clear()
        self.offline.clear_all()
        self._notified.clear()
        self.installed = False


def _same(item: _Item, other: _Item) -> bool:
    # The hit's buffer key: app, URL, event, auth user, data (not the handler id, §2.4).
    return (item.row.handler, item.event, item.user_id, item.data) == (
        other.row.handler,
        other.event,
        other.user_id,
        other.data,
    )


_CALENDAR_WRITES = {
    "calendar.event.add": "ONCALENDARENTRYADD",
    "calendar.event.update": "ONCALENDARENTRYUPDATE",
    "calendar.event.delete": "ONCALENDARENTRYDELETE",
}


def fire_for_writes(hub: EventHub, entries: Iterable[LedgerEntry], cause: Cause) -> None:
    """Fire the events of applied writes: one calendar event per stored copy of an entry."""
    for entry in entries:
        event = _CALENDAR_WRITES.get(entry.method)
        if event is None:
            continue  # user.update, statuses: no REST event exists for them (§5.1, §5.3)
        if entry.method == "calendar.event.add":
            first = int(entry.target.partition(":")[2])
            ids = range(first, first + 1 + len(entry.change.get("ATTENDEES", ())))
        else:
            ids = entry.change.get("ENTRY_IDS", ())
        for entry_id in ids:
            hub.fire(event, {"id": entry_id}, cause)
