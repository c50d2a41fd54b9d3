"""When a failed call is tried again, and how long to wait first.

The policy, in one place:

* **Limit errors** (``QUERY_LIMIT_EXCEEDED``, ``OPERATION_TIME_LIMIT``) prove the call did not
  run, so every call is retried, writes included, up to ``limit_attempts`` times. The throttle
  decides the wait (one drain interval after a 503; until the method's reset after a 429).
* **Transport errors, 5xx answers and undecodable answers** may come after the server ran the
  call. They are retried, with exponential backoff and full jitter, only for *reads and
  idempotent writes* (:func:`is_idempotent`), or when the failure proves the request never
  left (connection refused).
* **Everything else** (auth errors after one refresh, method errors, access errors) is raised.

This module holds the numbers; :class:`b24async.sending.SendingFlow` applies them, one decision
per failed attempt, without I/O.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import attrs

__all__ = ["IDEMPOTENT_SUFFIXES", "READ_SUFFIXES", "RetryPolicy", "is_idempotent", "is_read"]

#: Last name segments of methods that read, or write the same state however often they run.
IDEMPOTENT_SUFFIXES = frozenset(
    {"get", "list", "current", "time", "fields", "search", "set", "update", "info"}
)

#: Last name segments of methods that only read (the idempotent ones less ``set``/``update``).
READ_SUFFIXES = IDEMPOTENT_SUFFIXES - {"set", "update"}


def is_idempotent(method: str) -> bool:
    """True for reads and idempotent writes (``*.get``, ``*.list``, ``*.set``, ``*.update``).

    ``*.add`` creates a new record each time and ``*.delete`` fails the second time, so neither
    is idempotent. ``batch`` is judged command by command by the caller.
    """
    return method.rsplit(".", 1)[-1].lower() in IDEMPOTENT_SUFFIXES


def is_read(method: str) -> bool:
    """True for methods that only read (``*.get``, ``*.list``, ``*.search``, ...)."""
    return method.rsplit(".", 1)[-1].lower() in READ_SUFFIXES


@attrs.frozen
class RetryPolicy:
    """How often and how patiently calls are retried.

    Attributes:
        attempts: tries in all for transport errors, 5xx and undecodable answers, counted per
            command over every request that carries it (a read re-sent in a batch's retry
            request goes on with the tries it has left).
        limit_attempts: tries in all for limit errors (503/429), which prove nothing ran.
        backoff: the first backoff, seconds; doubled per attempt, capped at ``max_backoff``.
        max_backoff: the longest single backoff, seconds.
        idempotent: decides whether a method may be retried after an ambiguous failure.
    """

    attempts: int = attrs.field(default=5, validator=attrs.validators.ge(1))
    limit_attempts: int = attrs.field(default=30, validator=attrs.validators.ge(1))
    backoff: float = attrs.field(default=0.25, validator=attrs.validators.ge(0))
    max_backoff: float = attrs.field(default=20.0, validator=attrs.validators.ge(0))
    idempotent: Callable[[str], bool] = is_idempotent

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Backoff before try ``attempt + 1`` (``attempt`` >= 1): full jitter, capped."""
        ceiling = min(self.max_backoff, self.backoff * (2 ** (attempt - 1)))
        return (rng or random).uniform(ceiling / 2, ceiling)

    @classmethod
    def never(cls) -> RetryPolicy:
        """No retries of ambiguous failures (limit errors are still waited out)."""
        return cls(attempts=1)
