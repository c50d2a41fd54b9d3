"""Writes that fire events, shared by the event tests."""

from __future__ import annotations

from typing import Any

from b24async import Bitrix24


def entry_params(
    owner: int = 1, *, attendees: tuple[int, ...] = (), name: str = "x"
) -> dict[str, Any]:
    """``calendar.event.add`` params for a one-hour entry (a meeting when ``attendees``)."""
    params: dict[str, Any] = {
        "type": "user",
        "ownerId": owner,
        "name": name,
        "from": "2026-03-02T10:00:00",
        "to": "2026-03-02T11:00:00",
    }
    if attendees:
        params.update(is_meeting="Y", attendees=list(attendees))
    return params


async def add_entry(client: Bitrix24, owner: int = 1, *, attendees: tuple[int, ...] = ()) -> int:
    """Add a calendar entry through ``client``; its ID."""
    response = await client.call("calendar.event.add", entry_params(owner, attendees=attendees))
    return int(response.result)


async def rename(client: Bitrix24, entry_id: int, name: str, owner: int = 1) -> None:
    """``calendar.event.update`` of the entry's name."""
    params = {"id": entry_id, "ownerId": owner, "type": "user", "name": name}
    await client.call("calendar.event.update", params)
