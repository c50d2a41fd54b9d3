"""The offline event queue of the fake portal's app (``b_rest_event_offline``, events facts §4).

Rows are upserted on (MESSAGE_ID, CONNECTOR_ID, PROCESS_ID) with ``MESSAGE_ID =
md5(name|json(data))``, so repeated identical changes collapse into one pending row while a
change that arrives during processing (the row is reserved) makes a new pending row. ``get``
marks (reserves) then reads then optionally deletes; ``clear`` deletes within one process id;
``error`` moves rows to the error set; rows older than 2,952,000 s are purged (§4.8).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

__all__ = [
    "PROCESS_ID_LIFETIME",
    "OfflineQueue",
    "OfflineRow",
    "field_value",
    "message_id_of",
    "row_json",
]

PROCESS_ID_LIFETIME = 2_952_000.0
"""Seconds after which the portal's agent deletes any row (``cleanProcessAgent``, §4.8)."""


def message_id_of(name: str, data: Any) -> str:
    """``md5(EVENT_NAME|json(EVENT_DATA))``: the row's de-duplication key (§4.1)."""
    encoded = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return hashlib.md5(f"{name}|{encoded}".encode(), usedforsecurity=False).hexdigest()


@attrs.define
class OfflineRow:
    """One stored offline event."""

    id: int
    timestamp: float
    message_id: str
    event_name: str
    data: Any
    user_id: int
    connector: str
    process_id: str = ""
    error: bool = False


class OfflineQueue:
    """The app's offline rows, all connectors; ``now`` is the portal's unix clock."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._rows: dict[int, OfflineRow] = {}
        self._next_id = 1

    def __len__(self) -> int:
        return len(self._rows)

    def rows(self, connector: str | None = None) -> list[OfflineRow]:
        """Every live row (of one connector when given), by ID."""
        self.purge()
        return [r for r in self._rows.values() if connector is None or r.connector == connector]

    def store(self, name: str, data: Any, *, user_id: int, connector: str) -> OfflineRow:
        """Upsert one change: refresh the pending (or unreserved error) row, or insert one."""
        message_id = message_id_of(name, data)
        for row in self._rows.values():
            if (row.message_id, row.connector, row.process_id) == (message_id, connector, ""):
                row.timestamp, row.data, row.user_id = self._now(), data, user_id
                return row
        row = OfflineRow(self._next_id, self._now(), message_id, name, data, user_id, connector)
        self._next_id += 1
        self._rows[row.id] = row
        return row

    def purge(self) -> None:
        """Delete rows older than :data:`PROCESS_ID_LIFETIME` (every state, as since 25.x)."""
        limit = self._now() - PROCESS_ID_LIFETIME
        for key in [key for key, row in self._rows.items() if row.timestamp < limit]:
            del self._rows[key]

    def reserve(self, rows: Iterable[OfflineRow]) -> str:
        """Stamp ``rows`` with a new random 32-character process id and return it."""
        process_id = secrets.token_hex(16)
        for row in rows:
            row.process_id = process_id
        return process_id

    def reserved(self, process_id: str, connector: str, *, error: bool) -> list[OfflineRow]:
        """The rows reserved under ``process_id`` (same connector and error flag), by ID."""
        return [
            row
            for row in self.rows(connector)
            if row.process_id == process_id and row.error == error
        ]

    def delete(self, rows: Iterable[OfflineRow]) -> None:
        """Remove ``rows``."""
        for row in rows:
            self._rows.pop(row.id, None)

    def mark_error(self, process_id: str, connector: str, message_ids: Iterable[str]) -> None:
        """``event.offline.error``: move the listed rows of ``process_id`` to the error set.

        Non-error copies of those messages in other processes (a newer pending copy included)
        are deleted first, and an older error row of the same message is merged away (§4.4).
        """
        wanted = set(message_ids)
        rows = self.rows(connector)
        mine = [r for r in rows if r.process_id == process_id and r.message_id in wanted]
        for row in mine:
            for other in rows:
                if other is row or other.message_id != row.message_id:
                    continue
                if other.error or other.process_id != process_id:
                    self._rows.pop(other.id, None)
            row.error, row.process_id = True, ""

    def clear_all(self) -> None:
        """Drop the whole queue (the app was uninstalled)."""
        self._rows.clear()


def row_json(row: OfflineRow, tz: Any, *, listing: bool) -> dict[str, Any]:
    """A row as ``event.offline.get`` (or, with ``listing``, ``event.offline.list``) sends it."""
    body: dict[str, Any] = {
        "ID": str(row.id),
        "TIMESTAMP_X": dt.datetime.fromtimestamp(int(row.timestamp), tz).isoformat(),
        "EVENT_NAME": row.event_name,
        "EVENT_DATA": row.data,
        "EVENT_ADDITIONAL": {"user_id": str(row.user_id)},
        "MESSAGE_ID": row.message_id,
    }
    if listing:
        body["PROCESS_ID"] = row.process_id
        body["ERROR"] = "1" if row.error else "0"
    return body


def field_value(row: OfflineRow, field: str) -> Any:
    """The value a filter or an order compares for ``field``."""
    values: Mapping[str, Any] = {
        "ID": row.id,
        "TIMESTAMP_X": row.timestamp,
        "EVENT_NAME": row.event_name,
        "MESSAGE_ID": row.message_id,
        "PROCESS_ID": row.process_id,
        "ERROR": 1 if row.error else 0,
    }
    return values[field]
