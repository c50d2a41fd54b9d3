"""Static typing of the typed requests, checked by ``mypy b24async tests/typing``.

``assert_type`` fails mypy when the inferred type differs, so a request whose ``Method[T]`` base
drifts (e.g. ``GetAccessibility`` returning ``Any``) breaks the type check. The same calls also
run under pytest, where ``assert_type`` is a no-op, so the file stays importable and honest.
"""

from __future__ import annotations

import sys
from datetime import date
from typing import Any, Protocol, TypeVar

from b24async.methods import (
    GetAccessibility,
    GetParticipationStatus,
    GetUsers,
    GetUserStatus,
    Method,
    SetParticipationStatus,
    SetUserActive,
    SetUserStatus,
)
from b24async.models import (
    Availability,
    BusyInterval,
    ParticipationStatus,
    User,
    UserStatus,
)

if sys.version_info >= (3, 11):
    from typing import assert_type
else:  # the project's mypy target is 3.10, whose typing module has no assert_type
    from typing_extensions import assert_type

T = TypeVar("T")


class Caller(Protocol):
    """The client's call signature: ``async def __call__(self, request: Method[T]) -> T``."""

    async def __call__(self, request: Method[T]) -> T: ...


async def _through_the_client(b24: Caller) -> None:
    # Never awaited: only type-checked. Mirrors the examples.
    busy = await b24(
        GetAccessibility(users=[1, 2, 34], start=date(2025, 9, 10), end=date(2025, 9, 17))
    )
    assert_type(busy, Availability)
    assert_type(busy[1], tuple[BusyInterval, ...])
    assert_type(await b24(GetParticipationStatus(event_id=1014)), ParticipationStatus)
    assert_type(await b24(SetParticipationStatus(1014, ParticipationStatus.ACCEPTED)), bool)
    assert_type(await b24(SetUserStatus(UserStatus.DND)), bool)
    assert_type(await b24(GetUserStatus()), UserStatus | None)
    assert_type(await b24(SetUserActive(user_id=2164, active=False)), bool)
    assert_type(await b24(GetUsers(active=True)), list[User])


def test_parse_return_types() -> None:
    users: list[Any] = [{"ID": "1", "ACTIVE": True}]
    assert_type(
        GetAccessibility(users=[1], start=date(2025, 1, 1), end=date(2025, 1, 2)).parse([]),
        Availability,
    )
    assert_type(GetParticipationStatus(event_id=1).parse("Y"), ParticipationStatus)
    assert_type(GetUserStatus().parse("away"), UserStatus | None)
    assert_type(SetUserActive.fire(1).parse(True), bool)
    assert_type(GetUsers().parse(users), list[User])
    assert_type(GetUsers().parse_item(users[0]), User)


def test_requests_are_methods_of_their_result() -> None:
    request: Method[Availability] = GetAccessibility(
        users=[1], start=date(2025, 1, 1), end=date(2025, 1, 1)
    )
    covariant: Method[object] = request  # Method is covariant in its result type
    assert covariant.api_method == "calendar.accessibility.get"


async def _through_the_real_client() -> None:
    # Never awaited: only type-checked against the real Bitrix24 signatures.
    from b24async import BatchResult, Bitrix24

    async with Bitrix24("https://p.bitrix24.com/rest/1/x/") as b24:
        busy = await b24(
            GetAccessibility(users=[1], start=date(2025, 9, 10), end=date(2025, 9, 17))
        )
        assert_type(busy, Availability)
        assert_type(await b24(SetUserActive(user_id=2, active=True)), bool)
        async for user in b24.paginate(GetUsers(active=True)):
            assert_type(user, User)
        res = await b24.batch([GetUserStatus()])
        assert_type(res[0], UserStatus | None)
        assert_type(res, BatchResult[UserStatus | None])
        raw = await b24.batch([("user.get", {"ID": 1})])
        assert_type(raw["0"], Any)
        assert_type(await b24.list_all(GetUsers()), list[User])
        assert_type(await b24.list_all("user.get"), list[Any])


async def _events_through_the_real_client() -> None:
    # Never awaited: only type-checked.
    from b24async import Bitrix24
    from b24async.events import Event
    from b24async.methods import (
        BindEvent,
        ClearOfflineEvents,
        GetAvailableEvents,
        GetEventHandlers,
        GetOfflineEvents,
        ListOfflineEvents,
        UnbindEvent,
    )
    from b24async.methods.events import EventHandler, OfflineBatch, OfflineRow

    async with Bitrix24("https://p.bitrix24.com", token="t") as b24:
        assert_type(await b24(BindEvent("ONUSERADD", handler="https://a.example/h")), bool)
        assert_type(await b24(UnbindEvent("ONUSERADD", offline=True)), int)
        assert_type(await b24(GetEventHandlers()), list[EventHandler])
        assert_type(await b24(GetAvailableEvents()), list[str])
        assert_type(await b24(GetOfflineEvents(clear=False)), OfflineBatch)
        assert_type(await b24(ClearOfflineEvents("p" * 32)), bool)
        assert_type(await b24.list_all(ListOfflineEvents()), list[OfflineRow])
        async with b24.offline_events() as events:
            async for event in events:
                assert_type(event, Event)
