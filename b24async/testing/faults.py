"""Fault injection: the failures a client meets on real networks, on purpose and reproducibly.

Per ``/rest`` HTTP request one draw of a ``random.Random(seed)`` picks at most one fault, in
arrival order, so two portals with the same :class:`Faults` fail the same requests. ``at``
scripts faults for given request numbers instead (``{2: FaultKind.HTML_502}``: the third
``/rest`` request gets a proxy's 502 page), for tests that need one exact failure. Faults never
touch ``/oauth`` or ``/_portal``.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Mapping

import attrs

__all__ = ["FaultKind", "FaultPlan", "Faults"]


def _probability(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name} must be a probability in [0, 1], got {value!r}")


class FaultKind(enum.Enum):
    """One kind of injected fault."""

    ERROR_500 = "error_500"
    DROP = "drop"
    HTML_502 = "html_502"
    SLOW = "slow"


@attrs.frozen
class Faults:
    """Which faults to inject, with what probability per ``/rest`` request.

    Attributes:
        error_500: HTTP 500 with a Bitrix JSON body ``{"error": "INTERNAL_SERVER_ERROR", ...}``.
        drop: the connection is closed without a reply (the client sees a disconnect).
        html_502: an nginx-style HTML ``502 Bad Gateway`` page instead of JSON.
        slow: the normal reply, sent ``slow_seconds`` late.
        slow_seconds: the delay of a slow reply.
        seed: seeds the draws; the same seed fails the same request indices.
        after_execution: when True (the default, the worst case for a client) the request is
            fully executed first (limits charged, state changed, ledger written) and only its
            reply is replaced; when False the fault strikes before the portal sees the request.
        at: scripted faults: ``/rest`` request number (0-based, in arrival order) -> the
            :class:`FaultKind` it gets, whatever the draw says (the draw still happens, so the
            random faults of other requests stay where they were).
    """

    error_500: float = attrs.field(default=0.0, validator=_probability)
    drop: float = attrs.field(default=0.0, validator=_probability)
    html_502: float = attrs.field(default=0.0, validator=_probability)
    slow: float = attrs.field(default=0.0, validator=_probability)
    slow_seconds: float = 2.0
    seed: int = 0
    after_execution: bool = True
    at: Mapping[int, FaultKind] = attrs.field(factory=dict, converter=dict)

    def __attrs_post_init__(self) -> None:
        for index, kind in self.at.items():
            if not isinstance(index, int) or index < 0 or not isinstance(kind, FaultKind):
                raise ValueError(
                    f"at maps request numbers >= 0 to FaultKind, not {index!r}: {kind!r}"
                )
        if self.error_500 + self.drop + self.html_502 + self.slow > 1.0 + 1e-9:
            raise ValueError("fault probabilities must add up to at most 1")
        if self.slow_seconds < 0:
            raise ValueError(f"slow_seconds must not be negative, got {self.slow_seconds!r}")


class FaultPlan:
    """The seeded sequence of fault decisions, one per ``/rest`` request."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._random = random.Random(faults.seed)
        self._count = 0
        self._thresholds = (
            (FaultKind.ERROR_500, faults.error_500),
            (FaultKind.DROP, faults.drop),
            (FaultKind.HTML_502, faults.html_502),
            (FaultKind.SLOW, faults.slow),
        )

    def next(self) -> FaultKind | None:
        """The fault for the next request, or None. Always draws, so indices stay aligned."""
        draw = self._random.random()
        index, self._count = self._count, self._count + 1
        if index in self.faults.at:
            return self.faults.at[index]
        edge = 0.0
        for kind, probability in self._thresholds:
            edge += probability
            if draw < edge:
                return kind
        return None
