"""FakePortal: a Bitrix24 portal on 127.0.0.1 with the real limits, for tests and demos.

Use it as an async context manager inside a test's event loop, or with
:meth:`FakePortal.running` as a sync context manager that serves from a background thread with
its own event loop (pytest fixtures, the CLI, examples). Only loopback addresses are served.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import Any, TypeVar

from aiohttp import web

from b24async.clock import Clock
from b24async.testing.bucket import LeakyBucket
from b24async.testing.clock import _Shifted, as_clock
from b24async.testing.commands import CommandRunner
from b24async.testing.credentials import Webhooks
from b24async.testing.events import Cause, DeliveryRecord, EventHub
from b24async.testing.faults import Faults
from b24async.testing.oauth import OAuthApp, OAuthTokens, TokenStore
from b24async.testing.operating import Limiter, OperatingMeter
from b24async.testing.server import RestServer
from b24async.testing.state import LedgerEntry, PortalState
from b24async.testing.stats import PortalStats, StatsRecorder
from b24async.testing.threaded import run_on_loop, serve_in_thread

__all__ = ["FakePortal"]

_T = TypeVar("_T")

_SHUTDOWN_GRACE = 0.5  # seconds in-flight requests get when the portal stops


def _loopback(host: str) -> str:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"FakePortal binds loopback IP addresses only, got {host!r}") from None
    if not address.is_loopback:
        raise ValueError(f"FakePortal binds loopback addresses only, got {host!r}")
    return str(address)


class FakePortal:
    """A fake Bitrix24 portal served over HTTP on a loopback address.

    Args:
        users: how many seeded users (IDs 1..users; user 1 is the admin).
        seed: seeds the data, the webhook codes and the OAuth app credentials.
        rate: the leaky bucket's drain per second (Enterprise: 5.0).
        burst: the leaky bucket's size (Enterprise: 250).
        operating_budget: the operating threshold, seconds per 600 s window (unscaled; 420 as
            in the server code; the docs' cloud example is 480).
        limiter: how the operating time is accounted (facts §2): ``"2026"`` (default: the
            per-request 0.1 s floor, the ``batch`` key at half weight, 300 s bans),
            ``"legacy"`` (no ``batch`` key, no bans), ``"local"`` (on-prem without shared
            storage: only the current request, no ``operating_reset_at``) or ``"off"`` (no
            ``operating`` fields). See :mod:`b24async.testing.operating`.
        time_scale: shrinks the operating window, its buckets, the budget and the processing
            costs by this factor (not the leaky bucket), so limits can be met in test time.
        processing: simulated seconds each command takes (unscaled): slept for
            ``processing * time_scale`` and added to the method's operating time.
        method_processing: per-method overrides of ``processing`` (method names any case).
        latency: real seconds added to every HTTP reply (a network round trip).
        token_lifetime: lifetime of OAuth access tokens, real seconds.
        faults: fault injection (none by default).
        anchor: the date the seeded calendar is built around (default: this week's Monday).
        host: a loopback IP address to bind; anything else raises ValueError.
        port: the port to bind; 0 picks a free one.
        clock: the portal's :class:`~b24async.clock.Clock`: its ``monotonic()`` drives the
            leaky bucket and the operating windows, its ``time()`` is the portal's unix time
            (``time`` blocks, ``operating_reset_at``, token expiry), and the processing,
            latency and slow-fault waits are its ``sleep()``. A new
            :class:`~b24async.testing.LoopClock` by default (unix time starting at the real time
            and moving with the event loop's). Give the client the same clock to run both on
            virtual time (see :mod:`b24async.testing.clock`). A bare callable is still taken as
            a monotonic clock, with unix time following it and real sleeps.
        clock_skew: seconds added to the portal's unix time (a portal clock ahead of ours is
            positive), for clock-skew tests.
        start_time: the portal's unix time at its clock's first reading (default: the clock's
            own), for tests that need bucket boundaries at known times.

    Attributes:
        state: the portal's data (:class:`~b24async.testing.state.PortalState`).
        bucket: the leaky bucket (its ``level`` can be read in tests).
        meter: the operating-time meter (scaled seconds per caller and method).
        time_scale: the operating time scale the portal was built with.
        clock: the portal's clock.
    """

    def __init__(
        self,
        *,
        users: int = 50,
        seed: int = 0,
        rate: float = 2.0,
        burst: int = 50,
        operating_budget: float = 420.0,
        limiter: Limiter = "2026",
        time_scale: float = 1.0,
        processing: float = 0.0,
        method_processing: Mapping[str, float] | None = None,
        latency: float = 0.0,
        token_lifetime: float = 3600.0,
        faults: Faults | None = None,
        anchor: dt.date | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock | Callable[[], float] | None = None,
        clock_skew: float = 0.0,
        start_time: float | None = None,
    ) -> None:
        if users < 1:
            raise ValueError(f"users must be at least 1, got {users!r}")
        if time_scale <= 0:
            raise ValueError(f"time_scale must be positive, got {time_scale!r}")
        overrides = {name.lower(): cost for name, cost in (method_processing or {}).items()}
        if processing < 0 or any(cost < 0 for cost in overrides.values()):
            raise ValueError("processing times must not be negative")
        if latency < 0:
            raise ValueError(f"latency must not be negative, got {latency!r}")
        self._host = _loopback(host)
        self._port = port
        self._described = f"users={users}, seed={seed}, rate={rate:g}, burst={burst}"
        self.clock: Clock = as_clock(clock)
        if clock_skew or start_time is not None:
            self.clock = _Shifted(self.clock, clock_skew, start_time)
        self._clock = self.clock.monotonic
        self.time_scale = time_scale
        self.state = PortalState.seeded(users=users, seed=seed, anchor=anchor)
        self._stats = StatsRecorder()
        self._webhooks = Webhooks(seed)
        self._admin_code = self._webhooks.add(1)
        self._app = OAuthApp.from_seed(seed)
        self._tokens = TokenStore(self._app, lifetime=token_lifetime, now=self._now)
        self.state.events = self._events = EventHub(
            self._app, self._tokens, seed=seed, now=self._now, base_url=lambda: self._url
        )
        self.bucket = LeakyBucket(rate=rate, burst=burst, clock=self._clock)
        self.meter = OperatingMeter(
            budget=operating_budget * time_scale,
            time_scale=time_scale,
            clock=self._now,
            limiter=limiter,
        )

        def cost(method: str) -> float:
            return overrides.get(method, processing) * time_scale

        runner = CommandRunner(
            state=self.state,
            meter=self.meter,
            stats=self._stats,
            clock=self.clock,
            cost=cost,
            time_scale=time_scale,
        )
        self._server = RestServer(
            state=self.state,
            webhooks=self._webhooks,
            tokens=self._tokens,
            bucket=self.bucket,
            runner=runner,
            stats=self._stats,
            faults=faults or Faults(),
            latency=latency,
            clock=self.clock,
        )
        self._runner: web.AppRunner | None = None
        self._url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None

    def _now(self) -> float:
        return self.clock.time()

    def __repr__(self) -> str:
        """Where it serves and how it was built; never a webhook code, token or app secret."""
        where = self._url or f"not running, binds {self._host}:{self._port}"
        return f"<FakePortal {where} {self._described}>"

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind the socket and start serving in the running event loop."""
        if self._runner is not None:
            raise RuntimeError("the portal is already running")
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self._host, self._port))
        except OSError:
            sock.close()
            raise
        port = sock.getsockname()[1]
        host = f"[{self._host}]" if family == socket.AF_INET6 else self._host
        self._url = f"http://{host}:{port}"
        self._server.base_url = self._url
        runner = web.AppRunner(
            self._server.build_app(), access_log=None, shutdown_timeout=_SHUTDOWN_GRACE
        )
        await runner.setup()
        try:
            await web.SockSite(runner, sock).start()
            await self._events.start()
        except BaseException:
            await runner.cleanup()
            await self._events.stop()
            sock.close()
            raise
        self._runner = runner
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()

    async def stop(self) -> None:
        """Stop serving; requests still in flight get a short grace period."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        await self._events.stop()
        self._url = ""
        self._loop = None
        self._loop_thread = None

    async def __aenter__(self) -> FakePortal:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @classmethod
    @contextlib.contextmanager
    def running(cls, **kwargs: Any) -> Iterator[FakePortal]:
        """Serve a portal from a background thread with its own event loop (sync context).

        Takes the same keyword arguments as :class:`FakePortal`.
        """
        with serve_in_thread(cls(**kwargs)) as portal:
            yield portal

    def _sync(self, action: Callable[[], _T]) -> _T:
        """Run ``action`` on the portal's event loop thread (directly when already there)."""
        return run_on_loop(self._loop, self._loop_thread, action)

    # -- addresses --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The portal's base URL, ``http://127.0.0.1:PORT`` (only while running)."""
        if not self._url:
            raise RuntimeError("the portal is not running")
        return self._url

    @property
    def webhook_url(self) -> str:
        """The incoming webhook of admin user 1: ``http://127.0.0.1:PORT/rest/1/<code>/``."""
        return f"{self.url}/rest/1/{self._admin_code}/"

    def add_webhook(self, user_id: int) -> str:
        """Register another incoming webhook, acting as ``user_id``; returns its URL."""
        if not self.state.user_exists(user_id):
            raise ValueError(f"no user {user_id} on this portal")
        base = self.url
        code = self._sync(lambda: self._webhooks.add(user_id))
        return f"{base}/rest/{user_id}/{code}/"

    @property
    def oauth_url(self) -> str:
        """The OAuth token endpoint: ``http://127.0.0.1:PORT/oauth/token/``."""
        return f"{self.url}/oauth/token/"

    # -- OAuth ------------------------------------------------------------------------------

    @property
    def client_id(self) -> str:
        """The registered OAuth app's ``client_id``."""
        return self._app.client_id

    @property
    def client_secret(self) -> str:
        """The registered OAuth app's ``client_secret``."""
        return self._app.client_secret

    def issue_tokens(self, user_id: int = 1) -> OAuthTokens:
        """Issue an access/refresh token pair for ``user_id`` (as if the app was authorized)."""
        if not self.state.user_exists(user_id):
            raise ValueError(f"no user {user_id} on this portal")
        return self._sync(lambda: self._tokens.issue(user_id))

    def expire_access_tokens(self) -> None:
        """Make every access token issued so far expired (their refresh tokens still work)."""
        self._sync(self._tokens.expire_all)

    # -- inspection -------------------------------------------------------------------------

    @property
    def stats(self) -> PortalStats:
        """A snapshot of the request counters (see :class:`PortalStats`)."""
        return self._sync(self._stats.snapshot)

    def reset_stats(self) -> None:
        """Zero the counters (the limits, tokens and data are kept)."""
        self._sync(self._stats.reset)

    @property
    def open_connections(self) -> int:
        """TCP connections currently open to the portal (a client that leaks them shows here).

        The portal notices a closed connection on its next event-loop turns, so a test that
        has just closed a client may need to yield a few times before reading 0.
        """

        def count() -> int:
            server = self._runner.server if self._runner is not None else None
            return len(server.connections) if server is not None else 0

        return self._sync(count)

    @property
    def ledger(self) -> tuple[LedgerEntry, ...]:
        """Every write applied to the portal's data, in order."""
        return self._sync(lambda: tuple(self.state.ledger))

    # -- events (see b24async.testing.events) ------------------------------------------------

    @property
    def application_token(self) -> str:
        """The app's current ``application_token`` (what a receiver may be pre-configured with)."""
        return self._events.application_token

    @property
    def member_id(self) -> str:
        """The portal's ``member_id``, the key of the app's stored application token."""
        return self._app.member_id

    def install_app(self, installer_url: str | None = None, *, user_id: int = 1) -> None:
        """(Re)install the app as ``user_id``: a new application token, and ``ONAPPINSTALL``.

        ``ONAPPINSTALL`` goes to ``installer_url`` (the app's installer handler) with the
        token, the installing user's access and refresh tokens.
        """
        hub = self._events

        def install() -> None:
            hub.install(installer_url, user_id, "en")
            hub.end_hit()

        self._sync(install)

    def update_app(self, *, user_id: int = 1) -> None:
        """Install a new version of the app as ``user_id``: ``ONAPPUPDATE`` with a new token.

        The app's handlers bound for ``ONAPPUPDATE`` get the event, carrying the new
        ``application_token`` (:attr:`application_token` changes), the updating user's access
        and refresh tokens, and ``data`` ``{VERSION, PREVIOUS_VERSION, LANGUAGE_ID}``; the
        installer's ``ONAPPINSTALL`` handler is dropped. ``app.info`` shows the new ``VERSION``.
        Raises RuntimeError while the app is uninstalled.
        """
        if not self.state.user_exists(user_id):
            raise ValueError(f"no user {user_id} on this portal")
        hub = self._events

        def update() -> None:
            hub.update(user_id, "en")
            hub.end_hit()

        self._sync(update)

    def uninstall_app(self, *, clean: bool = False) -> None:
        """Uninstall the app: ``ONAPPUNINSTALL`` to its handlers, then its handlers and offline
        queue are deleted and nothing is delivered until :meth:`install_app`."""
        self._sync(lambda: self._events.uninstall(clean=clean, language="en"))

    def register_user(self, name: str, last_name: str, email: str) -> int:
        """A new employee finished registration: adds the user and fires ``ONUSERADD``.

        Returns the new user's ID. As on a real portal the event's ``data`` is the flat user
        record (``ACTIVE`` as a boolean, so ``"1"`` on the wire) and the token is the new
        user's own (``OnUserInitialize``).
        """
        fields = {
            "XML_ID": "",
            "ACTIVE": True,
            "NAME": name,
            "LAST_NAME": last_name,
            "SECOND_NAME": "",
            "EMAIL": email,
            "LAST_LOGIN": "",
            "DATE_REGISTER": dt.datetime.fromtimestamp(
                int(self._now()), self.state.timezone
            ).isoformat(),
            "TIME_ZONE": "",
            "IS_ONLINE": "Y",
            "TIME_ZONE_OFFSET": "0",
            "PERSONAL_GENDER": "",
            "PERSONAL_BIRTHDAY": "",
            "WORK_POSITION": "",
            "WORK_PHONE": "",
            "UF_DEPARTMENT": [1],
            "UF_PHONE_INNER": "",
            "USER_TYPE": "employee",
        }

        def register() -> int:
            record = self.state.add_user(fields)
            user_id = int(record["ID"])
            data = {**record, "UF_DEPARTMENT": list(record["UF_DEPARTMENT"])}
            self._events.fire("ONUSERADD", data, Cause(user_id))
            self._events.end_hit()
            return user_id

        return self._sync(register)

    def set_features(
        self, *, offline_extended: bool | None = None, auth_connector: bool | None = None
    ) -> None:
        """Switch licence features: ``clear=0`` offline reads, ``auth_connector`` (both on)."""

        def apply() -> None:
            if offline_extended is not None:
                self._events.offline_extended = offline_extended
            if auth_connector is not None:
                self._events.auth_connector = auth_connector

        self._sync(apply)

    @property
    def deliveries(self) -> tuple[DeliveryRecord, ...]:
        """Every online delivery attempted so far, in order (with its status or error)."""
        return self._sync(lambda: tuple(self._events.deliveries))

    def offline_queue(self) -> list[dict[str, Any]]:
        """The app's offline rows, every connector, as ``event.offline.list`` shows them."""
        from b24async.testing.offline_queue import row_json

        def rows() -> list[dict[str, Any]]:
            return [
                {**row_json(row, self.state.timezone, listing=True), "CONNECTOR_ID": row.connector}
                for row in self._events.offline.rows()
            ]

        return self._sync(rows)

    async def deliveries_settled(self) -> None:
        """Wait until every online delivery started so far has been answered (or failed)."""
        loop = self._loop
        if loop is None or loop is asyncio.get_running_loop():
            await self._events.idle()
            return
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._events.idle(), loop))
