"""Stream every user of a portal into a local SQLite file; an interrupted run resumes.

Run it as is (an embedded fake portal with 2,000 users), or against your portal::

    python examples/sync_users.py --db users.sqlite
    B24_WEBHOOK_URL=https://b24-xxx.bitrix24.com/rest/1/<code>/ python examples/sync_users.py

Users are read with ``paginate(GetUsers(), keyset=True)``: pages are walked by ID (no row
counting on the portal), 50 pages per request, with memory bounded whatever the portal's size.
Rows are upserted and the last stored ID is committed with them, page by page, so a run that is
stopped (Ctrl-C, a crash, ``--stop-after``) continues where it stopped; once a pass completes
the next run starts a fresh pass that refreshes every row. Nothing is ever stored twice.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sqlite3
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from _connect import connect

from b24async import User
from b24async.methods import GetUsers
from b24async.progress import ProgressBar

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id          INTEGER PRIMARY KEY,
    active      INTEGER NOT NULL,
    name        TEXT,
    last_name   TEXT,
    email       TEXT,
    departments TEXT NOT NULL,  -- JSON array of department IDs
    last_login  TEXT,           -- ISO-8601, NULL if never
    user_type   TEXT,
    synced_at   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sync_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

UPSERT = """
INSERT INTO users (id, active, name, last_name, email, departments, last_login, user_type,
                   synced_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
    active = excluded.active, name = excluded.name, last_name = excluded.last_name,
    email = excluded.email, departments = excluded.departments,
    last_login = excluded.last_login, user_type = excluded.user_type,
    synced_at = excluded.synced_at
"""

COMMIT_EVERY = 50  # rows per transaction: one page


def open_db(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path)
    db.executescript(SCHEMA)
    return db


def get_state(db: sqlite3.Connection, key: str) -> str | None:
    row = db.execute("SELECT value FROM sync_state WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def set_state(db: sqlite3.Connection, key: str, value: str | None) -> None:
    if value is None:
        db.execute("DELETE FROM sync_state WHERE key = ?", (key,))
    else:
        db.execute(
            "INSERT INTO sync_state (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


def as_row(user: User, now: str) -> tuple[object, ...]:
    login = user.last_login.isoformat() if user.last_login else None
    return (
        user.id,
        int(user.active),
        user.name,
        user.last_name,
        user.email,
        json.dumps(list(user.departments)),
        login,
        user.user_type,
        now,
    )


def save(db: sqlite3.Connection, users: list[User], now: str) -> None:
    """Upsert a page of users and move the cursor past them, in one transaction."""
    with db:  # commits, or rolls back on an exception: the cursor never runs ahead of the rows
        db.executemany(UPSERT, [as_row(user, now) for user in users])
        set_state(db, "cursor", str(users[-1].id))


async def sync(args: argparse.Namespace) -> int:
    db = open_db(args.db)
    try:
        return await sync_into(db, args)
    finally:
        db.close()  # on every path: an error or Ctrl-C included


async def sync_into(db: sqlite3.Connection, args: argparse.Namespace) -> int:
    count_before = db.execute("SELECT COUNT(*) FROM users").fetchone()[0]
    cursor = int(get_state(db, "cursor") or 0)
    if cursor:
        print(f"Resuming the interrupted sync after user {cursor}.")
    else:
        print(f"Starting a full pass ({count_before} users stored so far).")
    started = time.monotonic()
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    seen, page, interrupted = 0, [], False
    async with connect(fake_users=args.fake_users) as (b24, _portal):
        # Keyset pages are walked by ID; the ">ID" filter starts after the stored cursor.
        request = GetUsers(filter={">ID": cursor}) if cursor else GetUsers()
        with ProgressBar("users", unit="user") as bar:
            async for user in b24.paginate(request, keyset=True, progress=bar):
                page.append(user)
                seen += 1
                if len(page) == COMMIT_EVERY:
                    save(db, page, now)
                    page = []
                if args.stop_after is not None and seen >= args.stop_after:
                    interrupted = True
                    break
        if page:
            save(db, page, now)
        requests = b24.stats.requests
    if not interrupted:
        with db:
            set_state(db, "cursor", None)  # the pass is complete: the next run starts afresh
            set_state(db, "last_complete", now)
    total, active = db.execute("SELECT COUNT(*), SUM(active) FROM users").fetchone()
    elapsed = time.monotonic() - started
    print(
        f"Synced {seen} users in {elapsed:.1f} s with {requests} HTTP requests: "
        f"{total - count_before} new, {seen - (total - count_before)} refreshed."
    )
    print(f"{args.db} holds {total} users ({active or 0} active).")
    if interrupted:
        print(f"Stopped after {seen} users as asked; run again to resume.")
    return 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, default=Path("users.sqlite"), help="SQLite file")
    parser.add_argument(
        "--stop-after", type=int, metavar="N", help="stop after N users, as if interrupted"
    )
    parser.add_argument(
        "--fake-users", type=int, default=2000, help="size of the embedded fake portal (2000)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(sync(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
