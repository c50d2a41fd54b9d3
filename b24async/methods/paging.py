"""How a list method is walked by ``ID`` (keyset paging): a small registry keyed by method.

The generic paginator (:mod:`b24async.paging`) names no method: it asks :func:`keyset_params`
for the params of the page after a given ``ID``. Most list methods filter in ``filter`` and sort
with ``order``; the exceptions register their own strategy here (``user.get`` sorts with
top-level ``SORT``/``ORDER`` and filters in ``FILTER``, facts file §7.5).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["KeysetParams", "keyset_params", "register_keyset"]

#: Builds one keyset page's params: rows with ``ID > after``, by ID ascending, uncounted.
KeysetParams = Callable[[Mapping[str, Any], Any], dict[str, Any]]


def _merge_filter(out: dict[str, Any], filter_key: str, after: Any) -> dict[str, Any]:
    current = out.get(filter_key)
    merged = dict(current) if isinstance(current, Mapping) else {}
    merged[">ID"] = after
    out[filter_key] = merged
    return out


def lower_case_keyset(params: Mapping[str, Any], after: Any) -> dict[str, Any]:
    """The common shape: ``filter[>ID]``, ``order[ID]=ASC``, ``start=-1``."""
    out = dict(params)
    out["start"] = -1
    out["order"] = {"ID": "ASC"}
    filter_key = next((k for k in out if k.lower() == "filter"), "filter")
    return _merge_filter(out, filter_key, after)


def top_level_sort_keyset(params: Mapping[str, Any], after: Any) -> dict[str, Any]:
    """``user.get``'s shape: ``FILTER[>ID]``, top-level ``SORT=ID``/``ORDER=ASC``, ``start=-1``."""
    out = dict(params)
    out["start"] = -1
    out["SORT"], out["ORDER"] = "ID", "ASC"
    filter_key = next((k for k in out if k.upper() == "FILTER"), "FILTER")
    return _merge_filter(out, filter_key, after)


_KEYSET: dict[str, KeysetParams] = {"user.get": top_level_sort_keyset}


def register_keyset(method: str, strategy: KeysetParams) -> None:
    """Use ``strategy`` to build keyset pages of ``method`` (a lower-case REST name)."""
    _KEYSET[method.lower()] = strategy


def keyset_params(method: str, params: Mapping[str, Any], after: Any) -> dict[str, Any]:
    """The params of ``method``'s keyset page after ``ID`` ``after``."""
    return _KEYSET.get(method.lower(), lower_case_keyset)(params, after)
