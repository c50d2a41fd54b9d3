"""``user.get``, ``user.current``, ``user.update`` and ``department.get``.

Follows CORE ``modules/rest/lib/api/user.php``: keys are upper-cased, a ``FILTER`` array replaces
the top-level filter entirely, unknown filter fields are dropped, a sort applies only when both
``SORT`` and ``ORDER`` are given, an empty page is a bare ``[]`` (no ``total``).

``user.get`` must page a 50,000-user portal cheaply: the rows matching the non-ID part of a filter
are computed once per (filter, sort) and cached until a user changes; ``>ID``-style bounds are
then a bisect on that list, so a keyset walk costs O(log n) per page.
"""

from __future__ import annotations

import bisect
import operator
import re
from collections.abc import Callable, Hashable, Mapping
from typing import Any

import attrs

from b24async.testing.data import USER_FIELDS
from b24async.testing.methods_common import (
    PAGE_SIZE,
    CallContext,
    MethodFailure,
    MethodResult,
    list_values,
    page_result,
    php_intval,
    php_str,
    php_truthy,
    upper_keys,
)
from b24async.testing.state import PortalState

__all__ = ["department_get", "user_current", "user_get", "user_update"]

Row = dict[str, Any]
Predicate = Callable[[Row], bool]

_LOWEST, _HIGHEST = -(2**63), 2**63
_PREFIX = re.compile(r"^(\W{1,2})(.+)$")
_OPS = {
    "": "=", "=": "=", "!": "!", "!=": "!", "@": "@", "!@": "!@", ">": ">", ">=": ">=",
    "<": "<", "<=": "<=", "%": "%", "!%": "!%", "=%": "like", "%=": "like",
}  # fmt: skip
_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
_SEARCH_FIELDS = ("NAME_SEARCH", "FIND")
# Fields user.update may change (CORE's allowed list minus the read-only ones).
# fmt: off
_EDITABLE = frozenset((
    "XML_ID", "ACTIVE", "NAME", "LAST_NAME", "SECOND_NAME", "TITLE", "EMAIL", "TIME_ZONE",
    "PERSONAL_GENDER", "PERSONAL_PROFESSION", "PERSONAL_WWW", "PERSONAL_BIRTHDAY",
    "PERSONAL_PHONE", "PERSONAL_MOBILE", "PERSONAL_CITY", "PERSONAL_STREET", "PERSONAL_COUNTRY",
    "PERSONAL_NOTES", "WORK_PHONE", "WORK_COMPANY", "WORK_POSITION", "WORK_DEPARTMENT",
    "WORK_CITY", "WORK_COUNTRY", "WORK_NOTES", "UF_DEPARTMENT", "UF_PHONE_INNER", "UF_SKYPE",
    "UF_INTERESTS", "UF_SKILLS", "UF_EMPLOYMENT_DATE",
))
# fmt: on
_FILTERABLE = frozenset(USER_FIELDS) | _EDITABLE


def _access_denied() -> MethodFailure:
    return MethodFailure(400, "ERROR_CORE", "access_denied")


def _public(row: Row) -> Row:
    """A copy safe to hand out (the department list is the one mutable value)."""
    copy = dict(row)
    copy["UF_DEPARTMENT"] = list(row["UF_DEPARTMENT"])
    return copy


# -- filters --------------------------------------------------------------------------------


@attrs.frozen
class _Cond:
    op: str
    field: str
    value: Hashable


def _yes_no(value: Any) -> str:
    """CORE ``prepareUserValue`` for ACTIVE/IS_ONLINE filters: ``($v && $v !== 'N')``."""
    return "Y" if php_truthy(value) and value != "N" else "N"


def _norm(field: str, value: Any) -> Hashable:
    items = list_values(value)
    if field in ("ACTIVE", "IS_ONLINE"):
        return _yes_no(value)
    if field in ("ID", "UF_DEPARTMENT"):
        if items is not None:
            return tuple(php_intval(item) for item in items)
        if field == "UF_DEPARTMENT":
            return (php_intval(value),) if php_truthy(value) else ()
        return php_intval(value)
    if items is not None:
        return tuple(php_str(item).casefold() for item in items)
    return php_str(value).casefold()


def _conditions(query: Mapping[str, Any], fields: frozenset[str]) -> list[_Cond]:
    conds = []
    for key, value in query.items():
        match = _PREFIX.match(key)
        prefix, field = (match.group(1), match.group(2)) if match else ("", key)
        if field in _SEARCH_FIELDS:
            conds.append(_Cond("search", field, php_str(value).casefold()))
        elif field in fields and prefix in _OPS:
            conds.append(_Cond(_OPS[prefix], field, _norm(field, value)))
    return conds


def _getter(field: str) -> Callable[[Row], Any]:
    if field == "ID":
        return lambda row: int(row["ID"])
    if field in ("ACTIVE", "IS_ONLINE"):
        return lambda row: "Y" if row[field] in (True, "Y") else "N"
    return lambda row: php_str(row.get(field)).casefold()


def _like(pattern: str) -> re.Pattern[str]:
    parts = (".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return re.compile("".join(parts), re.DOTALL)


def _predicate(cond: _Cond) -> Predicate:
    op, field = cond.op, cond.field
    value: Any = cond.value
    if op == "search":
        tokens = str(value).split()
        return lambda row: all(
            any(word.startswith(token) for word in _words(row)) for token in tokens
        )
    if field == "UF_DEPARTMENT":
        wanted = value if isinstance(value, tuple) else (value,)
        if op in ("=", "@", "!", "!@"):
            positive = op in ("=", "@")
            if not wanted:  # UF_DEPARTMENT = false: users without a department
                return lambda row: (not row["UF_DEPARTMENT"]) == positive
            return lambda row: any(dep in wanted for dep in row["UF_DEPARTMENT"]) == positive
        return _compare_any(op, wanted[0] if wanted else 0)
    get = _getter(field)
    if isinstance(value, tuple) and op in ("=", "@", "!", "!@"):
        positive = op in ("=", "@")
        return lambda row: (get(row) in value) == positive
    if isinstance(value, tuple):
        value = value[0] if value else ""
    if op in ("=", "@"):
        return lambda row: get(row) == value
    if op in ("!", "!@"):
        return lambda row: get(row) != value
    if op in ("%", "!%", "like"):
        regex = _like(f"%{value}%" if op != "like" else str(value))
        positive = op != "!%"
        return lambda row: bool(regex.fullmatch(str(get(row)).casefold())) == positive
    return _compare(op, get, value)


def _compare(op: str, get: Callable[[Row], Any], value: Any) -> Predicate:
    check = _COMPARISONS[op]
    return lambda row: bool(check(get(row), value))


def _compare_any(op: str, value: int) -> Predicate:
    check = _COMPARISONS.get(op)
    if check is None:  # LIKE on a list of IDs matches nothing
        return lambda row: False
    return lambda row: any(check(dep, value) for dep in row["UF_DEPARTMENT"])


def _words(row: Row) -> list[str]:
    text = " ".join(php_str(row.get(key)) for key in ("NAME", "LAST_NAME", "SECOND_NAME", "EMAIL"))
    return re.split(r"[\W_]+", text.casefold())


def _id_bounds(conds: list[_Cond]) -> tuple[int, int, list[_Cond]]:
    """Split scalar ID comparisons off as an inclusive ``[low, high]`` range."""
    low, high, rest = _LOWEST, _HIGHEST, []
    for cond in conds:
        value = cond.value
        if cond.field != "ID" or not isinstance(value, int) or cond.op not in _RANGE_OPS:
            rest.append(cond)
            continue
        op = cond.op
        if op in (">", ">=", "=", "@"):
            low = max(low, value + 1 if op == ">" else value)
        if op in ("<", "<=", "=", "@"):
            high = min(high, value - 1 if op == "<" else value)
    return low, high, rest


_RANGE_OPS = frozenset((">", ">=", "<", "<=", "=", "@"))


def _sort_key(field: str) -> Callable[[Row], tuple[Any, int]]:
    if field in ("ACTIVE", "IS_ONLINE"):
        return lambda row: ("Y" if row[field] in (True, "Y") else "N", int(row["ID"]))
    return lambda row: (php_str(row.get(field)).casefold(), int(row["ID"]))


def _matching(
    state: PortalState, rest: list[_Cond], sort: str, desc: bool
) -> tuple[list[Row], list[int]]:
    """Rows matching ``rest`` in output order, and their sort keys for bisecting (ID sorts)."""
    key = ("user.get", tuple(sorted((c.op, c.field, repr(c.value)) for c in rest)), sort, desc)
    cached: tuple[list[Row], list[int]] | None = state.user_query_cache.get(key)
    if cached is not None:
        return cached
    if len(state.user_query_cache) > 64:
        state.user_query_cache.clear()
    predicates = [_predicate(cond) for cond in rest]
    rows = (
        [row for row in state.users if all(p(row) for p in predicates)]
        if predicates
        else list(state.users)
    )
    if sort != "ID":
        rows.sort(key=_sort_key(sort), reverse=desc)
        keys: list[int] = []
    elif desc:
        rows.reverse()
        keys = [-int(row["ID"]) for row in rows]
    else:
        keys = state.user_ids if not predicates else [int(row["ID"]) for row in rows]
    cached = (rows, keys)
    state.user_query_cache[key] = cached
    return cached


def user_get(state: PortalState, params: Mapping[str, Any], ctx: CallContext) -> MethodResult:
    """``user.get``: filtered, sorted users, 50 per page (``start=-1``: no counting)."""
    query = upper_keys(params)
    raw_filter = query.get("FILTER")
    if isinstance(raw_filter, dict):
        source = upper_keys(raw_filter)
    elif isinstance(raw_filter, list):  # a PHP array with 0..n-1 keys: no usable field names
        source = {}
    else:
        source = query
    fields = _FILTERABLE
    sort, desc = "ID", False
    if php_truthy(query.get("SORT")) and php_truthy(query.get("ORDER")):
        wanted = php_str(query["SORT"]).upper()
        if wanted in fields:
            sort, desc = wanted, php_str(query["ORDER"]).upper() == "DESC"
    low, high, rest = _id_bounds(_conditions(source, fields))
    rows, keys = _matching(state, rest, sort, desc)
    if sort == "ID":
        if desc:
            first, last = bisect.bisect_left(keys, -high), bisect.bisect_right(keys, -low)
        else:
            first, last = bisect.bisect_left(keys, low), bisect.bisect_right(keys, high)
    else:
        rows = [row for row in rows if low <= int(row["ID"]) <= high]
        first, last = 0, len(rows)
    offset = None if ctx.start is not None and ctx.start < 0 else ctx.start or 0
    begin = first + (offset or 0)
    page = [_public(row) for row in rows[begin : min(last, begin + PAGE_SIZE)]]
    return page_result(page, offset, last - first)


def user_current(state: PortalState, params: Mapping[str, Any], ctx: CallContext) -> MethodResult:
    """``user.current``: the acting user's record."""
    row = state.get_user(ctx.user_id)
    if row is None:  # the HTTP layer authenticates first; this is a dead webhook's user
        raise MethodFailure(401, "INVALID_CREDENTIALS", "Invalid request credentials")
    return MethodResult(result=_public(row))


def _active_flag(value: Any) -> str:
    """CORE ``prepareSaveData``: ``($v && $v != 'N') ? 'Y' : 'N'`` with PHP's loose ``!=``.

    PHP compares a bool with a string as bools, so JSON ``true != 'N'`` is false: ``true``
    fires the user, exactly like the real portal. The string ``"false"`` is truthy: ``Y``.
    """
    if not php_truthy(value) or isinstance(value, bool):
        return "N"
    return "N" if value == "N" else "Y"


def user_update(state: PortalState, params: Mapping[str, Any], ctx: CallContext) -> MethodResult:
    """``user.update``: flat fields, result ``true``; one ledger entry per applied call.

    The admin edits anyone; a user edits only self, and then ACTIVE and UF_DEPARTMENT are
    dropped silently. Anyone else, or a missing/unknown ID: ``ERROR_CORE`` "access_denied".
    """
    fields = upper_keys(params)
    user_id = php_intval(fields.get("ID"))
    admin = state.is_admin(ctx.user_id)
    if user_id <= 0 or not state.user_exists(user_id):
        raise _access_denied()
    if not admin and user_id != ctx.user_id:
        raise _access_denied()
    change: dict[str, Any] = {}
    for key, value in fields.items():
        if key not in _EDITABLE:
            continue
        if key in ("ACTIVE", "UF_DEPARTMENT") and not admin:
            continue  # CORE drops these silently for a self-edit
        if key == "ACTIVE":
            change[key] = _active_flag(value)
        elif key == "UF_DEPARTMENT":
            items = list_values(value)
            if items is None:
                items = [value] if php_truthy(value) else []
            change[key] = [dep for dep in (php_intval(item) for item in items) if dep > 0]
        elif list_values(value) is None:
            change[key] = php_str(value)
    stored = dict(change)
    if "ACTIVE" in stored:
        stored["ACTIVE"] = stored["ACTIVE"] == "Y"
    state.update_user(user_id, stored)
    state.record("user.update", ctx.user_id, f"user:{user_id}", change, ctx.now)
    return MethodResult(result=True)


# -- departments ----------------------------------------------------------------------------

_DEPARTMENT_FIELDS = ("ID", "NAME", "SORT", "PARENT", "UF_HEAD")
_DEPARTMENT_FILTERS = ("ID", "NAME", "PARENT", "UF_HEAD")  # SORT names the sort field here


def department_get(state: PortalState, params: Mapping[str, Any], ctx: CallContext) -> MethodResult:
    """``department.get``: the department tree, 50 rows per page.

    Filters are top-level ``ID``, ``NAME``, ``PARENT``, ``UF_HEAD`` (a value or a list);
    ``SORT``/``ORDER`` pick the order (default: by ID).
    """
    query = upper_keys(params)
    rows: list[Row] = []
    for dep in state.departments:
        row: Row = {"ID": str(dep.id), "NAME": dep.name, "SORT": dep.sort}
        if dep.parent is not None:
            row["PARENT"] = str(dep.parent)
        row["UF_HEAD"] = str(dep.head)
        rows.append(row)
    for field in _DEPARTMENT_FILTERS:
        if field not in query:
            continue
        items = list_values(query[field])
        if items is None:
            items = [query[field]]
        wanted = {php_str(item).casefold() for item in items}
        rows = [row for row in rows if php_str(row.get(field)).casefold() in wanted]
    sort = php_str(query.get("SORT")).upper()
    if sort in _DEPARTMENT_FIELDS and php_truthy(query.get("ORDER")):
        numeric = sort in ("ID", "SORT", "PARENT", "UF_HEAD")
        rows.sort(
            key=lambda row: php_intval(row.get(sort)) if numeric else php_str(row.get(sort)),
            reverse=php_str(query["ORDER"]).upper() == "DESC",
        )
    offset = None if ctx.start is not None and ctx.start < 0 else ctx.start or 0
    page = rows[offset or 0 : (offset or 0) + PAGE_SIZE]
    return page_result(page, offset, len(rows))
