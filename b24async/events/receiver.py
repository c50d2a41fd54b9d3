"""``EventReceiver``: an aiohttp endpoint that verifies Bitrix24 event deliveries.

Each POST is read (413 above ``max_body``), parsed from its PHP form (400 if malformed),
verified against the stored ``application_token`` of its ``member_id`` in constant time (401
for a wrong, missing or unknown token; 503 while the token store cannot answer), queued, and
answered 200. A new token from ``ONAPPUPDATE`` is taken only once the portal trusted for that
``member_id`` confirms the event's access token (:mod:`b24async.events.rotation`).
``on_event`` runs in the background through a bounded queue: the portal never waits for it (it
measures handler speed and does not retry, events facts §2.4) and never sees its exceptions.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import attrs
from aiohttp import web

from b24async.events.form import FormError, parse_form
from b24async.events.rotation import (
    CONFIRMED,
    Verdict,
    confirm_at_portal,
    install_origin,
    trusted_address,
)
from b24async.events.tokens import (
    MemoryTokenStore,
    RotatingTokenStore,
    TokenStore,
    TokenStoreUnavailable,
)
from b24async.models.events import Event, EventParseError, event_from_form
from b24async.transport import AiohttpTransport, Transport

__all__ = ["EventReceiver", "ReceiverStats"]

_log = logging.getLogger("b24async.events")

EventCallback = Callable[[Event], Awaitable[Any]]


@attrs.define
class ReceiverStats:
    """What a receiver has done so far."""

    accepted: int = 0
    """Verified and queued (answered 200)."""
    unauthorized: int = 0
    """Refused with 401: wrong, missing or unknown application token (or a new one from
    ``ONAPPUPDATE`` that the portal did not confirm)."""
    malformed: int = 0
    """Refused with 400 (not a form, not an event) or 405 (not a POST)."""
    too_large: int = 0
    """Refused with 413."""
    unavailable: int = 0
    """Refused with 503: the token store (or, for a new token, the portal) could not answer,
    so the event could not be verified."""
    rotated: int = 0
    """New application tokens from ``ONAPPUPDATE`` stored after the portal confirmed them."""
    handled: int = 0
    """``on_event`` returned."""
    handler_errors: int = 0
    """``on_event`` raised (logged; the portal got its 200 long before)."""
    dropped: int = 0
    """Still queued when shutdown's grace period ran out."""


class EventReceiver:
    """Receives, verifies and dispatches Bitrix24 events; ``receiver.app`` is the aiohttp app.

    Serve ``receiver.app`` with ``aiohttp.web`` (it answers POST on ``/``), or mount it in an
    application of your own: ``app.add_subapp("/bitrix/events", receiver.app)``.

    Args:
        on_event: ``async def on_event(event)``, called once per verified event, in the
            background; exceptions are logged and counted, never sent to the portal.
        tokens: the application tokens by ``member_id`` (:class:`MemoryTokenStore` by
            default; :class:`b24async.shared.RedisTokenStore` shares them between processes).
            Tokens are added from verified-by-first-use ``ONAPPINSTALL`` events and removed on a
            verified ``ONAPPUNINSTALL``. While the store raises
            :class:`~b24async.events.TokenStoreUnavailable`, deliveries are refused with 503
            (never accepted unverified), with one WARNING per outage and one INFO at its end.
        accept_install: take the token of an ``ONAPPINSTALL`` from a portal whose token is
            not stored yet. Set False when the store is filled in advance: then only known
            portals are accepted.
        app_code: the app's ``CODE`` as ``app.info`` shows it (a local app's ``client_id``, a
            Market app's code). Needed to take a new token from ``ONAPPUPDATE``: the receiver
            calls ``app.info`` with the event's access token at the portal's trusted address
            and takes the token only when that portal answers with this code. Without it (or
            without a trusted address, or with a store that is not a
            :class:`~b24async.events.RotatingTokenStore`) a changed token is refused with 401
            and the reason logged.
        portals: trusted portal addresses, ``{member_id: "https://portal.bitrix24.com"}``; they
            win over the addresses the store took from each verified ``ONAPPINSTALL``. Never
            the address a delivery names: see :mod:`b24async.events.rotation`.
        verify_timeout: seconds the ``app.info`` check may take (then 503, nothing stored).
        transport: sends the ``app.info`` check (an
            :class:`~b24async.transport.AiohttpTransport` by default, opened at start-up).
        concurrency: how many ``on_event`` calls run at once.
        queue_size: events waiting for a free worker; when full, the receiver answers only
            once there is room (backpressure on the portal rather than lost events).
        max_body: the largest body accepted, bytes (413 above it).
        shutdown_timeout: seconds queued events get to finish when the app shuts down.
    """

    def __init__(
        self,
        on_event: EventCallback,
        *,
        tokens: TokenStore | None = None,
        accept_install: bool = True,
        app_code: str | None = None,
        portals: Mapping[str, str] | None = None,
        verify_timeout: float = 10.0,
        transport: Transport | None = None,
        concurrency: int = 8,
        queue_size: int = 1000,
        max_body: int = 1024 * 1024,
        shutdown_timeout: float = 10.0,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency!r}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size!r}")
        if max_body < 1:
            raise ValueError(f"max_body must be >= 1, got {max_body!r}")
        if verify_timeout <= 0:
            raise ValueError(f"verify_timeout must be > 0, got {verify_timeout!r}")
        if app_code is not None and (not isinstance(app_code, str) or not app_code.strip()):
            raise ValueError("app_code must be the app's non-empty CODE (or None)")
        self._portals = {member: trusted_address(url) for member, url in (portals or {}).items()}
        self._app_code = app_code.strip() if app_code is not None else None
        self._verify_timeout = verify_timeout
        self._transport = transport
        self._owns_transport = transport is None
        self.tokens: TokenStore = tokens if tokens is not None else MemoryTokenStore()
        self.stats = ReceiverStats()
        self.offline_signal = asyncio.Event()
        """Set on every verified ``ONOFFLINEEVENT``: pass it to ``b24.offline_events(wakeup=)``."""
        self._on_event = on_event
        self._accept_install = accept_install
        self._concurrency = concurrency
        self._queue_size = queue_size
        self._max_body = max_body
        self._shutdown_timeout = shutdown_timeout
        self._queue: asyncio.Queue[Event] | None = None
        self._store_down = False  # logging the store's outages once, not once per delivery
        self._refused_in_outage = 0
        self._workers: list[asyncio.Task[None]] = []
        self.app = web.Application(client_max_size=max_body)
        self.app.router.add_route("*", "/", self._handle)
        self.app.on_startup.append(self._start)
        self.app.on_cleanup.append(self._stop)

    def __repr__(self) -> str:
        return f"EventReceiver(concurrency={self._concurrency}, stats={self.stats!r})"

    # -- lifecycle ---------------------------------------------------------------------------

    async def _start(self, app: web.Application) -> None:
        if self._owns_transport:
            self._transport = AiohttpTransport(
                timeout=self._verify_timeout, connect_timeout=self._verify_timeout
            )
        self._queue = asyncio.Queue(self._queue_size)
        self._workers = [
            asyncio.get_running_loop().create_task(self._work(self._queue))
            for _ in range(self._concurrency)
        ]

    async def _stop(self, app: web.Application) -> None:
        queue, self._queue = self._queue, None
        if queue is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(queue.join(), self._shutdown_timeout)
            self.stats.dropped += queue.qsize()
            if queue.qsize():
                _log.warning("event receiver stopped with %d events unhandled", queue.qsize())
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []
        if self._owns_transport and self._transport is not None:
            await self._transport.close()
            self._transport = None

    async def _work(self, queue: asyncio.Queue[Event]) -> None:
        while True:
            event = await queue.get()
            try:
                await self._on_event(event)
                self.stats.handled += 1
            except asyncio.CancelledError:
                raise
            except Exception:
                self.stats.handler_errors += 1
                _log.exception("on_event failed for %s (handler %s)", event.name, event.handler_id)
            finally:
                queue.task_done()

    # -- requests ----------------------------------------------------------------------------

    def _refuse(self, request: web.Request, status: int, why: str) -> web.Response:
        _log.warning("refused an event from %s: %d %s", request.remote, status, why)
        return web.Response(status=status, text=why)

    async def _read(self, request: web.Request) -> bytes | None:
        if request.content_length is not None and request.content_length > self._max_body:
            return None
        chunks, size = [], 0
        while chunk := await request.content.read(64 * 1024):
            size += len(chunk)
            if size > self._max_body:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._receive(request)
        except asyncio.CancelledError:
            raise
        except Exception:  # a store or bug failure must not take the server down
            _log.exception("event receiver failed on a request")
            return web.Response(status=500, text="receiver error")

    async def _receive(self, request: web.Request) -> web.StreamResponse:
        if request.method != "POST":
            self.stats.malformed += 1
            return self._refuse(request, 405, "events are POSTed")
        queue = self._queue
        if queue is None:
            return self._refuse(request, 503, "the receiver is not running")
        body = await self._read(request)
        if body is None:
            self.stats.too_large += 1
            return self._refuse(request, 413, f"body larger than {self._max_body} bytes")
        mime = request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        try:
            if mime != "application/x-www-form-urlencoded":
                raise FormError(f"content type {mime or '(none)'!r}")
            form = parse_form(body)
        except FormError as error:
            self.stats.malformed += 1
            return self._refuse(request, 400, f"not an event: {error}")
        auth = form.get("auth")
        member = auth.get("member_id") if isinstance(auth, dict) else None
        secret = auth.get("application_token") if isinstance(auth, dict) else None
        if not isinstance(member, str) or not member or not isinstance(secret, str) or not secret:
            self.stats.unauthorized += 1
            return self._refuse(request, 401, "no application token")
        try:
            event = event_from_form(form)
        except EventParseError as error:
            self.stats.malformed += 1
            return self._refuse(request, 400, f"not an event: {error}")
        try:
            verdict = await self._verify(event, member, secret)
        except TokenStoreUnavailable as error:
            return self._unavailable(error)
        self._store_answered()
        if not verdict.confirmed:  # 401, or 503 when the portal could not be asked
            if verdict.status == 503:
                self.stats.unavailable += 1
            else:
                self.stats.unauthorized += 1
            why = f"{verdict.reason} ({event.name}, member_id {member})"
            return self._refuse(request, verdict.status, why)
        if event.name == "ONAPPUNINSTALL":
            await self._forget(member)
        elif event.name == "ONOFFLINEEVENT":
            self.offline_signal.set()
        await queue.put(event)  # waits when full: backpressure, not loss
        self.stats.accepted += 1
        return web.Response(text="OK")

    def _unavailable(self, error: TokenStoreUnavailable) -> web.Response:
        # Never accept what could not be verified. 503, not 401: the token may well be right.
        # The portal does not retry either answer; offline events are the lossless path.
        self.stats.unavailable += 1
        self._refused_in_outage += 1
        if not self._store_down:
            self._store_down = True
            _log.warning(
                "the event token store is unavailable (%s): refusing events with 503 until it "
                "answers",
                error,
            )
        return web.Response(status=503, text="the token store is unavailable")

    def _store_answered(self) -> None:
        if self._store_down:
            self._store_down = False
            _log.info(
                "the event token store answers again; %d events were refused meanwhile",
                self._refused_in_outage,
            )
            self._refused_in_outage = 0

    async def _forget(self, member: str) -> None:
        """Delete the token of an uninstalled portal (a verified ``ONAPPUNINSTALL``)."""
        try:
            await self.tokens.delete(member)
        except TokenStoreUnavailable as error:
            # The uninstall is verified: the app still hears of it (refusing it would lose it,
            # the portal does not retry), but the token outlives the app until deleted.
            _log.error(
                "ONAPPUNINSTALL of member_id %s is verified but its token could not be deleted "
                "(%s): delete it from the store (tokens.delete(member_id)) once it is back",
                member,
                error,
            )

    async def _verify(self, event: Event, member: str, secret: str) -> Verdict:
        """200 when ``secret`` is the portal's token (or a confirmed new one), else why not."""
        stored = await self.tokens.get(member)
        if stored is None and event.name == "ONAPPINSTALL" and self._accept_install:
            if await self.tokens.add(member, secret):
                await self._remember_portal(event, member)
                return CONFIRMED
            stored = await self.tokens.get(member)  # a concurrent install stored one first
        if stored is None:
            return Verdict(401, "unknown portal")
        if hmac.compare_digest(stored.encode(), secret.encode()):
            if event.name == "ONAPPINSTALL":
                await self._remember_portal(event, member)
            return CONFIRMED
        if event.name == "ONAPPUPDATE":
            return await self._rotate(event, member, stored, secret)
        return Verdict(401, "wrong application token")

    async def _remember_portal(self, event: Event, member: str) -> None:
        """Keep the address of a verified install: where a new token is confirmed later."""
        store = self.tokens
        if not isinstance(store, RotatingTokenStore) or event.auth is None:
            return
        origin = install_origin(event.auth)
        if origin is None:
            # Only worth a warning when new tokens are wanted (app_code set).
            log = _log.warning if self._app_code is not None else _log.debug
            log(
                "ONAPPINSTALL of member_id %s names no usable portal address (client_endpoint "
                "must be https on the host of domain): a new application token from ONAPPUPDATE "
                "cannot be confirmed unless EventReceiver(portals=...) names it",
                member,
            )
            return
        await store.add_portal(member, origin)

    async def _rotate(self, event: Event, member: str, stored: str, secret: str) -> Verdict:
        """``ONAPPUPDATE`` with a new token: confirm it at the trusted portal, then swap."""
        store = self.tokens
        if not isinstance(store, RotatingTokenStore):
            return Verdict(401, "new application token refused: the token store cannot replace")
        if self._app_code is None:
            return Verdict(401, "new application token refused: EventReceiver(app_code=) not set")
        origin = self._portals.get(member) or await store.get_portal(member)
        if origin is None:
            return Verdict(401, "new application token refused: no trusted portal address")
        access = event.auth.access_token if event.auth is not None else None
        if not access:
            return Verdict(401, "new application token refused: the event has no access token")
        transport = self._transport
        if transport is None:
            return Verdict(503, "the receiver is not running")
        verdict = await confirm_at_portal(transport, origin, access, self._app_code)
        if not verdict.confirmed:
            return Verdict(verdict.status, f"new application token not confirmed: {verdict.reason}")
        if await store.replace(member, stored, secret):
            self.stats.rotated += 1
            _log.info("member_id %s: new application token confirmed by %s", member, origin)
            return CONFIRMED
        now = await store.get(member)  # another delivery swapped it meanwhile
        if now is not None and hmac.compare_digest(now.encode(), secret.encode()):
            return CONFIRMED
        return Verdict(401, "new application token refused: the stored token changed meanwhile")
