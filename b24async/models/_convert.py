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
    as_opt_int,
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
    "as_opt_int",
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

    # Two forms, one type: ``_values is None`` -> ``_data`` is the dict itself; otherwise
    # ``_data`` maps each key to its position in the ``_values`` tuple and is shared by every map
    # of one wire shape (see :meth:`compact`), so a map costs two slots and one tuple.
    __slots__ = ("_data", "_values")

    def __init__(self, data: Mapping[K, V] | Iterable[tuple[K, V]] = ()) -> None:
        self._data: dict[K, Any] = dict(data)
        self._values: tuple[V, ...] | None = None

    @classmethod
    def adopt(cls, data: dict[K, V]) -> FrozenMap[K, V]:
        """Wrap ``data`` without copying it; the caller must not keep or change ``data``.

        For decoders that have just built the dict (one copy less per model on hot paths).
        """
        frozen: FrozenMap[K, V] = cls.__new__(cls)
        frozen._data = data
        frozen._values = None
        return frozen

    @classmethod
    def compact(cls, index: dict[K, int], values: tuple[V, ...]) -> FrozenMap[K, V]:
        """The map ``{key: values[index[key]]}`` in ``index``'s order, without building a dict.

        ``index`` maps each key to its position (0..n-1, in order) and is not copied: decoders
        share one per wire shape. Equal to (and indistinguishable from) the dict-built map.
        """
        frozen: FrozenMap[K, V] = cls.__new__(cls)
        frozen._data = index
        frozen._values = values
        return frozen

    def __getitem__(self, key: K) -> V:
        values = self._values
        if values is None:
            return self._data[key]  # type: ignore[no-any-return]
        position: int = self._data[key]
        return values[position]

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenMap):
            if self._values is not None and self._data is other._data:
                return self._values == other._values  # one shape: compare the values only
            return self._as_dict() == other._as_dict()
        if isinstance(other, Mapping):
            return self._as_dict() == dict(other.items())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"FrozenMap({self._as_dict()!r})"

    def __reduce__(self) -> tuple[type[FrozenMap[K, V]], tuple[dict[K, V]]]:
        return (type(self), (self._as_dict(),))

    def __setstate__(self, state: tuple[None, dict[str, Any]]) -> None:
        # Pickles made before the compact form hold the slot state ``(None, {"_data": ...})``.
        self._data, self._values = dict(state[1]["_data"]), None

    def _as_dict(self) -> dict[K, V]:
        values = self._values
        return self._data if values is None else dict(zip(self._data, values, strict=True))


def freeze(value: Mapping[str, Any]) -> FrozenMap[str, Any]:
    """``value`` as a :class:`FrozenMap` (the converter of every model's ``extra`` field)."""
    return value if isinstance(value, FrozenMap) else FrozenMap(value)


def split_extra(raw: Mapping[str, Any], known: Iterable[str]) -> FrozenMap[str, Any]:
    """The items of ``raw`` whose keys are not in ``known``: what a model keeps in ``extra``."""
    skip = frozenset(known)
    return FrozenMap({k: v for k, v in raw.items() if k not in skip})
