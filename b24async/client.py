"""``Bitrix24``: the async session manager, one per portal.

Here: construction (credentials, throttle, transport, coalescer), ``close()``, ``batch()``,
the offline event stream and ``stats``. Calls are :mod:`b24async.client_calls`, list reads
(``paginate``/``list_all``) :mod:`b24async.client_lists`: base classes of :class:`Bitrix24`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

import aiohttp

from b24async.auth import (
    DEFAULT_OAUTH_URL,
    Credentials,
    OAuthCredentials,
    TokenPair,
    WebhookCredentials,
    parse_portal_url,
)
from b24async.batch import CommandSpec, ProgressCallback, normalize_commands, run_batch
from b24async.client_lists import ListReads
from b24async.clock import SYSTEM_CLOCK, Clock
from b24async.coalesce import Coalescer
from b24async.engine import Engine
from b24async.errors import ClientClosed
from b24async.lifecycle import GatedTransport, Lifecycle
from b24async.limits import RateLimits
from b24async.portal_throttles import credential_key, shared_throttle
from b24async.results import BatchAccount, BatchResult
from b24async.retry import RetryPolicy
from b24async.stats import ClientStats, Counters
from b24async.throttle import Throttle, ThrottlePolicy
from b24async.transport import AiohttpTransport, Transport

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from b24async.events.offline import OfflineEvents
    from b24async.methods.base import Method
    from b24async.shared import Shared

__all__ = ["Bitrix24"]

T = TypeVar("T")


class Bitrix24(ListReads):
    """An async Bitrix24 REST client for one portal.

    It owns the HTTP session, the credentials and every limit: calls from any number of
    coroutines are throttled to the portal's leaky bucket and per-method operating budgets,
    retried per :class:`RetryPolicy`, and (OAuth) re-authorized with one shared token refresh.
    Create one client per portal and share it between all tasks. Clients of the same portal in
    one event loop share one throttle anyway (one request bucket per portal, one set of
    operating budgets per credential), unless given their own ``throttle=``.

    Webhook::

        async with Bitrix24("https://portal.bitrix24.com/rest/1/<code>/") as b24:
            resp = await b24.call("user.get", {"FILTER": {"ACTIVE": True}})

    OAuth app::

        async with Bitrix24("portal.bitrix24.com", token=access, refresh_token=refresh,
                            client_id=cid, client_secret=secret,
                            on_token_refresh=save_tokens) as b24: ...

    Args:
        url: an incoming-webhook URL, or the portal's address when ``token`` is given. Plain
            ``http://`` is refused except for loopback addresses (a ``FakePortal``).
        token: the OAuth access token.
        refresh_token, client_id, client_secret: enable automatic refresh on ``expired_token``.
        on_token_refresh: called (plain or coroutine function) with the new :class:`TokenPair`
            after each refresh, so the app can persist it.
        oauth_url: the OAuth token endpoint.
        limits: the portal's limits (``RateLimits.ENTERPRISE`` for Enterprise plans).
        max_concurrency: the most HTTP requests in flight at once (50: the standard plan's
            burst, which the bucket admits at once anyway).
        timeout: seconds for one HTTP request.
        retry: the retry policy.
        session: a caller-owned ``aiohttp.ClientSession`` (left open on close).
        throttle: a custom :class:`ThrottlePolicy` (e.g. one shared between processes);
            overrides ``limits`` and ``max_concurrency``. By default the client uses the
            process-wide throttle of its portal and credential (see
            :mod:`b24async.portal_throttles`); ``max_concurrency`` then caps the requests in
            flight of all clients sharing it (the first client's value).
        transport: a custom :class:`Transport`; overrides ``session`` and ``timeout``.
        coalesce: pack concurrent ``call()``s into ``batch`` requests (on by default; a lone
            call on an idle client still goes at once, alone).
        users_per_command: concurrent calls of item-list methods (availability queries:
            ``calendar.accessibility.get``) are merged/split into commands of at most this
            many items (users).
        clock: where the client reads the time and how it sleeps (throttle, operating holds,
            retries); the real one by default. Tests pass a
            :class:`~b24async.testing.LoopClock` shared with a ``FakePortal`` to run on virtual
            time. A custom ``throttle`` keeps its own clock; a shared portal throttle keeps its
            first client's.
        shared: a Redis URL (``"redis://host:6379/0"``) or a caller-owned
            ``redis.asyncio.Redis`` (left open on close): every process naming the same Redis
            for this portal shares its request bucket, operating holds and OAuth refresh (the
            token pair is then stored in Redis). Needs ``pip install 'b24async[redis]'``.
        shared_fallback: when Redis is unreachable at start, ``"raise"`` (the first call
            raises :class:`~b24async.errors.TransportError`) or ``"local"`` (throttle locally,
            one WARNING). A Redis outage mid-job always falls back to local throttling.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        refresh_token: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        on_token_refresh: Callable[[TokenPair], Any] | None = None,
        oauth_url: str = DEFAULT_OAUTH_URL,
        limits: RateLimits = RateLimits.STANDARD,
        max_concurrency: int = 50,
        timeout: float = 75.0,
        retry: RetryPolicy | None = None,
        session: aiohttp.ClientSession | None = None,
        throttle: ThrottlePolicy | None = None,
        transport: Transport | None = None,
        coalesce: bool = True,
        users_per_command: int = 50,
        clock: Clock = SYSTEM_CLOCK,
        shared: str | Redis | None = None,
        shared_fallback: Literal["raise", "local"] = "raise",
    ) -> None:
        origin, user, code = parse_portal_url(url)
        credentials: Credentials
        if token is not None:
            if code is not None:
                raise ValueError("give either a webhook URL or a portal address with token=")
            credentials = OAuthCredentials(
                origin,
                token,
                refresh_token=refresh_token,
                client_id=client_id,
                client_secret=client_secret,
                oauth_url=oauth_url,
                on_token_refresh=on_token_refresh,
            )
            # Operating budgets are kept per app (client_id); without one, per token.
            credential = credential_key("oauth", client_id or token)
        else:
            if user is None or code is None:
                raise ValueError(
                    "url is not a webhook URL (https://PORTAL/rest/{user_id}/{code}/); "
                    "for an OAuth app pass the portal address and token="
                )
            if any(x is not None for x in (refresh_token, client_id, client_secret)):
                raise ValueError("refresh_token/client_id/client_secret need token=")
            credentials = WebhookCredentials(origin, user, code)
            credential = credential_key("webhook", f"{user}/{code}")
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        self.limits = limits
        self._counters = Counters()
        self._shared: Shared | None = None
        if shared is not None:
            if throttle is not None:
                raise ValueError("give shared= or throttle=, not both")
            from b24async.shared import connect

            self._shared = connect(
                shared,
                origin=origin,
                credentials=credentials,
                limits=limits,
                max_concurrency=max_concurrency,
                fallback=shared_fallback,
                clock=clock,
            )
            throttle = self._shared.throttle
        self._lifecycle = Lifecycle()
        # The default throttle is the portal's shared one, bound in the running event loop on
        # first use (see b24async.portal_throttles); until then a private one stands in.
        self._share: tuple[str, Hashable, int] | None = (
            None if throttle is not None else (origin, credential, max_concurrency)
        )
        self._throttle: ThrottlePolicy = throttle or Throttle(
            limits, max_concurrency=max_concurrency, webhook=code is not None, clock=clock
        )
        self._gate = GatedTransport(
            transport or AiohttpTransport(session, timeout=timeout), self._lifecycle
        )
        self._engine = Engine(
            credentials,
            self._gate,
            self._throttle,
            retry or RetryPolicy(),
            self._counters,
            clock=clock,
        )
        self._coalescer = (
            Coalescer(self._engine, items_per_command=users_per_command, lifecycle=self._lifecycle)
            if coalesce
            else None
        )
        self._closing: asyncio.Future[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> Bitrix24:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self, timeout: float = 5.0) -> None:
        """Shut down: refuse new calls, let requests on the wire finish, fail the rest.

        From the moment ``close()`` is called, new calls raise :class:`~b24async.ClientClosed`
        and nothing more is sent. Requests already on the wire get ``timeout`` seconds to come
        back (their callers get their results); then every call, batch and page still pending
        fails with :class:`~b24async.ClientClosed`, whose ``sent`` says whether its command
        may have reached the portal (``False``: it certainly did not run). Finally the HTTP
        session is closed (unless it is caller-owned), as is the Redis client of ``shared=``
        (the same way). Idempotent; a second caller waits for the first close to finish.
        """
        if self._closing is not None:
            await asyncio.shield(self._closing)
            return
        self._closing = asyncio.get_running_loop().create_future()
        try:
            self._lifecycle.closed = True
            try:
                if self._coalescer is not None:
                    await self._coalescer.close()
                await self._lifecycle.drain(self._gate, timeout)
            finally:
                # Also when close() itself is cancelled: end what is left, release the session.
                self._lifecycle.abort()
                await self._gate.close()
                if self._shared is not None:
                    await self._shared.close()  # a caller-owned Redis client stays open
        finally:
            self._closing.set_result(None)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._lifecycle.closed

    def _check_open(self) -> None:
        self._lifecycle.check_open()
        share, self._share = self._share, None
        if share is not None:  # first use, in the running loop: take the portal's throttle
            origin, credential, concurrency = share
            shared = shared_throttle(
                origin,
                credential,
                self.limits,
                max_concurrency=concurrency,
                clock=self._engine.clock,
            )
            self._throttle = self._engine.throttle = shared

    # -- batches -----------------------------------------------------------------------------

    @overload
    async def batch(
        self,
        commands: Mapping[str, Method[T]] | Sequence[Method[T]],
        *,
        halt: bool = False,
        progress: ProgressCallback | None = None,
        account: BatchAccount | None = None,
    ) -> BatchResult[T]: ...

    @overload
    async def batch(
        self,
        commands: Mapping[str, CommandSpec] | Sequence[CommandSpec],
        *,
        halt: bool = False,
        progress: ProgressCallback | None = None,
        account: BatchAccount | None = None,
    ) -> BatchResult[Any]: ...

    async def batch(
        self,
        commands: Mapping[str, Any] | Sequence[Any],
        *,
        halt: bool = False,
        progress: ProgressCallback | None = None,
        account: BatchAccount | None = None,
    ) -> BatchResult[Any]:
        """Run any number of commands, 50 per ``batch`` request; one outcome per command.

        ``commands`` maps names to ``(method, params)`` tuples or typed requests (a list gets
        names ``"0"``, ``"1"``, ...). Commands that refer to each other with
        ``$result[name]...`` travel in the same request. With ``halt=True`` the first failing
        command stops the rest (requests then go one after another); skipped names are in
        ``result.skipped``. ``progress(done, total)`` is called as commands complete;
        ``account`` (a :class:`~b24async.results.BatchAccount`) reports each outcome as soon as
        it is known and keeps the account if the batch is cancelled.

        A failed HTTP request never makes this raise: its commands end as failed, unknown
        ("may have been applied") or not sent in the returned :class:`BatchResult`. It raises
        only for bad input (``ValueError``/``TypeError``, before anything is sent) and when
        the client is closed before every command has its outcome: that
        :class:`~b24async.ClientClosed` carries the batch's outcomes so far on ``.result`` (a
        :class:`BatchResult`; the commands the close cut short are ``UNKNOWN`` if their
        request had left, else ``NOT_SENT``).

        A command whose params would change inside a batch query (a null or empty value, a
        top-level key with a dot, space or bracket, a string the portal would read as a
        ``$result[...]`` reference that is not one of this batch's) is sent alone, as a plain
        call, so it means what it means alone. Such a command that is also linked to others
        by ``$result`` references cannot be sent either way: ``ValueError``.
        """
        planned = normalize_commands(commands)
        followed = account if account is not None else BatchAccount()
        try:
            self._check_open()
            with self._lifecycle.operation():
                result = await run_batch(
                    self._engine, planned, halt=halt, progress=progress, account=followed
                )
        except ClientClosed as exc:  # close() ended the batch: keep the account on the error
            raise followed.closed(planned, exc) from None
        if self.closed and any(isinstance(e, ClientClosed) for e in result.errors.values()):
            # Its last requests met the closed gate before close() cancelled it: the same end.
            raise followed.closed(planned, ClientClosed(sent=False)) from None
        return result

    # -- events -----------------------------------------------------------------------------

    def offline_events(
        self,
        *,
        limit: int = 50,
        poll_interval: float = 30.0,
        wakeup: asyncio.Event | None = None,
        follow: bool = True,
        adopt_after: float = 300.0,
        connector: str | None = None,
    ) -> OfflineEvents:
        """The app's offline event queue as an at-least-once async iterator of events.

        ::

            async with b24.offline_events() as events:
                async for event in events:
                    await handle(event)  # cleared on the portal once you move past it

        See :class:`b24async.events.OfflineEvents` for the arguments and the guarantees. Needs
        an OAuth app with an admin's token; every read goes through this client (its
        throttle, retries and :class:`ClientClosed` on close, which ends the iteration).
        """
        from b24async.events.offline import OfflineEvents

        return OfflineEvents(
            self,
            limit=limit,
            poll_interval=poll_interval,
            wakeup=wakeup,
            follow=follow,
            adopt_after=adopt_after,
            connector=connector,
        )

    # -- introspection -----------------------------------------------------------------------

    @property
    def stats(self) -> ClientStats:
        """A snapshot of what this client has done so far."""
        c = self._counters
        throttle = self._throttle
        return ClientStats(
            requests=c.requests,
            commands=c.commands,
            batches=c.batches,
            retries=c.retries,
            query_limit_hits=c.query_limit_hits,
            operation_limit_hits=c.operation_limit_hits,
            transport_errors=c.transport_errors,
            coalesced_calls=c.coalesced_calls,
            throttle_wait=throttle.waited,
            operating_wait=throttle.operating_waited
            + (self._coalescer.held if self._coalescer is not None else 0.0),
            token_refreshes=self._engine.credentials.refreshes,
            operating=dict(throttle.usage()),
            dropped_calls=c.dropped_calls,
        )

    def __repr__(self) -> str:
        return f"Bitrix24({self._engine.credentials!r}, limits={self.limits!r})"
