"""A local availability cache kept in sync from Bitrix24's offline calendar events.

Instead of re-reading every calendar on a schedule, the app subscribes to offline calendar
events once and then reads only what changed: each ``ONCALENDARENTRYADD/UPDATE/DELETE`` names
one stored entry (a meeting fires once per attendee's copy), the cache re-reads that entry and
stores it, and the event is cleared on the portal only after the cache has committed it
(at-least-once: applying an event twice does no harm).

Run it as is: it starts an embedded fake portal, subscribes, loads users 1-5, lets another
integration (a webhook) book, rename and cancel entries, syncs, and checks the cache against the
portal::

    python examples/calendar_cache.py --db cache.sqlite

Against your portal (an admin's access token of your app; webhooks cannot use events)::

    B24_URL=b24-xxx.bitrix24.com B24_ACCESS_TOKEN=... \\
    python examples/calendar_cache.py --db cache.sqlite --users 1,2,3 [--follow]

Note that the portal does not queue an app's own writes for its own offline handler.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from b24async import Bitrix24, MethodError
from b24async.events import CALENDAR_ENTRY_EVENTS, CalendarEntryChange, Event
from b24async.methods import BindEvent

_MONDAY = dt.date.today() - dt.timedelta(days=dt.date.today().weekday())
WINDOW = (_MONDAY.isoformat(), (_MONDAY + dt.timedelta(days=27)).isoformat())
"""The period the cache covers: four weeks from this Monday (portal dates)."""


class Cache:
    """Busy time per user in SQLite: one row per calendar entry."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path)
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS entries (id INTEGER PRIMARY KEY, owner INTEGER, "
            "name TEXT, start_ts INTEGER, end_ts INTEGER, accessibility TEXT)"
        )

    def store(self, entry: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?, ?)",
            (
                int(entry["ID"]),
                int(entry["OWNER_ID"]),
                entry["NAME"],
                int(entry["DATE_FROM_TS_UTC"]),
                int(entry["DATE_TO_TS_UTC"]),
                entry.get("ACCESSIBILITY") or "busy",
            ),
        )

    def forget(self, entry_id: int) -> None:
        self.db.execute("DELETE FROM entries WHERE id = ?", (entry_id,))

    def commit(self) -> None:
        self.db.commit()

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Cache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def of(self, owner: int) -> list[tuple[int, str]]:
        rows = self.db.execute("SELECT id, name FROM entries WHERE owner = ? ORDER BY id", (owner,))
        return [(int(entry_id), str(name)) for entry_id, name in rows]


async def subscribe(b24: Bitrix24) -> None:
    """Bind the offline calendar handlers (already bound: fine)."""
    for name in sorted(CALENDAR_ENTRY_EVENTS):
        try:
            await b24(BindEvent(name, offline=True))
        except MethodError as error:
            if "already binded" not in error.description:
                raise


async def entries_of(b24: Bitrix24, owner: int) -> list[dict[str, Any]]:
    params = {"type": "user", "ownerId": owner, "from": WINDOW[0], "to": WINDOW[1]}
    rows: list[dict[str, Any]] = (await b24.call("calendar.event.get", params)).result
    return rows


async def load(b24: Bitrix24, cache: Cache, users: Sequence[int]) -> int:
    """The initial full read of the users' calendars in the window."""
    count = 0
    for owner in users:
        for entry in await entries_of(b24, owner):
            cache.store(entry)
            count += 1
    cache.commit()
    return count


async def apply(b24: Bitrix24, cache: Cache, event: Event) -> None:
    """Bring one entry up to date from its event."""
    if not isinstance(event.data, CalendarEntryChange):
        return
    entry_id = event.data.id
    if event.name == "ONCALENDARENTRYDELETE":
        cache.forget(entry_id)
    else:
        try:
            entry = (await b24.call("calendar.event.getbyid", {"id": entry_id})).result
        except MethodError:
            cache.forget(entry_id)  # deleted since the event: its DELETE event follows
        else:
            cache.store(entry)
    cache.commit()  # before the stream may clear the event on the portal


async def sync(b24: Bitrix24, cache: Cache, *, follow: bool) -> int:
    """Apply the offline queue to the cache; returns how many events were applied."""
    applied = 0
    async with b24.offline_events(follow=follow) as events:
        async for event in events:
            await apply(b24, cache, event)
            applied += 1
    return applied


async def matches_portal(b24: Bitrix24, cache: Cache, users: Sequence[int]) -> bool:
    for owner in users:
        portal = sorted((int(e["ID"]), e["NAME"]) for e in await entries_of(b24, owner))
        if portal != cache.of(owner):
            print(f"user {owner}: cache {cache.of(owner)} != portal {portal}")
            return False
    return True


async def demo(db: Path) -> int:
    from b24async.testing import FakePortal

    print("B24_URL/B24_ACCESS_TOKEN are not set: using an embedded fake portal.")
    users = [1, 2, 3, 4, 5]
    async with FakePortal(users=10) as portal:
        portal.install_app()
        tokens = portal.issue_tokens(user_id=1)  # the admin's token from the install event
        async with (
            Bitrix24(portal.url, token=tokens.access_token) as b24,
            Bitrix24(portal.webhook_url) as other,
        ):
            await subscribe(b24)
            with Cache(db) as cache:
                print(f"Loaded {await load(b24, cache, users)} entries of users 1-5.")
                # Another integration changes calendars (a webhook, so the portal queues it).
                day = (_MONDAY + dt.timedelta(days=8)).isoformat()  # next Tuesday
                base = {"type": "user", "from": f"{day}T10:00:00", "to": f"{day}T11:00:00"}
                meeting = (
                    await other.call(
                        "calendar.event.add",
                        {
                            **base,
                            "ownerId": 2,
                            "name": "Launch review",
                            "is_meeting": "Y",
                            "attendees": [3, 4],
                        },
                    )
                ).result
                dentist = (
                    await other.call(
                        "calendar.event.add", {**base, "ownerId": 5, "name": "Dentist"}
                    )
                ).result
                await other.call(
                    "calendar.event.update",
                    {"id": meeting, "ownerId": 2, "type": "user", "name": "Launch review (room 2)"},
                )
                await other.call("calendar.event.delete", {"id": dentist})
                print("Another integration booked a meeting for users 2-4, renamed it, and "
                      "booked and cancelled an entry of user 5.")  # fmt: skip
                applied = await sync(b24, cache, follow=False)
                print(f"Synced {applied} offline events; the queue is empty again.")
                for owner in (2, 3, 4, 5):
                    names = [name for _id, name in cache.of(owner) if "Launch review" in name]
                    print(f"  user {owner}: {names or 'no meeting'}")
                ok = await matches_portal(b24, cache, users)
                print(f"The cache matches the portal: {'yes' if ok else 'NO'}.")
                return 0 if ok else 1


async def run(args: argparse.Namespace) -> int:
    url, token = os.environ.get("B24_URL"), os.environ.get("B24_ACCESS_TOKEN")
    if not (url and token):
        return await demo(args.db)
    async with Bitrix24(url, token=token) as b24:
        await subscribe(b24)
        with Cache(args.db) as cache:
            if args.users:
                print(f"Loaded {await load(b24, cache, args.users)} entries.")
            applied = await sync(b24, cache, follow=args.follow)
            print(f"Synced {applied} offline events into {args.db}.")
    return 0


def parse_users(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, default=Path("calendar_cache.sqlite"))
    parser.add_argument("--users", type=parse_users, default=[], help="load these calendars first")
    parser.add_argument("--follow", action="store_true", help="keep syncing until interrupted")
    return asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
