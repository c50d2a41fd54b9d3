"""How concurrent calls of one method may share commands: the coalescer's method hooks.

Some methods take a list of items and answer with a map keyed by item, e.g.
``calendar.accessibility.get`` (users → their events). Concurrent calls of such a method with
the same other params can ride in one command carrying all their items, and a call with
thousands of items can be split into commands of a bounded size; each caller still gets exactly
its own items back. A :class:`MergeRule` describes that for one method, and typed request
classes publish theirs as ``merge_rule`` (see :class:`~b24async.methods.GetAccessibility`).

The coalescer knows no method names: it asks :func:`merge_rule_for` (the registry below, keyed by
REST method) whether a call is mergeable.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

__all__ = ["MergeRule", "merge_rule_for", "register_merge_rule"]


class MergeRule(abc.ABC):
    """Merging and splitting of one item-list method's calls (see module docs)."""

    @abc.abstractmethod
    def group(self, params: Mapping[str, Any]) -> tuple[Hashable, list[Hashable]] | None:
        """``(key, items)`` for a mergeable call, or ``None`` to send the call as given.

        Calls with equal keys may share commands. ``items`` is the call's item list with
        duplicates removed (the portal answers each item once).
        """

    def group_request(self, request: Any) -> tuple[Hashable, Sequence[Hashable]] | None:
        """``group()`` of a typed request's params, read off the request itself, or ``None``.

        The coalescer's shortcut for typed calls (no params built, encoded and checked for each
        of thousands of concurrent callers). An override must return what
        ``group(encode_params(request.to_params()))`` would (an equal key, the same items in
        the same order, as any sequence: a tuple the request holds anyway is kept by the queued
        call as it is, and a key shared by all calls of one group costs them nothing), or
        ``None`` to let the call go the general way; it must only say yes to requests whose
        params survive a batch query. By default: ``None``.
        """
        return None

    @abc.abstractmethod
    def params(self, key: Hashable, items: Sequence[Hashable]) -> dict[str, Any]:
        """The params of one command that carries ``items`` for calls grouped under ``key``."""

    @abc.abstractmethod
    def pick(self, result: Any, items: Sequence[Hashable]) -> dict[str, Any]:
        """The entries of a command's ``result`` that answer ``items``."""

    def parse_command(self, result: Any) -> Any | None:
        """One command's whole ``result``, typed once for the typed calls it answers, or ``None``.

        With many callers in one command (a fan-in), parsing the command once and handing each
        caller its slice (:meth:`pick_parsed`) saves a parse per caller. ``None`` (the default,
        and for any answer the rule would rather not read at once) leaves each caller to parse
        its own slice. May raise on a malformed answer; each caller then parses its own slice,
        so an error reaches only the callers whose entries are malformed.
        """
        return None

    def pick_parsed(self, parsed: Any, items: Sequence[Hashable]) -> Any:
        """The typed result of a call for ``items``, from :meth:`parse_command`'s value.

        Used only for calls that :meth:`group_request` let in: for them it must equal
        ``request.parse(join(pick(result, items)))``.
        """
        raise NotImplementedError

    def reads_text(self) -> bool:
        """Whether :meth:`parse_command_text` may read commands' JSON text (default: no)."""
        return False

    def parse_command_text(self, text: str) -> Any | None:
        """:meth:`parse_command` of a command's ``result`` given as its JSON text, or ``None``.

        For a rule with a faster reader of the text itself (:meth:`reads_text`). Not ``None``
        only when equal to ``parse_command(json.loads(text))``; ``None`` (the default, and for
        anything odd) has the text decoded and read as usual. Must not raise.
        """
        return None

    def pick_part_parsed(self, parsed: Any, items: Sequence[Hashable]) -> tuple[Any, int]:
        """``parse_part(pick(result, items))`` and the entries picked, from the parsed command.

        For a typed call split over several commands (:attr:`typed_parts`) whose command was
        read by :meth:`parse_command_text`.
        """
        raise NotImplementedError

    def join(self, parts: Mapping[str, Any]) -> Any:
        """The result a lone call would have got, from the entries picked for its items.

        By default the map itself, or ``[]`` when it is empty (PHP encodes an empty map as an
        empty list, so a lone call gets ``[]``).
        """
        return dict(parts) if parts else []

    #: Whether typed calls split over several commands are parsed part by part
    #: (:meth:`parse_part`) and joined typed (:meth:`join_parsed`), so that no part's raw
    #: entries wait for the others. Off by default: the picked entries are joined raw, then
    #: parsed once.
    typed_parts: bool = False

    def parse_part(self, picked: Mapping[str, Any]) -> Any:
        """The typed value of one part's picked entries (with :attr:`typed_parts`)."""
        raise NotImplementedError

    def join_parsed(self, parse: Callable[[Any], Any], parts: Sequence[Any]) -> Any:
        """A typed call's result from its parts' :meth:`parse_part` values, in any order.

        Must equal ``parse(join(<all picked entries>))``; ``parse`` is the call's own parser.
        """
        raise NotImplementedError


_RULES: dict[str, MergeRule] = {}


def register_merge_rule(method: str, rule: MergeRule) -> None:
    """Make calls of ``method`` (lower-case REST name) mergeable by ``rule``."""
    _RULES[method.lower()] = rule


def merge_rule_for(method: str) -> MergeRule | None:
    """The merge rule of ``method``, if it has one.

    The rules are registered when :mod:`b24async.methods` is imported (by each request module).
    """
    return _RULES.get(method.lower())
