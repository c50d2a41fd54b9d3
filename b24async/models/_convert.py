"""Helpers the models share: the :mod:`b24async.codec` readers, and read-only ``extra`` maps.

The value conversions themselves live in :mod:`b24async.codec` (the one codec of the package,
with its tables of wire spellings); this module re-exports the ones the models and requests use,
under the names they use, and adds what only models need: :class:`FrozenMap` for ``extra`` and
:func:`split_extra`. What the wire does (facts file §4, §7):

* integers arrive as ints or as numeric strings (``"ID": "31"``; one doc example has ``"ID": 1``);
* flags arrive as ``"Y"``/``"N"``, as JSON booleans (``user.get`` ``ACTIVE``) or as ``1``/``0``;
* instants arrive as unix-timestamp strings (``DATE_FROM_TS_UTC``) or ISO-8601 strings with an
  offset (``LAST_LOGIN``); "no value" is ``""``, ``null`` or even ``{}`` (``TIMESTAMP_X``);
* PHP serializes an empty map as ``[]``, a map whose keys are exactly 0..n-1 as a list, and a list
  whose keys have gaps (after ``array_filter``) as an object ``{"0": ..., "2": ...}``.

Conversions of *known* fields are strict: a value of the wrong shape raises ``ValueError`` naming
the field (a silent wrong value is worse than an error). *Unknown* fields are never inspected.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar

from b24async.codec import (
    as_bool,
    as_enum,
    as_int,
    as_list,
    as_map,
    as_opt_bool,
    as_opt_datetime,
    as_opt_str,
    from_timestamp,
    to_timestamp,
    to_wire,
    wire_date,
    yn,
)

__all__ = [
    "FrozenMap",
    "as_bool",
    "as_enum",
    "as_int",
    "as_list",
    "as_map",
    "as_opt_bool",
    "as_opt_datetime",
    "as_opt_str",
    "freeze",
    "from_timestamp",
    "split_extra",
    "to_timestamp",
    "to_wire",
    "wire_date",
    "yn",
]

K = TypeVar("K")
V = TypeVar("V")


class FrozenMap(Mapping[K, V]):
    """A read-only mapping (a copy of the input); picklable, unlike ``types.MappingProxyType``.

    Compares equal to any mapping with the same items (``extra == {"X": 1}`` works). Unhashable,
    like ``dict``. Values are kept as received: nested lists and dicts are not deep-frozen.
    """

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[K, V] | Iterable[tuple[K, V]] = ()) -> None:
        self._data: dict[K, V] = dict(data)

    @classmethod
    def adopt(cls, data: dict[K, V]) -> FrozenMap[K, V]:
        """Wrap ``data`` without copying it; the caller must not keep or change ``data``.

        For decoders that have just built the dict (one copy less per model on hot paths).
        """
        frozen: FrozenMap[K, V] = cls.__new__(cls)
        frozen._data = data
        return frozen

    def __getitem__(self, key: K) -> V:
        return self._data[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"


def freeze(value: Mapping[str, Any]) -> FrozenMap[str, Any]:
    """``value`` as a :class:`FrozenMap` (the converter of every model's ``extra`` field)."""
    return value if isinstance(value, FrozenMap) else FrozenMap(value)


def split_extra(raw: Mapping[str, Any], known: Iterable[str]) -> FrozenMap[str, Any]:
    """The items of ``raw`` whose keys are not in ``known``: what a model keeps in ``extra``."""
    skip = frozenset(known)
    return FrozenMap({k: v for k, v in raw.items() if k not in skip})
