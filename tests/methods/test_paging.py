"""Keyset paging shapes live with the methods, not in the generic paginator."""

from __future__ import annotations

from typing import Any

import pytest

from b24async.methods import paging
from b24async.methods.paging import keyset_params, register_keyset


def test_default_shape_filters_and_orders_in_lower_case_keys() -> None:
    params = keyset_params("crm.lead.list", {"filter": {"STATUS_ID": "NEW"}, "select": ["ID"]}, 7)
    assert params == {
        "filter": {"STATUS_ID": "NEW", ">ID": 7},
        "select": ["ID"],
        "start": -1,
        "order": {"ID": "ASC"},
    }


def test_user_get_sorts_at_the_top_level_and_filters_in_filter() -> None:
    params = keyset_params("USER.GET", {"FILTER": {"ACTIVE": True}}, "$result[k0][49][ID]")
    assert params == {
        "FILTER": {"ACTIVE": True, ">ID": "$result[k0][49][ID]"},
        "start": -1,
        "SORT": "ID",
        "ORDER": "ASC",
    }


def test_a_method_can_register_its_own_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(paging, "_KEYSET", dict(paging._KEYSET))  # leave the registry as found

    def shape(params: Any, after: Any) -> dict[str, Any]:
        return {**params, "start": -1, "idFrom": after}

    register_keyset("Tasks.Task.List", shape)
    assert keyset_params("tasks.task.list", {}, 5) == {"start": -1, "idFrom": 5}
