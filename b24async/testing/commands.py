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
from b24async.testing.operating import OperatingMeter
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

__all__ = ["CommandDone", "CommandRunner", "Outcome"]

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

    def reset_at(self, identity: str, method: str, *, now_wall: float) -> float:
        """``operating_reset_at`` for a caller and method: an int on an unscaled portal.

        Floored (never later than the real reset), as the real portal's ``floor(start) + 600``.
        """
        value = self.meter.reset_at((identity, method), now_wall=now_wall)
        if self._time_scale == 1.0:
            return math.floor(value)
        return math.floor(value * 1000) / 1000

    def operating(self, identity: str, method: str) -> float:
        """The method's operating sum for this caller, as reported in ``time.operating``."""
        return round(self.meter.spent((identity, method)), 6)

    async def run(self, credential: Credential, method: str, params: Mapping[str, Any]) -> Outcome:
        """Run ``method`` (lower-case) for ``credential`` with merged request ``params``."""
        spec = lookup(method)
        if spec is None:
            return METHOD_NOT_FOUND
        if not credential.allows(spec.scope):
            return insufficient_scope(credential.kind)
        key = (credential.identity, spec.name)
        if self.meter.blocked(key):
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
        started = self._clock.monotonic()
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
        self.meter.charge(key, cost, started=started, started_wall=started_wall)
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
            operating=self.operating(*key),
            reset_at=self.reset_at(*key, now_wall=started_wall),
            tz=self.state.timezone,
        )
        return CommandDone(outcome, block, cost)

    def outer_time(
        self, identity: str, method: str, *, start: float, processing: float
    ) -> dict[str, Any]:
        """The ``time`` block of a reply that is not one command (the outer ``batch``)."""
        return time_block(
            start=start,
            finish=self.wall(),
            processing=processing,
            operating=self.operating(identity, method),
            reset_at=self.reset_at(identity, method, now_wall=start),
            tz=self.state.timezone,
        )
