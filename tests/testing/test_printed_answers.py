"""The fake portal's printed answers: byte for byte what the plain implementation prints.

``calendar.accessibility.get`` prints each user's entries once per (window, viewer zone) and
keeps the text until the state changes; replies are spliced from printed pieces
(:mod:`b24async.testing.jsontext`). ``reference_accessibility`` is the handler as it was
before (entry dicts, no cache) and ``reference_shape`` the reply shaping before its fast path:
every reply here must equal ``json.dumps(reference_shape(body))`` of the reference body, also
after each kind of write, and a portal whose cache survives a write must fail the check.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from b24async.testing import FakePortal
from b24async.testing.data import CalendarEvent, meeting_id
from b24async.testing.jsontext import PrintedMap, json_bytes, json_text, splice
from b24async.testing.methods_accessibility import _hr_entry
from b24async.testing.methods_calendar import _epoch_day, _param_day, _ViewerOffsets, _Window
from b24async.testing.methods_common import CallContext, list_values, php_intval
from b24async.testing.methods_user import user_get
from b24async.testing.phpquery import build_query_php, parse_qs_php
from b24async.testing.state import PortalState, PrintedCache
from tests.testing.test_json_shape_same_bytes import _values
from tests.testing.test_json_shape_same_bytes import reference as reference_shape

ANCHOR = dt.date(2026, 11, 23)  # a Monday
USERS = 120
WINDOW = {"from": "2026-11-23", "to": "2026-12-20"}  # four weeks from the anchor
ADMIN = CallContext(user_id=1, now=0.0)


# -- the reference: calendar.accessibility.get as written before the printed cache ----------


def _accessibility_entry(event: CalendarEvent, offsets: tuple[int, int]) -> dict[str, Any]:
    return {
        "ID": str(event.id),
        "NAME": event.name,
        "DATE_FROM": event.date_from,
        "DATE_TO": event.date_to,
        "DATE_FROM_TS_UTC": str(event.start_ts),
        "DATE_TO_TS_UTC": str(event.end_ts),
        "~USER_OFFSET_FROM": offsets[0],
        "~USER_OFFSET_TO": offsets[1],
        "DT_SKIP_TIME": "Y" if event.all_day else "N",
        "TZ_FROM": event.tz_from,
        "TZ_TO": event.tz_to,
        "ACCESSIBILITY": event.accessibility,
        "IMPORTANCE": event.importance,
        "EVENT_TYPE": event.event_type,
    }


def reference_accessibility(state: PortalState, params: Mapping[str, Any], ctx: CallContext) -> Any:
    """The ``result`` of ``calendar.accessibility.get`` (valid params), the plain way."""
    items = list_values(params["users"])
    user_ids = list(dict.fromkeys(php_intval(item) for item in items or ()))
    user_ids = [user_id for user_id in user_ids if user_id != 0]
    if not user_ids:
        return []
    first = _param_day(params["from"], state.timezone)
    last = _param_day(params["to"], state.timezone)
    window = _Window.of_days(first, last, state.timezone)
    offsets = _ViewerOffsets(state, ctx.user_id)
    result: dict[str, list[dict[str, Any]]] = {}
    for user_id in user_ids:
        entries = []
        for event in state.events_of(user_id, first, last):
            if event.accessibility == "free" or not window.overlaps(event):
                continue
            meeting = event.meeting
            if meeting is not None and state.meeting_status(meeting, user_id) in ("N", "Q"):
                continue
            entries.append(_accessibility_entry(event, offsets.of(event)))
        for absence in state.hr_absences_of(user_id):
            if window.days(_epoch_day(absence.first_day), _epoch_day(absence.last_day)):
                entries.append(_hr_entry(absence, state.timezone))
        result[str(user_id)] = entries
    return result


def reference_print(body: Any) -> bytes:
    """A reply body as the portal printed it before: one shaping walk, one ``json.dumps``."""
    text = json.dumps(reference_shape(body), separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8")


def batch_reference(state: PortalState, cmd: Mapping[str, str], actual: bytes) -> bytes:
    """The reference bytes of a batch of ``calendar.accessibility.get`` commands.

    The ``time`` blocks are clock readings: they are taken from the actual reply.
    """
    decoded = json.loads(actual)
    results = {
        key: reference_accessibility(state, parse_qs_php(call.partition("?")[2]), ADMIN)
        for key, call in cmd.items()
    }
    body = {
        "result": {
            "result": results,
            "result_error": {},
            "result_total": {},
            "result_next": {},
            "result_time": decoded["result"]["result_time"],
        },
        "time": decoded["time"],
    }
    return reference_print(body)


# -- the portal, over HTTP -----------------------------------------------------------------


def _command(users: list[Any]) -> str:
    return "calendar.accessibility.get?" + build_query_php({"users": users, **WINDOW})


class Reader:
    """Asks the portal for the same answers again and again, checking each against the reference."""

    def __init__(self, portal: FakePortal, session: aiohttp.ClientSession) -> None:
        self.portal, self.session = portal, session
        everyone: list[Any] = list(range(1, USERS + 2))  # the last one registers later
        self.cmd = {
            "c0": _command(everyone[:50]),
            "c1": _command(everyone[50:100]),
            "c2": _command([*everyone[100:], "0", "x", 7, "7"]),
            "c3": _command([999_999]),
        }
        self.listed = {"0": _command([1, 2, 3]), "1": _command([5, 7, 9, 11])}  # a JSON list

    async def _post(self, method: str, body: Any) -> bytes:
        url = self.portal.webhook_url + method
        async with self.session.post(url, json=body) as reply:
            if reply.status != 200:  # not an AssertionError: the test below expects those
                raise RuntimeError(f"{method}: HTTP {reply.status}")
            return await reply.read()

    async def read(self) -> dict[str, Any]:
        """Every answer (checked byte for byte), decoded: what the callers would see."""
        state = self.portal.state
        answers = {}
        for name, cmd in (("batch", self.cmd), ("listed", self.listed)):
            body = list(cmd.values()) if name == "listed" else cmd
            actual = await self._post("batch", {"halt": 0, "cmd": body})
            assert actual == batch_reference(state, cmd, actual), name
            answers[name] = json.loads(actual)["result"]["result"]
        params = {"users": [str(user) for user in range(1, 40)], **WINDOW}
        actual = await self._post("calendar.accessibility.get", params)
        expected = {"result": reference_accessibility(state, params, ADMIN)}
        expected["time"] = json.loads(actual)["time"]
        assert actual == reference_print(expected), "direct"
        answers["direct"] = json.loads(actual)["result"]
        return answers

    async def write(self, method: str, params: Mapping[str, Any]) -> Any:
        """A write through the admin's webhook; its ``result``."""
        return json.loads(await self._post(method, params))["result"]


def _first_busy(state: PortalState, user_id: int) -> CalendarEvent:
    first, last = dt.date.fromisoformat(WINDOW["from"]), dt.date.fromisoformat(WINDOW["to"])
    return next(
        event
        for event in state.events_of(user_id, first, last)
        if event.accessibility == "busy" and event.meeting is None
    )


async def scenario(*, emptied: bool = True) -> None:
    """Reads the answers after every kind of write; each must match the reference.

    ``emptied``: also check that each write empties the cache of printed answers.
    """
    portal = FakePortal(users=USERS, anchor=ANCHOR, burst=10_000)
    async with portal, aiohttp.ClientSession() as s:
        state = portal.state
        reader = Reader(portal, s)
        cold = await reader.read()
        assert len(state.printed) > 0  # the answers were kept...
        assert await reader.read() == cold  # ...and printed the same from the cache

        async def changed(write: Any, *, shows: bool = True) -> None:
            before = await reader.read()
            version = state.version
            await write()
            assert state.version > version
            assert len(state.printed) == 0 or not emptied
            after = await reader.read()
            if shows:
                assert after != before

        added: list[int] = []

        async def add() -> None:
            params = {"type": "user", "ownerId": 3, "name": 'Встреча "q" \\ </x>'}
            params.update({"from": "2026-11-24 10:00:00", "to": "2026-11-24 11:30:00"})
            added.append(await reader.write("calendar.event.add", params))

        await changed(add)
        seeded = _first_busy(state, 5)

        async def rename() -> None:
            params = {"id": seeded.id, "ownerId": 5, "type": "user", "name": "Renamed"}
            assert await reader.write("calendar.event.update", params) == seeded.id

        await changed(rename)

        async def free() -> None:
            params = {"id": added[0], "ownerId": 3, "type": "user", "accessibility": "free"}
            await reader.write("calendar.event.update", params)

        await changed(free)

        async def delete() -> None:
            doomed = _first_busy(state, 7)
            assert await reader.write("calendar.event.delete", {"id": doomed.id}) is True

        await changed(delete)

        async def accept() -> None:  # user 1 is invited (Q, hidden) to user 2's meeting
            params = {"eventId": meeting_id(2, 0), "status": "Y"}
            assert await reader.write("calendar.meeting.status.set", params) is True

        await changed(accept)

        async def register() -> None:
            new = portal.register_user("New", "Hire", "new.hire@example.com")
            assert new == USERS + 1
            params = {"type": "user", "ownerId": new, "name": "Onboarding"}
            params.update({"from": "2026-11-25 09:00:00", "to": "2026-11-25 12:00:00"})
            await reader.write("calendar.event.add", params)

        await changed(register)

        async def profile() -> None:  # no change in any calendar: the cache goes anyway
            fields = {"ID": 3, "TIME_ZONE": "Asia/Almaty", "WORK_POSITION": "Lead"}
            assert await reader.write("user.update", fields) is True

        await changed(profile, shows=False)

        async def status() -> None:
            assert await reader.write("im.user.status.set", {"STATUS": "dnd"}) is True

        await changed(status, shows=False)


def test_answers_match_the_reference_after_every_kind_of_write() -> None:
    asyncio.run(scenario())


def test_a_cache_that_survives_a_write_fails_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above can fail: a portal that keeps printed answers across writes is caught."""
    monkeypatch.setattr(PrintedCache, "clear", lambda self: None)
    with pytest.raises(AssertionError, match=r"^(batch|listed|direct)"):
        asyncio.run(scenario(emptied=False))


def test_a_big_batch_answer_is_printed_byte_for_byte_as_before() -> None:
    """A 300-user, four-week read in 6 commands (a >1 MB answer), cold and from the cache."""

    async def read() -> None:
        async with (
            FakePortal(users=300, anchor=ANCHOR) as portal,
            aiohttp.ClientSession() as session,
        ):
            cmd = {f"c{low}": _command(list(range(low, low + 50))) for low in range(1, 301, 50)}
            for _round in range(2):
                async with session.post(portal.webhook_url + "batch", json={"cmd": cmd}) as reply:
                    actual = await reply.read()
                assert len(actual) > 1_000_000
                assert actual == batch_reference(portal.state, cmd, actual)

    asyncio.run(read())


def test_user_pages_in_a_batch_print_as_before() -> None:
    """``user.get`` pages (rows with a department list) through the spliced batch reply."""

    async def read() -> None:
        async with (
            FakePortal(users=400, anchor=ANCHOR) as portal,
            aiohttp.ClientSession() as session,
        ):
            cmd = {f"p{start}": f"user.get?start={start}" for start in range(0, 400, 50)}
            cmd["f"] = "user.get?" + build_query_php({"FILTER": {">ID": 390}, "start": -1})
            async with session.post(portal.webhook_url + "batch", json={"cmd": cmd}) as reply:
                actual = await reply.read()
            decoded = json.loads(actual)
            results = {}
            for key, call in cmd.items():
                params = parse_qs_php(call.partition("?")[2])
                start = params.pop("start")
                ctx = CallContext(user_id=1, now=0.0, start=php_intval(start))
                results[key] = user_get(portal.state, params, ctx).result
            body = {
                "result": {
                    "result": results,
                    "result_error": {},
                    "result_total": decoded["result"]["result_total"],
                    "result_next": decoded["result"]["result_next"],
                    "result_time": decoded["result"]["result_time"],
                },
                "time": decoded["time"],
            }
            assert actual == reference_print(body)
            assert decoded["result"]["result_total"]["p0"] == 400

    asyncio.run(read())


# -- the splicing itself --------------------------------------------------------------------

_members = st.lists(
    st.tuples(st.one_of(st.sampled_from(["0", "1", "2", "ID"]), st.integers(-1, 3)), _values),
    max_size=5,
)


@settings(max_examples=300, deadline=None)
@given(_members)
def test_spliced_members_print_as_the_whole_array(members: list[tuple[Any, Any]]) -> None:
    whole: dict[Any, Any] = {}
    for key, value in members:  # a PHP array has each key once ("1" and 1 are the same key)
        if str(key) not in map(str, whole):
            whole[key] = value
    pieces = splice((key, [json_bytes(value)]) for key, value in whole.items())
    assert b"".join(pieces) == reference_print(whole)


def test_a_printed_map_reads_and_prints_like_its_dict() -> None:
    plain = {"7": [{"ID": "1", "FROM_HR": True, "N": None}], "8": [], "x": {"a": [1, "é"]}}
    printed = PrintedMap({key: json_bytes(value) for key, value in plain.items()})
    assert printed == plain
    assert printed["7"] is printed["7"]  # decoded once
    assert list(printed) == ["7", "8", "x"]
    assert b"".join(printed.pieces) == reference_print(plain)
    assert json_text(printed) == json_text(plain)
    assert repr(printed) == repr(plain)
