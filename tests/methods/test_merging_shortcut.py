"""The coalescer's shortcut for typed availability calls gives what the general way gives.

``AccessibilityMerge.group_request`` must read the same group off a request as ``group`` reads
off its encoded params, and ``parse_command``/``pick_parsed`` must give each caller what its own
``parse`` of its own slice gives (or decline, so the caller parses its own slice).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from b24async import Bitrix24
from b24async.methods import GetAccessibility, MergeRule
from b24async.methods.calendar import AccessibilityMerge
from b24async.protocol import encode_params
from b24async.testing import FakePortal

ANCHOR = dt.date(2026, 1, 5)
RULE = GetAccessibility.merge_rule

days = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2099, 12, 31))
aware = st.datetimes(
    min_value=dt.datetime(2000, 1, 2),
    max_value=dt.datetime(2099, 12, 30),
    timezones=st.sampled_from(
        [dt.timezone.utc, dt.timezone(dt.timedelta(hours=3)), dt.timezone(dt.timedelta(hours=-11))]
    ),
)


@settings(max_examples=300, deadline=None)
@given(
    users=st.lists(st.integers(min_value=1, max_value=10**12), min_size=1, max_size=60),
    start=st.one_of(days, aware),
    length=st.integers(min_value=0, max_value=40),
    container=st.sampled_from([list, tuple, range]),
)
def test_group_request_is_group_of_the_encoded_params(
    users: list[int], start: dt.date, length: int, container: Any
) -> None:
    day = start.date() if isinstance(start, dt.datetime) else start
    end = day + dt.timedelta(days=length)
    source = range(users[0], users[0] + len(users)) if container is range else container(users)
    request = GetAccessibility(users=source, start=start, end=end)
    general = RULE.group(encode_params(request.to_params()))
    assert general is not None
    shortcut = RULE.group_request(request)
    assert shortcut is not None
    assert (shortcut[0], list(shortcut[1])) == general  # any sequence of the same items
    assert [type(u) for u in general[1]] == [int] * len(general[1])


def test_group_request_declines_what_it_cannot_vouch_for() -> None:
    class Custom(GetAccessibility):
        def to_params(self) -> dict[str, Any]:
            return {**super().to_params(), "extra": 1}

    request = Custom(users=[1], start=ANCHOR, end=ANCHOR)
    assert RULE.group_request(request) is None  # its params are its own
    assert RULE.group(encode_params(request.to_params())) is None

    class Plain(MergeRule):  # a rule without the shortcut
        def group(self, params: Any) -> None:
            return None

        def params(self, key: Any, items: Any) -> dict[str, Any]:
            return {}

        def pick(self, result: Any, items: Any) -> dict[str, Any]:
            return {}

    assert Plain().group_request(GetAccessibility(users=[1], start=ANCHOR, end=ANCHOR)) is None

    class Day(dt.date):  # spells itself as it likes
        def isoformat(self) -> str:
            return "$result[x]"

    odd = GetAccessibility(users=[1], start=Day(2026, 1, 5), end=Day(2026, 1, 6))
    assert RULE.group_request(odd) is None  # the general way checks what it would send
    assert Plain().parse_command({"1": []}) is None


def test_one_user_fast_checks_refuse_what_the_general_ones_refuse() -> None:
    for bad, error in (([0], ValueError), ([-3], ValueError), ([True], TypeError)):
        with pytest.raises(error):
            GetAccessibility(users=bad, start=ANCHOR, end=ANCHOR)
    with pytest.raises(TypeError):
        GetAccessibility(users=["5"], start=ANCHOR, end=ANCHOR)  # type: ignore[list-item]
    assert GetAccessibility(users=(7,), start=ANCHOR, end=ANCHOR).users == (7,)


async def test_each_callers_slice_of_one_parse_is_its_own_parse() -> None:
    """Over a real answer: every user, present or not, alone or with others."""
    end = ANCHOR + dt.timedelta(days=13)
    async with (
        FakePortal(users=60, anchor=ANCHOR) as portal,
        Bitrix24(portal.webhook_url, coalesce=False) as b24,
    ):
        params = {"users": list(range(1, 61)), "from": ANCHOR, "to": end}
        result = (await b24.call("calendar.accessibility.get", params)).result
    assert isinstance(result, dict) and sum(len(v) for v in result.values()) > 100
    del result["7"]  # a user the answer leaves out
    parsed = RULE.parse_command(result)
    assert parsed is not None
    for items in [(u,) for u in range(1, 62)] + [(3, 7, 1), (61,)]:
        own = GetAccessibility(users=items, start=ANCHOR, end=end)
        expected = own.parse(RULE.join(RULE.pick(result, items)))
        got = RULE.pick_parsed(parsed, items)
        assert got == expected
        assert list(got) == list(expected) == list(items)
        for user in items:
            assert got[user] == expected[user]
            assert [repr(e) for e in got[user]] == [repr(e) for e in expected[user]]


def test_parse_command_declines_keys_pick_would_skip() -> None:
    rule = AccessibilityMerge()
    assert rule.parse_command([]) is None  # PHP's empty map: each caller gets its own ()
    assert rule.parse_command({"05": []}) is None  # user 5 here, but pick skips it
    assert rule.parse_command({" 5": []}) is None
    assert rule.parse_command({"５": []}) is None  # a non-ASCII digit
    assert rule.parse_command({"x": []}) is None
    assert rule.parse_command({"5": [], "12": []}) == {5: (), 12: ()}
