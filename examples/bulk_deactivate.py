"""Fire or re-activate the users listed in a CSV file, and report what changed and what failed.

Run it as is (an embedded fake portal and ``examples/data/deactivate.csv``), or against your
portal with an admin webhook::

    python examples/bulk_deactivate.py
    B24_WEBHOOK_URL=https://b24-xxx.bitrix24.com/rest/1/<code>/ \\
        python examples/bulk_deactivate.py leavers.csv --dry-run

The CSV has a header with ``user_id`` and ``action`` (``fire`` or ``activate``); other columns
are ignored. The job reads the users first (so that rows already in the wanted state, unknown
users and firing your own account are reported instead of sent: an admin who fires themselves
is locked out of the portal), sends every change in ``batch`` requests of 50 (one typed
``SetUserActive`` per row) with a progress bar, then reads the users again: ``user.update``
answers ``true`` even when the portal ignored ``ACTIVE`` (a caller without the right to change
it), so only the second read proves a change. ``--report out.csv`` writes one outcome per row.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
from collections.abc import Sequence
from pathlib import Path

import attrs
from _connect import connect

from b24async import Bitrix24, User
from b24async.methods import GetUsers, SetUserActive
from b24async.progress import ProgressBar

DEFAULT_CSV = Path(__file__).parent / "data" / "deactivate.csv"
ACTIONS = {"fire": False, "deactivate": False, "activate": True, "reactivate": True}


@attrs.define
class Row:
    """One CSV row and what became of it."""

    line: int
    user_id: int | None
    active: bool | None  # the wanted state
    outcome: str = "pending"  # changed | unchanged | failed | planned
    detail: str = ""
    name: str = ""

    @property
    def action(self) -> str:
        return "?" if self.active is None else ("activate" if self.active else "fire")

    def fail(self, detail: str) -> None:
        self.outcome, self.detail = "failed", detail


def read_rows(path: Path) -> list[Row]:
    """Every data row of the CSV; rows that cannot be understood are already failed."""
    rows: list[Row] = []
    with path.open(newline="", encoding="utf-8-sig") as file:
        reader = csv.DictReader(file)
        missing = {"user_id", "action"} - set(reader.fieldnames or ())
        if missing:
            raise SystemExit(f"{path}: the header lacks {', '.join(sorted(missing))}")
        for record in reader:
            row = Row(line=reader.line_num, user_id=None, active=None)
            rows.append(row)
            raw_id = (record.get("user_id") or "").strip()
            action = (record.get("action") or "").strip().lower()
            if not raw_id.isdigit() or int(raw_id) <= 0:
                row.fail(f"{raw_id!r} is not a user ID")
            elif action not in ACTIONS:
                row.fail(f"unknown action {action!r} (use fire or activate)")
            else:
                row.user_id, row.active = int(raw_id), ACTIONS[action]
    return rows


def full_name(user: User) -> str:
    return " ".join(part for part in (user.name, user.last_name) if part)


async def read_users(b24: Bitrix24, ids: Sequence[int]) -> dict[int, User]:
    request = GetUsers(filter={"@ID": sorted(set(ids))})
    return {user.id: user async for user in b24.paginate(request)}


def plan(rows: list[Row], users: dict[int, User], me: int) -> list[Row]:
    """Mark rows unchanged or failed; return the rows that need a ``user.update``."""
    seen: dict[int, int] = {}
    todo: list[Row] = []
    for row in rows:
        if row.outcome == "failed" or row.user_id is None:
            continue
        user = users.get(row.user_id)
        if user is not None:
            row.name = full_name(user)
        if row.user_id in seen:
            row.fail(f"user {row.user_id} is already on line {seen[row.user_id]}")
        elif user is None:
            row.fail(f"no user {row.user_id} on this portal")
        elif row.user_id == me and not row.active:
            row.fail("that is you: firing the webhook's own user locks an admin out")
        elif user.active == row.active:
            row.outcome = "unchanged"
            row.detail = "already active" if user.active else "already fired"
        else:
            todo.append(row)
        seen.setdefault(row.user_id, row.line)
    return todo


async def apply(b24: Bitrix24, todo: list[Row], me: int) -> None:
    """Send the changes in bulk, then read the users again to see what really changed."""
    commands = {
        # caller_id: a request that would fire ``me`` is refused before anything is sent.
        f"line{row.line}": SetUserActive(user_id=row.user_id, active=row.active, caller_id=me)
        for row in todo
        if row.user_id is not None and row.active is not None
    }
    with ProgressBar("user.update", unit="user") as bar:
        result = await b24.batch(commands, progress=bar)
    for row in todo:
        error = result.errors.get(f"line{row.line}")
        if error is not None:
            row.fail(f"{error.code or 'error'}: {error.description}")
    after = await read_users(b24, [r.user_id for r in todo if r.user_id is not None])
    for row in todo:
        if row.outcome == "failed" or row.user_id is None:
            continue
        user = after.get(row.user_id)
        if user is not None and user.active == row.active:
            row.outcome = "changed"
            row.detail = "re-activated" if row.active else "fired"
        else:
            row.fail("the portal accepted the change but did not apply it (rights?)")


def summarize(rows: list[Row], report: Path | None) -> None:
    for outcome in ("changed", "planned", "unchanged", "failed"):
        chosen = [r for r in rows if r.outcome == outcome]
        if not chosen:
            continue
        print(f"\n{outcome.capitalize()} ({len(chosen)}):")
        for row in chosen:
            who = f"user {row.user_id}" if row.user_id is not None else "?"
            name = f" {row.name}" if row.name else ""
            print(f"  line {row.line}: {who}{name}: {row.action}: {row.detail}")
    counts = {o: sum(r.outcome == o for r in rows) for o in ("changed", "unchanged", "failed")}
    print("\nSummary: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if report is not None:
        with report.open("w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(["line", "user_id", "action", "outcome", "detail"])
            for row in rows:
                writer.writerow([row.line, row.user_id or "", row.action, row.outcome, row.detail])
        print(f"Report written to {report}")


async def run(args: argparse.Namespace) -> int:
    rows = read_rows(args.csv)
    print(f"{args.csv}: {len(rows)} row(s)")
    async with connect(fake_users=50) as (b24, portal):
        me = int((await b24.call("user.current")).result["ID"])
        ids = [row.user_id for row in rows if row.user_id is not None]
        users = await read_users(b24, ids) if ids else {}
        todo = plan(rows, users, me)
        if args.dry_run:
            for row in todo:
                row.outcome, row.detail = "planned", "would be sent (dry run)"
        elif todo:
            await apply(b24, todo, me)
        if portal is not None:
            writes = [e for e in portal.ledger if e.method == "user.update"]
            print(f"The fake portal's ledger holds {len(writes)} user.update write(s).")
    summarize(rows, args.report)
    failed = any(row.outcome == "failed" for row in rows)
    return 1 if failed and args.strict else 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "csv", nargs="?", type=Path, default=DEFAULT_CSV, help="CSV with user_id,action"
    )
    parser.add_argument("--dry-run", action="store_true", help="show the plan, change nothing")
    parser.add_argument("--report", type=Path, help="write one outcome per row to this CSV")
    parser.add_argument("--strict", action="store_true", help="exit with 1 if any row failed")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
