"""Run one REST command as the portal does, alone or inside a ``batch``.

The steps, in the real server's order: find the method, check the caller's scope, check the
method's operating budget for this caller (facts §2), pop ``start`` (PHP intval) and the auth
params, spend the simulated processing time, call the layer-2 handler, charge the operating
budget, and build the ``time`` block (facts §3).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from b24async.clock import Clock
from b24async.testing.credentials import Credential, insufficient_scope
from b24async.testing.events import Cause, fire_for_writes
from b24async.testing.methods import CallContext, MethodFailure, MethodResult, lookup
from b24async.testing.methods_common import php_str
from b24async.testing.operating import BATCH_KEY_WEIGHT, OperatingMeter, RequestMeter
from b24async.testing.phpquery import php_intval
from b24async.testing.replies import (
    INTERNAL_SERVER_ERROR,
    METHOD_NOT_FOUND,
    OPERATION_TIME_LIMIT,
    RestError,
    time_block,
)
from b24async.testing.state import PortalState
from b24async.testing.stats import StatsRecorder

__all__ = ["CommandDone", "CommandRunner", "Outcome", "operating_key"]

_log = logging.getLogger(__name__)

WRONG_LICENSE_CONNECTOR = RestError(
    403, "WRONG_LICENSE", "This feature is not enabled for the current license: auth_connector"
)


@attrs.frozen
class CommandDone:
    """A command that succeeded: the handler's result and the command's ``time`` block."""

    result: MethodResult
    time: dict[str, Any]
    processing: float


Outcome = CommandDone | RestError


def operating_key(credential: Credential, method: str, *, in_batch: bool = False) -> Any:
    """The key a call is billed to (facts §2 "Key").

    A webhook's batch inner commands are keyed without the webhook: every webhook's batches
    share one key per method, which a direct call through the webhook never reads.
    """
    if in_batch and credential.kind == "webhook":
        return ("webhook", "", method)
    return (credential.kind, credential.identity, method)


class CommandRunner:
    """Executes commands against the portal state under the operating budget."""

    def __init__(
        self,
        *,
        state: PortalState,
        meter: OperatingMeter,
        stats: StatsRecorder,
        clock: Clock,
        cost: Callable[[str], float],
        time_scale: float,
    ) -> None:
        self.state = state
        self.meter = meter
        self.stats = stats
        self.wall = clock.time
        """The portal's unix time."""
        self._clock = clock
        self._cost = cost
        self._time_scale = time_scale

    def _reset_at(self, value: float | None) -> float | None:
        """Floored (never later than the real reset), as the portal's ``floor(start) + 600``."""
        if value is None:
            return None
        if self._time_scale == 1.0:
            return math.floor(value)
        return math.floor(value * 1000) / 1000

    async def run(
        self,
        credential: Credential,
        method: str,
        params: Mapping[str, Any],
        *,
        request: RequestMeter,
        in_batch: bool = False,
    ) -> Outcome:
        """Run ``method`` (lower-case) for ``credential`` with merged request ``params``.

        ``request`` accounts the HTTP request this call belongs to (closed by the caller).
        """
        spec = lookup(method)
        if spec is None:
            return METHOD_NOT_FOUND
        if not credential.allows(spec.scope):
            return insufficient_scope(credential.kind)
        key = operating_key(credential, spec.name, in_batch=in_batch)
        if not request.allows(key):
            return OPERATION_TIME_LIMIT

        arguments = dict(params)
        start_param = arguments.pop("start", None)
        start = None if start_param is None else php_intval(start_param)
        if credential.kind == "oauth":
            # The auth params belong to the server, not to the method (CORE parameters_clear).
            arguments.pop("auth", None)
            arguments.pop("access_token", None)
        connector = ""
        if credential.kind == "oauth" and "auth_connector" in arguments:
            # The OAuth layer takes auth_connector out of any call (events facts §1.2).
            raw_connector = arguments.pop("auth_connector")
            if self.state.events is not None and not self.state.events.auth_connector:
                return WRONG_LICENSE_CONNECTOR
            connector = php_str(raw_connector)

        started_wall = self.wall()
        cost = self._cost(spec.name)
        if cost > 0:
            await self._clock.sleep(cost)
        context = CallContext(
            user_id=credential.user_id,
            now=self.wall(),
            start=start,
            app=credential.kind == "oauth",
            connector=connector,
        )
        written = len(self.state.ledger)
        outcome: MethodResult | RestError
        try:
            outcome = spec.handler(self.state, arguments, context)
        except MethodFailure as failure:
            outcome = RestError(failure.status, failure.code, failure.description)
        except Exception:  # a handler bug: answer like a crashed PHP backend, and say why
            _log.exception("fake portal handler for %s crashed", spec.name)
            outcome = INTERNAL_SERVER_ERROR
        request.add(key, cost, start=started_wall)
        self.stats.commands[spec.name] += 1
        if isinstance(outcome, RestError):
            return outcome
        if self.state.events is not None and len(self.state.ledger) > written:
            cause = Cause(credential.user_id, by_app=context.app, connector=connector)
            fire_for_writes(self.state.events, self.state.ledger[written:], cause)
        finish = self.wall()
        block = time_block(
            start=started_wall,
            finish=finish,
            processing=cost,
            operating=request.operating(key),
            reset_at=self._reset_at(request.reset_at(key, start=started_wall)),
            tz=self.state.timezone,
        )
        return CommandDone(outcome, block, cost)

    def batch_allowed(self, credential: Credential, request: RequestMeter) -> bool:
        """The check of the outer ``batch`` key ("2026": a blocked key refuses the whole batch)."""
        if not self.meter.bills_batch:
            return True
        return request.allows(operating_key(credential, "batch"))

    def outer_time(
        self,
        credential: Credential,
        request: RequestMeter,
        *,
        start: float,
        processing: float,
    ) -> dict[str, Any]:
        """Bill the outer ``batch`` and build its ``time`` block (call before closing ``request``).

        "2026": half the batch handler's time goes to the ``batch`` key and the block reports
        that key after this request; otherwise the outer call is not billed (``operating`` 0).
        """
        key = operating_key(credential, "batch")
        operating: float | None = None
        if self.meter.bills_batch:
            request.add(key, processing * BATCH_KEY_WEIGHT, start=start)
            request.close()  # the batch is the request's last call: store it now
            operating = request.operating(key)
        elif self.meter.enabled:
            operating = 0.0
        return time_block(
            start=start,
            finish=self.wall(),
            processing=processing,
            operating=operating,
            reset_at=self._reset_at(request.reset_at(key, start=start)),
            tz=self.state.timezone,
        )
