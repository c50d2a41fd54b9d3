"""Method-specific behaviour lives on the methods: merge rules, and no REST names elsewhere."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import b24async
from b24async import methods
from b24async.methods import GetAccessibility, Method, merge_rule_for
from b24async.methods.calendar import AccessibilityMerge

PACKAGE = Path(b24async.__file__).parent
# Where REST names belong: the typed requests, the models, the FakePortal and the CLI (a user
# of the public API).
ALLOWED = {"methods", "models", "testing", "cli"}
# Dotted names in generic code that are not REST methods of the portal: the OAuth server's
# token endpoint, named in its errors; our own module and logger names.
NOT_REST = {"oauth.token"}
OWN = "b24async."
DOTTED = re.compile(r"^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+$", re.IGNORECASE)


def _rest_names() -> set[str]:
    names = {
        cls.api_method
        for cls in vars(methods).values()
        if isinstance(cls, type) and issubclass(cls, Method) and hasattr(cls, "api_method")
    }
    assert "calendar.accessibility.get" in names
    return names


def _code_strings(path: Path) -> set[str]:
    """String constants of a module's code (docstrings excluded: examples may name methods)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    }


def test_generic_modules_name_no_rest_method() -> None:
    names = _rest_names()
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] in ALLOWED:
            continue
        strings = _code_strings(path)
        # Typed requests' names, and anything shaped like one (``crm.lead.add``).
        shaped = {s for s in strings if DOTTED.match(s) and not s.startswith(OWN)}
        found = (names & strings) | (shaped - NOT_REST)
        if found:
            offenders[str(relative)] = sorted(found)
    assert not offenders


def test_availability_rule_is_published_by_the_request_class() -> None:
    rule = merge_rule_for("calendar.accessibility.get")
    assert rule is GetAccessibility.merge_rule
    assert merge_rule_for("CALENDAR.ACCESSIBILITY.GET") is rule
    assert merge_rule_for("user.get") is None


def test_availability_rule_groups_plain_queries_only() -> None:
    rule = AccessibilityMerge()
    window = {"from": "2026-01-05", "to": "2026-01-11"}
    assert rule.group({"users": [3, 1, 3], **window}) == (("2026-01-05", "2026-01-11"), [3, 1])
    assert rule.group({"users": [], **window}) is None
    assert rule.group({"users": [True], **window}) is None
    assert rule.group({"users": ["1"], **window}) is None
    assert rule.group({"users": [1], **window, "extra": 1}) is None
    assert rule.group({"users": [1], "from": "2026-01-05"}) is None
    key = ("2026-01-05", "2026-01-11")
    assert rule.params(key, [1, 2]) == {"users": [1, 2], **window}
    result = {"1": [], "2": [{"ID": "9"}], "5": []}
    assert rule.pick(result, [2, 7]) == {"2": [{"ID": "9"}]}
    assert rule.pick([], [1]) == {}
    assert rule.join({}) == []  # what a lone call gets from PHP for an empty map
