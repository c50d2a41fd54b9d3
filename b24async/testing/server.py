"""The fake portal's HTTP layer: routes, request params, limits, faults and replies.

Routes:

* ``/rest/{user_id}/{code}/{method}[.json][/]`` (incoming webhook) and ``/rest/{method}`` (OAuth);
  GET and POST. The leaky bucket is checked first, when the request arrives; then, in CORE's
  order, the method is looked up (404), the caller authenticated (401), the method's operating
  budget checked (429) and the command run.
* ``/oauth/token/``: the refresh-token grant of the fake OAuth server.
* ``/_portal/stats`` and ``/_portal/ledger``: inspection, never limited, counted or faulted.

Params are the query string merged with the body, the body winning key by key (CORE
``getRequestData``): JSON only when ``Content-Type`` is exactly ``application/json`` (malformed
JSON gives no params), multipart form fields, otherwise the raw body through ``parse_str``.
"""

from __future__ import annotations

import json
from typing import Any

import attrs
from aiohttp import BodyPartReader, web

from b24async.clock import Clock
from b24async.testing.batch import result_pieces, run_batch
from b24async.testing.bucket import LeakyBucket
from b24async.testing.commands import CommandRunner, Outcome
from b24async.testing.credentials import Credential, Webhooks, oauth_credential
from b24async.testing.faults import FaultKind, FaultPlan, Faults
from b24async.testing.jsontext import json_bytes, splice
from b24async.testing.methods import lookup
from b24async.testing.oauth import TokenStore
from b24async.testing.operating import RequestMeter
from b24async.testing.phpquery import parse_pairs_php, parse_qs_php
from b24async.testing.replies import (
    HTML_502_BODY,
    INTERNAL_SERVER_ERROR,
    METHOD_NOT_FOUND,
    OPERATION_TIME_LIMIT,
    QUERY_LIMIT_EXCEEDED,
    Reply,
    RestError,
)
from b24async.testing.state import PortalState
from b24async.testing.stats import StatsRecorder

__all__ = ["RestServer", "Route", "parse_route", "read_params"]

MAX_BODY = 16 * 1024 * 1024


@attrs.frozen
class Route:
    """A parsed ``/rest/...`` path: the lower-case method, and the webhook's (user, code)."""

    method: str
    webhook: tuple[str, str] | None


def parse_route(tail: str) -> Route:
    """Parse the path after ``/rest/``; an unusable path gives the method ``""``."""
    path = tail[:-1] if tail.endswith("/") else tail
    parts = path.split("/")
    webhook: tuple[str, str] | None = None
    if len(parts) == 3:
        webhook = (parts[0], parts[1])
        method = parts[2]
    elif len(parts) == 1:
        method = parts[0]
    else:
        method = ""
    method = method.lower()  # method names are case-insensitive (CORE ToLower)
    if method.endswith(".json"):
        method = method[: -len(".json")]
    return Route(method, webhook)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # PHP's json_decode refuses NaN and Infinity


async def _body_params(request: web.Request) -> dict[str, Any]:
    mime = request.headers.get("Content-Type", "").split(";", 1)[0].strip()
    if mime == "application/json":
        raw = await request.read()
        try:
            decoded = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError):
            return {}  # CORE catches the decode error and carries on with no params
        if isinstance(decoded, dict):
            return decoded
        if isinstance(decoded, list):
            return {str(position): value for position, value in enumerate(decoded)}
        return {}
    if mime.lower() == "multipart/form-data":
        pairs: list[tuple[str, str]] = []
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            # Files go to PHP's $_FILES, not to the params.
            if isinstance(part, BodyPartReader) and part.name and part.filename is None:
                pairs.append((part.name, await part.text()))
        return parse_pairs_php(pairs)
    raw = await request.read()
    return parse_qs_php(raw.decode("utf-8", "replace").strip())


async def read_params(request: web.Request) -> dict[str, Any]:
    """The request's params: query string, then the POST body's top-level keys over them."""
    params = parse_qs_php(request.raw_path.partition("?")[2])
    if request.method == "POST":
        params.update(await _body_params(request))
    return params


class RestServer:
    """The aiohttp application serving one fake portal's state."""

    def __init__(
        self,
        *,
        state: PortalState,
        webhooks: Webhooks,
        tokens: TokenStore,
        bucket: LeakyBucket,
        runner: CommandRunner,
        stats: StatsRecorder,
        faults: Faults,
        latency: float,
        clock: Clock,
    ) -> None:
        self.state = state
        self.webhooks = webhooks
        self.tokens = tokens
        self.bucket = bucket
        self.runner = runner
        self.stats = stats
        self.faults = faults
        self.plan = FaultPlan(faults)
        self.latency = latency
        self.base_url = ""  # set by the portal once its socket is bound
        self._clock = clock

    def build_app(self) -> web.Application:
        """A fresh ``aiohttp.web.Application`` with the portal's routes."""
        app = web.Application(client_max_size=MAX_BODY)
        for method in ("GET", "POST"):
            app.router.add_route(method, "/rest/{tail:.*}", self._rest)
            app.router.add_route(method, "/oauth/token/", self._oauth)
            app.router.add_route(method, "/oauth/token", self._oauth)
        app.router.add_get("/_portal/stats", self._stats)
        app.router.add_get("/_portal/ledger", self._ledger)
        return app

    async def _delay(self) -> None:
        if self.latency > 0:
            await self._clock.sleep(self.latency)

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        self.stats.arrive(self._clock.monotonic())
        fault = self.plan.next()  # drawn first, so faults follow arrival order only
        try:
            if fault is not None:
                self.stats.faults[fault.value] += 1
            executes = fault in (None, FaultKind.SLOW) or self.faults.after_execution
            if fault is FaultKind.SLOW and not self.faults.after_execution:
                await self._clock.sleep(self.faults.slow_seconds)
            try:
                reply = await self._serve(request) if executes else None
            finally:
                if self.state.events is not None:
                    self.state.events.end_hit()  # events go out after the hit (facts §2.1)
            if fault is FaultKind.SLOW and self.faults.after_execution:
                await self._clock.sleep(self.faults.slow_seconds)
            if fault is FaultKind.ERROR_500:
                reply = Reply.error(INTERNAL_SERVER_ERROR)
            elif fault is FaultKind.HTML_502:
                reply = Reply(502, HTML_502_BODY, content_type="text/html")
            await self._delay()
            if fault is FaultKind.DROP or reply is None:
                if request.transport is not None:
                    request.transport.close()  # the client sees the server disconnect
                return web.Response()
            self.stats.reply(reply.status, reply.code)
            return reply.to_response()
        finally:
            self.stats.depart()

    async def _serve(self, request: web.Request) -> Reply:
        if not self.bucket.try_add():
            return Reply.error(QUERY_LIMIT_EXCEEDED)
        route = parse_route(request.match_info["tail"])
        params = await read_params(request)
        if not route.method or (route.method != "batch" and lookup(route.method) is None):
            return Reply.error(METHOD_NOT_FOUND)
        credential = self._authenticate(route, params, request)
        if isinstance(credential, RestError):
            return Reply.error(credential)
        request_meter = self.runner.meter.open()
        try:
            if route.method == "batch":
                return await self._batch(credential, params, request_meter)
            outcome = await self.runner.run(credential, route.method, params, request=request_meter)
        finally:
            request_meter.close()  # the request's sums are stored once it ends
        if isinstance(outcome, RestError):
            return Reply.error(outcome)
        # Printed part by part: {"result", "next", "total", "time"}, as one json_encode prints it.
        done = outcome.result
        body = [("result", result_pieces(done))]
        if done.next is not None:
            body.append(("next", [json_bytes(done.next)]))
        if done.total is not None:
            body.append(("total", [json_bytes(done.total)]))
        body.append(("time", [json_bytes(outcome.time)]))
        return Reply.printed(splice(body))

    def _authenticate(
        self, route: Route, params: dict[str, Any], request: web.Request
    ) -> Credential | RestError:
        if route.webhook is not None:
            return self.webhooks.resolve(*route.webhook, self.state)
        authorization = request.headers.get("Authorization", "")
        return oauth_credential(params, authorization, self.tokens, self.state)

    async def _batch(
        self, credential: Credential, params: dict[str, Any], request: RequestMeter
    ) -> Reply:
        start = self.runner.wall()
        self.stats.batches += 1
        if not self.runner.batch_allowed(credential, request):
            return Reply.error(OPERATION_TIME_LIMIT)  # the batch key is blocked: nothing runs

        async def execute(method: str, arguments: dict[str, Any]) -> Outcome:
            return await self.runner.run(
                credential, method, arguments, request=request, in_batch=True
            )

        run = await run_batch(params, execute)
        for error in run.result["result_error"].values():
            self.stats.batch_errors[error["error"]] += 1
        block = self.runner.outer_time(credential, request, start=start, processing=run.processing)
        return Reply.printed(splice((("result", run.pieces()), ("time", [json_bytes(block)]))))

    async def _oauth(self, request: web.Request) -> web.StreamResponse:
        self.stats.refreshes += 1
        outcome = self.tokens.refresh(await read_params(request))
        if isinstance(outcome, RestError):
            reply = Reply.error(outcome)
        else:
            tokens, user_id = outcome
            reply = Reply.json(self.tokens.token_body(tokens, user_id, base_url=self.base_url))
        await self._delay()
        return reply.to_response()

    async def _stats(self, request: web.Request) -> web.StreamResponse:
        body = self.stats.snapshot().to_json()
        meter = self.runner.meter
        body["operating"] = {
            "limiter": meter.limiter,
            "refusals": meter.refusals,
            "bans": meter.bans,
        }
        return web.json_response(body)

    async def _ledger(self, request: web.Request) -> web.StreamResponse:
        entries = [
            {
                "seq": entry.seq,
                "at": entry.at,
                "method": entry.method,
                "actor": entry.actor,
                "target": entry.target,
                "change": dict(entry.change),
            }
            for entry in self.state.ledger
        ]
        return web.json_response(entries, dumps=lambda value: json.dumps(value, default=str))
