"""The webhook outbox: every notification is a row of the index's SQLite file
before it is sent, so deliveries outlive a restart and are tried until a
receiver takes them (at least once), in order within each stream (one
recording's events).

Used from the event loop only, like the index: each statement is a few index
look-ups."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT    NOT NULL UNIQUE,
    stream       TEXT    NOT NULL,
    type         TEXT    NOT NULL,
    form         TEXT    NOT NULL,
    body         TEXT    NOT NULL,
    created_at   REAL    NOT NULL,
    state        TEXT    NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      REAL    NOT NULL,
    last_error   TEXT    NOT NULL DEFAULT '',
    delivered_at REAL
);
CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries (state, stream, seq);
"""

PENDING, DELIVERED, GIVEN_UP = "pending", "delivered", "givenUp"
# How a delivery is signed: Standard Webhooks headers, or the SDK's RECORD_FINISH
# with its md5 Signature in the body.
STANDARD, SDK = "standard", "sdk"
MAX_ERROR_CHARS = 300


@dataclass(frozen=True)
class Delivery:
    seq: int
    id: str
    stream: str
    type: str
    form: str
    body: str
    created_at: float
    state: str
    attempts: int
    next_at: float
    last_error: str
    delivered_at: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "state": self.state,
            "attempts": self.attempts,
            "lastError": self.last_error,
            "createdAt": self.created_at,
            "nextAttemptAt": self.next_at if self.state == PENDING else None,
            "deliveredAt": self.delivered_at,
            "body": json.loads(self.body),
        }


class Outbox:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    def add(self, delivery_id: str, stream: str, kind: str, form: str, body: str) -> None:
        now = time.time()
        self._db.execute(
            "INSERT INTO deliveries (id, stream, type, form, body, created_at, state, next_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (delivery_id, stream, kind, form, body, now, PENDING, now),
        )

    def pending(self) -> int:
        (count,) = self._db.execute(
            "SELECT COUNT(*) FROM deliveries WHERE state = ?", (PENDING,)
        ).fetchone()
        return int(count)

    def heads(self) -> list[Delivery]:
        """The first pending delivery of each stream: the only one it may send."""
        rows = self._db.execute(
            "SELECT d.* FROM deliveries d JOIN (SELECT MIN(seq) AS seq FROM deliveries"
            " WHERE state = ? GROUP BY stream) h ON d.seq = h.seq ORDER BY d.seq",
            (PENDING,),
        )
        return [Delivery(**row) for row in rows]

    def delivered(self, seq: int) -> None:
        self._db.execute(
            "UPDATE deliveries SET state = ?, attempts = attempts + 1, delivered_at = ?,"
            " last_error = '' WHERE seq = ?",
            (DELIVERED, time.time(), seq),
        )

    def failed(self, seq: int, error: str, next_at: float | None) -> None:
        """Tried again at ``next_at``; given up on when it is None."""
        state = PENDING if next_at is not None else GIVEN_UP
        self._db.execute(
            "UPDATE deliveries SET state = ?, attempts = attempts + 1, last_error = ?,"
            " next_at = COALESCE(?, next_at) WHERE seq = ?",
            (state, error[:MAX_ERROR_CHARS], next_at, seq),
        )

    def page(self, state: str | None, offset: int, limit: int) -> tuple[list[Delivery], int]:
        """Newest first, with the total."""
        where, args = ("WHERE state = ?", [state]) if state else ("", [])
        (total,) = self._db.execute(f"SELECT COUNT(*) FROM deliveries {where}", args).fetchone()
        rows = self._db.execute(
            f"SELECT * FROM deliveries {where} ORDER BY seq DESC LIMIT ? OFFSET ?",
            [*args, limit, offset],
        )
        return [Delivery(**row) for row in rows], int(total)
