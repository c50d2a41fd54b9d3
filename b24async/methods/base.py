"""The base of every typed request: ``await b24(GetAccessibility(...))`` returns ``Availability``.

A request is a frozen attrs class whose fields are the method's parameters, validated when the
object is built, so a bad request never reaches the portal. The client only needs three things::

    resp = await self.call(req.api_method, req.to_params())
    return req.parse(resp.result)

``Method[T]`` is covariant in ``T``, so ``async def __call__(self, request: Method[T]) -> T`` infers
``Availability`` for a ``GetAccessibility``. The validators at the bottom are shared by the
request modules.

A result that does not match its model raises :class:`~b24async.errors.DecodeError` (with the
offending JSON as ``raw``), wherever it is parsed (a call, a batch, a page): every subclass's
``parse``/``parse_item`` is wrapped once, when the subclass is defined.
"""

from __future__ import annotations

import abc
import functools
import json
import operator
from collections.abc import Callable
from typing import Any, ClassVar, Generic, TypeVar

import attrs

from b24async.errors import DecodeError
from b24async.models import _convert as cv

__all__ = ["ListMethod", "Method"]

T_co = TypeVar("T_co", covariant=True)
ItemT = TypeVar("ItemT")


def _decoding(parse: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """Wrap a ``parse``/``parse_item``: a result the model cannot read is a DecodeError."""

    @functools.wraps(parse)
    def wrapper(self: Any, raw: Any) -> Any:
        try:
            return parse(self, raw)
        except DecodeError:
            raise
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            body = json.dumps(raw, ensure_ascii=False, default=repr).encode()
            raise DecodeError(
                f"result does not match {type(self).__name__}: {exc}",
                raw=body,
                status=200,
                method=self.api_method,
            ) from exc

    wrapper._b24_decoding = True  # type: ignore[attr-defined]
    return wrapper


class Method(abc.ABC, Generic[T_co]):
    """Base of every typed request (frozen attrs subclasses).

    Subclasses set ``api_method`` (the REST name, e.g. ``"calendar.accessibility.get"``) and
    implement :meth:`to_params` and :meth:`parse`.
    """

    __slots__ = ()

    api_method: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in ("parse", "parse_item"):
            func = cls.__dict__.get(name)
            if not callable(func) or getattr(func, "__isabstractmethod__", False):
                continue
            if not getattr(func, "_b24_decoding", False):  # attrs copies slotted classes
                setattr(cls, name, _decoding(func))

    @abc.abstractmethod
    def to_params(self) -> dict[str, Any]:
        """The wire params: JSON-ready values only (str/int/float/bool/None/list/dict)."""

    @abc.abstractmethod
    def parse(self, result: Any) -> T_co:
        """Turn the response's raw ``result`` value into the typed result."""


class ListMethod(Method[list[ItemT]]):
    """A paginated list method (``user.get``): one page parses to ``list[ItemT]``.

    ``to_params`` never contains ``start``; the client's paginator adds it and calls
    :meth:`parse_item` on each row it collects.
    """

    __slots__ = ()

    def parse(self, result: Any) -> list[ItemT]:
        """Parse one page: a JSON array of rows (or PHP's object form of one)."""
        return [self.parse_item(row) for row in cv.as_list(result, self.api_method)]

    @abc.abstractmethod
    def parse_item(self, raw: Any) -> ItemT:
        """Parse one row of the list."""


# --- validators shared by the request classes ----------------------------------------------


def to_id(value: Any, what: str) -> int:
    """``value`` as a positive int ID; ``TypeError`` for bools, strings and floats.

    ``bool`` is refused although it is an ``int`` subclass (``True`` would be sent as user 1).
    Integer-like objects such as numpy ints are accepted through ``__index__``.
    """
    if isinstance(value, bool):
        raise TypeError(f"{what} must be an int, got bool {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{what} must be an int, got {type(value).__name__} {value!r}") from None
    if number <= 0:
        raise ValueError(f"{what} must be a positive int, got {number}")
    return number


def validate_bool(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """attrs validator: a real ``bool``; the strings ``"false"``/``"N"`` and ints are refused."""
    if not isinstance(value, bool):
        raise TypeError(
            f"{type(instance).__name__}.{attribute.name} must be True or False, "
            f"got {type(value).__name__} {value!r}"
        )
