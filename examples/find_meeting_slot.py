"""Find when a team can meet: the common free slots of several people over the next week.

Run it as is (it starts an embedded fake portal), or against your portal::

    python examples/find_meeting_slot.py
    B24_WEBHOOK_URL=https://b24-xxx.bitrix24.com/rest/1/<code>/ \\
        python examples/find_meeting_slot.py --users 1,2,34 --duration 45 --tz Europe/Berlin

The team is ``--users``, or ``--department``, or by default the caller's own department. Their
calendars are read with one typed request (``GetAccessibility``: the client merges and splits
``calendar.accessibility.get`` for any team size), and ``Availability.common_free_slots`` finds
the windows where everybody is free within working hours.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from collections.abc import Sequence

from _connect import connect

from b24async import Bitrix24, User, WorkingHours
from b24async.methods import GetAccessibility, GetUsers
from b24async.progress import ProgressBar


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    team = parser.add_mutually_exclusive_group()
    team.add_argument("--users", help="user IDs, e.g. 1,2,34")
    team.add_argument("--department", type=int, help="everyone in this department")
    parser.add_argument("--max-team", type=int, default=6, help="largest default team (6)")
    parser.add_argument("--duration", type=int, default=30, help="meeting length, minutes")
    parser.add_argument("--days", type=int, default=7, help="how far ahead to look (7 days)")
    parser.add_argument("--hours", default="9-18", help="working hours, e.g. 9-18 or 8:30-17")
    parser.add_argument("--tz", help="time zone of the working hours (default: this machine's)")
    parser.add_argument("--limit", type=int, default=8, help="slots to show (8)")
    return parser.parse_args(argv)


def parse_hours(text: str) -> tuple[dt.time, dt.time]:
    first, _, last = text.partition("-")
    return dt.time.fromisoformat(_hhmm(first)), dt.time.fromisoformat(_hhmm(last))


def _hhmm(text: str) -> str:
    hours, _, minutes = text.strip().partition(":")
    return f"{int(hours):02d}:{int(minutes or 0):02d}"


def full_name(user: User) -> str:
    return " ".join(part for part in (user.name, user.last_name) if part) or f"user {user.id}"


async def pick_team(b24: Bitrix24, args: argparse.Namespace) -> list[User]:
    """The people to find a slot for (active users only)."""
    if args.users:
        ids = [int(part) for part in args.users.replace(" ", ",").split(",") if part]
        found = [user async for user in b24.paginate(GetUsers(filter={"@ID": ids}))]
        # Say who is left out, rather than quietly planning without them.
        inactive = [u for u in found if not u.active]
        if inactive:
            names = ", ".join(f"{full_name(u)} ({u.id})" for u in inactive)
            print(f"Left out, not active (fired): {names}.")
        unknown = sorted(set(ids) - {u.id for u in found})
        if unknown:
            print(f"Left out, no such user: {', '.join(map(str, unknown))}.")
        return [u for u in found if u.active]
    department = args.department
    if department is None:
        me = (await b24.call("user.current")).result
        department = (me.get("UF_DEPARTMENT") or [None])[0]
    team: list[User] = []
    if department is not None:
        team = [u async for u in b24.paginate(GetUsers(filter={"UF_DEPARTMENT": department}))]
        team = [u for u in team if u.active][: args.max_team]
    if len(team) < 2:
        print(
            f"Your department has only you; as a sample team, taking the first {args.max_team} "
            "active users (pick a team with --users or --department)."
        )
        team = []
        async for user in b24.paginate(GetUsers(active=True)):
            team.append(user)
            if len(team) == args.max_team:
                break
    return team


async def find_slots(args: argparse.Namespace) -> int:
    start_hour, end_hour = parse_hours(args.hours)
    zone: dt.tzinfo = dt.datetime.now().astimezone().tzinfo or dt.timezone.utc
    hours = WorkingHours(start_hour, end_hour, args.tz or zone)
    async with connect(fake_users=50) as (b24, _portal):
        team = await pick_team(b24, args)
        if not team:
            print("No active users found for that team.", file=sys.stderr)
            return 1
        print("Team: " + ", ".join(f"{full_name(u)} ({u.id})" for u in team))
        now = dt.datetime.now(hours.tz)
        # Slots start on the next quarter hour: nobody books a meeting for 10:07.
        begin = (now + dt.timedelta(minutes=15 - now.minute % 15)).replace(second=0, microsecond=0)
        end = begin + dt.timedelta(days=args.days)
        ids = [u.id for u in team]
        request = GetAccessibility(users=ids, start=begin, end=end)
        with ProgressBar("calendars", unit="user") as bar:
            busy = await b24(request, progress=bar)
        slots = busy.common_free_slots(
            ids, begin, end, dt.timedelta(minutes=args.duration), hours, limit=args.limit
        )
        stats = b24.stats
    events = sum(len(entries) for entries in busy.values())
    print(
        f"Read {events} calendar entries of {len(team)} people for "
        f"{begin:%a %d %b} - {end:%a %d %b} in {stats.requests} HTTP requests in all."
    )
    if not slots:
        print(
            f"No common free slot of {args.duration} min in working hours ({args.hours}); "
            "try a shorter --duration, more --days or a smaller team."
        )
        return 0
    print(f"\nCommon free slots of at least {args.duration} min, {args.hours} {hours.tz}:")
    for slot in slots:
        minutes = int(slot.duration.total_seconds() // 60)
        length = f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"
        print(f"  {slot.start:%a %d %b  %H:%M}-{slot.end:%H:%M}  ({length} free)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(find_slots(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
