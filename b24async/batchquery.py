"""What survives a ``batch`` query: the rules a command's params must meet to ride in a batch.

Inside a batch each command's params travel as a PHP query string that the portal parses with
``parse_str`` and then scans for ``$result[name]...`` references (RU/EN ``batch.md``; facts
file §4; CORE ``CRestUtil::ParseBatchQuery``). A command whose params fail these rules is sent
alone, as a plain call (:attr:`~b24async.batchcodec.Command.alone`). Pure; re-exported by
:mod:`b24async.batchcodec`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["query_problem", "survives_query_encoding"]

# A reference as the client writes it (and plans by): $result[name] plus an optional path.
_REFERENCE = re.compile(r"\$(result|next|total|time|error)\[([^\]]*)\]((?:\[[^\]]*\])*)")
# What CORE's substitution would touch (case-insensitive, anything up to the next blank, as long
# as a [..] follows): any such text in a value is rewritten inside a batch.
_REFERENCE_LIKE = re.compile(r"\$(?:result|next|total|time|error)\S*\[[^\]]+\]", re.IGNORECASE)
# Characters PHP's parse_str treats specially in a variable name; a top-level key holding one is
# renamed ("a.b" -> "a_b") or split into nesting ("a[b]") inside a batch query.
_TOP_KEY_SPECIAL = frozenset(" .[]\x00")
_INNER_KEY_SPECIAL = frozenset("[]\x00")


def _value_problem(value: Any, references: bool) -> str | None:
    if value is None:
        return "a null value (a query string has no null)"
    if isinstance(value, Mapping):
        if not value:
            return "an empty object (a query string has no empty array)"
        for key, item in value.items():
            text = str(key)
            if not text.strip() or any(c in _INNER_KEY_SPECIAL for c in text):
                return f"the key {text!r} (PHP's parse_str would read it differently)"
            if (problem := _value_problem(item, references)) is not None:
                return problem
        return None
    if isinstance(value, list):
        if not value:
            return "an empty list (a query string has no empty array)"
        for item in value:
            if (problem := _value_problem(item, references)) is not None:
                return problem
        return None
    if isinstance(value, str):
        text = _REFERENCE.sub("", value) if references else value
        if "$" in text and _REFERENCE_LIKE.search(text):
            return f"the value {value[:40]!r} (the portal would read it as a batch reference)"
        return None
    if isinstance(value, (int, float, bool)):
        return None
    return f"a {type(value).__name__} value"


def query_problem(params: Mapping[str, Any], *, references: bool = False) -> str | None:
    """Why ``params`` would not arrive unchanged inside a ``batch`` query, or None if they would.

    Inside a batch each command's params travel as a PHP query string that the portal parses
    with ``parse_str`` and then scans for references, so these change meaning on the way (a
    lone call, sent as JSON, keeps them): nulls and empty arrays (no query form), top-level keys
    with a dot, space or bracket (``parse_str`` renames or nests them), nested keys that are
    blank or hold brackets, and string values that CORE would substitute (``$result[..]``,
    ``$next[``, ``$total[``, ``$time[``, ``$error[``, any case). With ``references=True`` the
    well-formed references of an explicit :meth:`~b24async.Bitrix24.batch` are meant as such
    and allowed.
    """
    for key, value in params.items():
        text = str(key)
        if not text or text[0] == " " or any(c in _TOP_KEY_SPECIAL for c in text):
            return f"the key {text!r} (PHP's parse_str would rename it inside a batch)"
        if (problem := _value_problem(value, references)) is not None:
            return problem
    return None


def survives_query_encoding(params: Mapping[str, Any]) -> bool:
    """Whether a lone call's ``params`` mean the same inside a ``batch`` (:func:`query_problem`).

    The coalescer sends a call that fails this test alone, as a plain call.
    """
    return query_problem(params) is None
