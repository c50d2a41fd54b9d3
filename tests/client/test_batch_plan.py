"""Batch planning and decoding, without I/O."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from b24async import BatchResult, Outcome
from b24async.batch import (
    Command,
    decode_batch,
    encode_command,
    normalize_commands,
    plan_chunks,
    resolve_references,
    survives_query_encoding,
)
from b24async.batchcodec import query_problem
from b24async.errors import (
    ClientClosed,
    MethodError,
    OperationTimeLimit,
    ServerError,
    TransportError,
)
from b24async.methods import GetUsers
from b24async.protocol import RawResponse, Response
from b24async.testing.batch import split_command, substitute
from b24async.testing.phpquery import parse_qs_php, php_json_shape


def cmd(name: str, params: dict[str, object] | None = None) -> Command:
    return Command(name, "user.get", params or {})


def test_plan_splits_into_chunks_of_50_in_order() -> None:
    commands = [cmd(f"c{i}") for i in range(120)]
    chunks = plan_chunks(commands)
    assert [len(c) for c in chunks] == [50, 50, 20]
    assert [c.name for chunk in chunks for c in chunk] == [c.name for c in commands]


def test_plan_keeps_referencing_commands_together() -> None:
    commands = [cmd(f"c{i}") for i in range(49)]
    commands.insert(0, cmd("head"))
    commands.append(cmd("tail", {"ID": "$result[head][0][ID]"}))  # 51st refers to the 1st
    chunks = plan_chunks(commands)
    together = next(chunk for chunk in chunks if any(c.name == "tail" for c in chunk))
    names = [c.name for c in together]
    assert "head" in names and names.index("head") < names.index("tail")
    assert all(len(chunk) <= 50 for chunk in chunks)


def test_plan_refuses_a_reference_group_over_50() -> None:
    commands = [cmd("c0")] + [cmd(f"c{i}", {"ID": f"$result[c{i - 1}][ID]"}) for i in range(1, 51)]
    with pytest.raises(ValueError, match="refer to each other"):
        plan_chunks(commands)


def test_normalize_rejects_unknown_references_and_bad_specs() -> None:
    with pytest.raises(ValueError, match="unknown"):
        normalize_commands({"a": ("user.get", {"ID": "$result[b][ID]"})})
    with pytest.raises(ValueError, match="cannot run inside batch"):
        normalize_commands({"a": ("batch", {})})
    with pytest.raises(TypeError):
        normalize_commands({"a": "user.get"})  # type: ignore[dict-item]
    with pytest.raises(ValueError):
        normalize_commands({"a[0]": ("user.get", {})})


def test_encode_command() -> None:
    assert encode_command(cmd("a")) == "user.get"
    assert encode_command(cmd("a", {"FILTER": {">ID": 5}})) == "user.get?FILTER[%3EID]=5"


def batch_body(payload: dict[str, object]) -> RawResponse:
    return RawResponse(200, {}, json.dumps({"result": payload, "time": {}}).encode())


def test_decode_batch_results_errors_skips_and_empty_maps() -> None:
    chunk = [cmd("a"), cmd("b"), cmd("c")]
    raw = batch_body(
        {
            "result": {"a": [{"ID": "1"}]},
            "result_error": {"b": {"error": "", "error_description": "bad"}},
            "result_total": {"a": 1},
            "result_next": [],
            "result_time": {"a": {"operating": 1.5, "operating_reset_at": 100}},
        }
    )
    outcome = decode_batch(raw, chunk)
    assert outcome.responses["a"].result == [{"ID": "1"}]
    assert outcome.responses["a"].total == 1 and outcome.responses["a"].next is None
    assert outcome.responses["a"].time is not None and outcome.responses["a"].time.operating == 1.5
    assert isinstance(outcome.errors["b"], MethodError) and outcome.errors["b"].status == 400
    assert outcome.skipped == ("c",)


def test_decode_batch_blocked_command_is_operation_time_limit() -> None:
    raw = batch_body(
        {
            "result": [],
            "result_error": {
                "a": {"error": "OPERATION_TIME_LIMIT", "error_description": "Method is blocked"}
            },
            "result_total": [],
            "result_next": [],
            "result_time": [],
        }
    )
    outcome = decode_batch(raw, [cmd("a")])
    assert isinstance(outcome.errors["a"], OperationTimeLimit)


def test_decode_batch_list_shaped_maps() -> None:
    raw = batch_body({"result": [True, False], "result_error": [], "result_time": []})
    outcome = decode_batch(raw, [cmd("0"), cmd("1")])
    assert outcome.responses["0"].result is True and outcome.responses["1"].result is False


def test_batch_result_access() -> None:
    err = MethodError("", "bad", status=400, method="user.get")
    res = BatchResult(
        [cmd("a"), cmd("b"), cmd("c")], {"a": Response("user.get", 1)}, {"b": err}, ["c"]
    )
    assert res["a"] == 1
    with pytest.raises(MethodError):
        res["b"]
    with pytest.raises(KeyError, match="halt"):
        res["c"]
    assert res.errors == {"b": err} and res.skipped == ("c",) and not res.ok
    # A Mapping of the commands that succeeded: in, len, keys, items and get agree.
    assert list(res) == ["a"] and len(res) == 1 and dict(res.items()) == {"a": 1}
    assert "a" in res and "b" not in res and "c" not in res and "zzz" not in res
    assert res.get("b") is None and res.get("b", 0) == 0 and res.get("a") == 1
    assert res.names == ("a", "b", "c")
    assert [res.outcome(n) for n in res.names] == [
        Outcome.SUCCEEDED,
        Outcome.FAILED,
        Outcome.SKIPPED,
    ]
    assert res.not_sent == ("c",) and res.may_have_applied == ()


def test_batch_result_outcome_model() -> None:
    lost = TransportError("connection reset", sent=True)
    refused = TransportError("connection refused", sent=False)
    closed = ClientClosed(sent=False)
    res: BatchResult[object] = BatchResult(
        [cmd("a"), cmd("b"), cmd("c"), cmd("d")],
        {},
        {"a": lost, "b": refused, "c": closed, "d": ServerError("", "boom", status=500)},
    )
    assert res.may_have_applied == ("a", "d")
    assert res.not_sent == ("b", "c")
    assert res.outcome("a") is Outcome.UNKNOWN and res.outcome("b") is Outcome.NOT_SENT
    assert len(res) == 0 and not res.ok
    with pytest.raises(TransportError):
        res["a"]
    with pytest.raises(KeyError):
        res.outcome("nope")


def test_typed_results_are_parsed_by_their_request() -> None:
    commands = normalize_commands({"who": GetUsers(filter={"ID": 1})})
    res = BatchResult(
        commands, {"who": Response("user.get", [{"ID": "1", "NAME": "A", "ACTIVE": True}])}, {}
    )
    users = res["who"]
    assert users[0].id == 1


@pytest.mark.parametrize(
    "params",
    [
        {"NAME": "$result[0]"},
        {"NAME": "x $RESULT[me][ID] y"},
        {"fields": {"TITLE": ["$next[a]"]}},
        {"a.b": 1},
        {"a b": 1},
        {" a": 1},
        {"a[b]": 1},
        {"fields": {"": 1}},
        {"fields": {"x]": 1}},
        {"ID": None},
        {"FILTER": {}},
        {"IDS": []},
    ],
)
def test_params_that_change_inside_a_batch_query(params: dict[str, object]) -> None:
    assert not survives_query_encoding(params)
    assert query_problem(params) is not None


@pytest.mark.parametrize(
    "params",
    [
        {"NAME": "$5 [cheap]"},
        {"NAME": "costs $result"},
        {"FILTER": {">ID": 5, "%NAME": "a.b c"}},
        {"fields": {"UF_CRM_1.X": "a"}},  # only top-level names are renamed by parse_str
        {"list": [1, "2", 3.5, True]},
    ],
)
def test_params_that_survive_a_batch_query(params: dict[str, object]) -> None:
    assert survives_query_encoding(params)


def test_explicit_batch_sends_changed_commands_alone_or_refuses_them() -> None:
    commands = normalize_commands(
        {
            "a": ("user.get", {"ID": 1}),
            "dotted": ("user.update", {"ID": 1, "UF.X": "y"}),
            "b": ("user.get", {"ID": "$result[a][0][ID]"}),  # a real reference: stays batched
            "c": ("user.get", {"ID": 2}),
        }
    )
    chunks = plan_chunks(commands)
    assert [[c.name for c in chunk] for chunk in chunks] == [["a", "b", "c"], ["dotted"]]
    assert [c.alone is None for c in commands] == [True, False, True, True]
    # In order when nothing refers to anything (halt relies on it).
    plain = normalize_commands([("user.get", {"ID": 1}), ("user.get", {"F": {}}), ("user.get", {})])
    assert [[c.name for c in chunk] for chunk in plan_chunks(plain)] == [["0"], ["1"], ["2"]]
    with pytest.raises(ValueError, match="sent alone"):
        normalize_commands(
            {"a": ("user.get", {"ID": 1}), "b": ("user.get", {"ID": "$result[a]", "x.y": 1})}
        )
    with pytest.raises(ValueError, match="sent alone"):
        normalize_commands(
            {"a": ("user.get", {"ID": 1, "F": {}}), "b": ("user.get", {"ID": "$result[a]"})}
        )


def test_resolve_references_like_the_portal() -> None:
    responses = {"me": Response("user.current", {"ID": "7", "UF_DEPARTMENT": [3, 4]}, None, 9, 50)}
    assert resolve_references("$result[me][UF_DEPARTMENT]", responses, {}) == [3, 4]
    assert resolve_references("$result[me][UF_DEPARTMENT][1]", responses, {}) == 4
    assert resolve_references("id=$result[me][ID]!", responses, {}) == "id=7!"
    assert resolve_references("$next[me]", responses, {}) == 50
    # A missing key stops the walk at the last value reached.
    assert resolve_references("$result[me][NOPE][0]", responses, {}) == {
        "ID": "7",
        "UF_DEPARTMENT": [3, 4],
    }
    assert resolve_references({"a": ["$total[me]"]}, responses, {}) == {"a": [9]}


_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12
) | st.sampled_from(["$result[0]", "$RESULT[me][ID]", "$next[a]", "a.b", " x", "x]", "[", ""])
# Keys mostly plausible, with the characters a query string treats specially.
_KEY = st.text(alphabet="aZ_0>%&=+#?/é$-<!", min_size=1, max_size=5) | _TEXT
_LEAF = _TEXT | st.integers(-(10**6), 10**6)
_VALUE = st.recursive(
    _LEAF,
    lambda inner: (
        st.lists(inner, min_size=1, max_size=3)
        | st.dictionaries(_KEY, inner, min_size=1, max_size=3)
    ),
    max_leaves=8,
)


def _php_view(value: object) -> object:
    """What PHP holds after json_decode of ``value``: string leaves, 0..n-1 maps as lists."""
    if isinstance(value, dict):
        return php_json_shape({str(k): _php_view(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_php_view(v) for v in value]
    return str(value)


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(_KEY, _VALUE, max_size=4))
def test_params_that_survive_arrive_as_a_lone_call_sends_them(params: dict[str, object]) -> None:
    """The FakePortal's PHP parsing + CORE reference substitution leave surviving params alone."""
    if not survives_query_encoding(params):
        return
    method, query = split_command(encode_command(Command("x", "user.get", params)))
    assert method == "user.get"
    maps = {"result": {"0": "R0", "me": {"ID": "7"}, "a": [1]}, "next": {"a": 50}}
    arrived = substitute(parse_qs_php(query), maps) if query else {}
    assert arrived == {str(k): _php_view(v) for k, v in params.items()}
