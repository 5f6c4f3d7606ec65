"""The recordings index: one SQLite file (WAL) under the data dir.

Used from the event loop only; each statement is a few index look-ups, so it is
cheaper to run inline than to hop to a thread.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloudrec.wire import first_part_name

SCHEMA = """
CREATE TABLE IF NOT EXISTS recordings (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    room        TEXT    NOT NULL,
    mixer_id    TEXT    NOT NULL,
    file_name   TEXT    NOT NULL UNIQUE,
    path        TEXT    NOT NULL,
    container   TEXT    NOT NULL,
    video_codec TEXT,
    audio_codec TEXT,
    width       INTEGER,
    height      INTEGER,
    fps         REAL,
    size        INTEGER NOT NULL DEFAULT 0,
    duration_ms INTEGER NOT NULL DEFAULT 0,
    created_at  REAL    NOT NULL,
    finished_at REAL,
    state       TEXT    NOT NULL,
    error       INTEGER NOT NULL DEFAULT 0,
    session     TEXT    NOT NULL DEFAULT '',
    part        INTEGER NOT NULL DEFAULT 1,
    object_key  TEXT    NOT NULL DEFAULT '',
    expires_at  REAL
);
CREATE INDEX IF NOT EXISTS recordings_room ON recordings (room, created_at);
CREATE INDEX IF NOT EXISTS recordings_created ON recordings (created_at, id);
"""
# Columns added since the first schema, for index files made before them.
ADDED_COLUMNS = {
    "session": "TEXT NOT NULL DEFAULT ''",
    "part": "INTEGER NOT NULL DEFAULT 1",
    "object_key": "TEXT NOT NULL DEFAULT ''",
    "expires_at": "REAL",
}

# Row states. "interrupted": the recorder died mid-way; the file plays up to its
# last fragment. "missing": the row outlived its file.
RECORDING, FINISHED, INTERRUPTED, FAILED, MISSING, IMPORTED = (
    "recording",
    "finished",
    "interrupted",
    "failed",
    "missing",
    "imported",
)


@dataclass(frozen=True)
class Recording:
    id: int
    room: str
    mixer_id: str
    file_name: str
    path: str
    container: str
    video_codec: str | None
    audio_codec: str | None
    width: int | None
    height: int | None
    fps: float | None
    size: int
    duration_ms: int
    created_at: float
    finished_at: float | None
    state: str
    error: int
    # One recording's files share a session; a recording that moved to another
    # worker goes on in part 2, 3...
    session: str = ""
    part: int = 1
    object_key: str = ""  # its object in the store, once there ("" on disk only)
    expires_at: float | None = None  # set for this recording; else the retention's

    @property
    def directory(self) -> str:
        """``/2026-11-25/demo.mp4`` -> ``/2026-11-25/``."""
        return self.file_name.rsplit("/", 1)[0] + "/"

    @property
    def base_name(self) -> str:
        return self.file_name.rsplit("/", 1)[1]

    def to_json(self) -> dict[str, Any]:
        """As the REST API answers it: camelCase, in the SDK's own words where
        it has them (fileName, fileSize, duration in ms, errCode)."""
        return {
            "id": self.id,
            "room": self.room,
            "mixerId": self.mixer_id,
            "fileName": self.file_name,
            "container": self.container,
            "videoCodec": self.video_codec,
            "audioCodec": self.audio_codec,
            "width": self.width,
            "height": self.height,
            "fps": self.fps,
            "fileSize": self.size,
            "duration": self.duration_ms,
            "createdAt": self.created_at,
            "finishedAt": self.finished_at,
            "state": self.state,
            "errCode": self.error,
            "session": self.session,
            "part": self.part,
            "stored": bool(self.object_key),
            "expiresAt": self.expires_at,
        }


@dataclass(frozen=True)
class Page:
    items: list[Recording]
    total: int
    as_of: float


class RecordingIndex:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        have = {row["name"] for row in self._db.execute("PRAGMA table_info(recordings)")}
        for name, kind in ADDED_COLUMNS.items():
            if name not in have:
                self._db.execute(f"ALTER TABLE recordings ADD COLUMN {name} {kind}")
        self._db.execute(
            "CREATE INDEX IF NOT EXISTS recordings_session ON recordings (session, part)"
        )

    def close(self) -> None:
        self._db.close()

    def healthy(self) -> bool:
        try:
            self._db.execute("SELECT 1 FROM recordings LIMIT 1").fetchall()
        except sqlite3.Error:
            return False
        return True

    def add(
        self,
        *,
        room: str,
        mixer_id: str,
        file_name: str,
        path: Path,
        container: str,
        video_codec: str | None,
        audio_codec: str | None,
        width: int | None,
        height: int | None,
        fps: float | None,
        state: str = RECORDING,
        size: int = 0,
        duration_ms: int = 0,
        created_at: float | None = None,
        session: str = "",
        part: int = 1,
    ) -> int:
        cur = self._db.execute(
            "INSERT INTO recordings (room, mixer_id, file_name, path, container, video_codec,"
            " audio_codec, width, height, fps, size, duration_ms, created_at, state, session,"
            " part) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                room,
                mixer_id,
                file_name,
                str(path),
                container,
                video_codec,
                audio_codec,
                width,
                height,
                fps,
                size,
                duration_ms,
                time.time() if created_at is None else created_at,
                state,
                session,
                part,
            ),
        )
        return int(cur.lastrowid or 0)

    def progress(self, file_name: str, size: int, duration_ms: int) -> None:
        self._db.execute(
            "UPDATE recordings SET size = ?, duration_ms = ? WHERE file_name = ?",
            (size, duration_ms, file_name),
        )

    def finish(
        self, file_name: str, state: str, size: int, duration_ms: int, error: int = 0
    ) -> Recording | None:
        self._db.execute(
            "UPDATE recordings SET state = ?, size = ?, duration_ms = ?, error = ?,"
            " finished_at = ? WHERE file_name = ?",
            (state, size, duration_ms, error, time.time(), file_name),
        )
        return self.by_name(file_name)

    def mark(self, recording_id: int, state: str, **fields: Any) -> None:
        sets = ", ".join(f"{name} = ?" for name in ("state", *fields))
        self._db.execute(
            f"UPDATE recordings SET {sets} WHERE id = ?",  # names are ours, not input
            (state, *fields.values(), recording_id),
        )

    def stored(self, recording_id: int, object_key: str) -> None:
        self._db.execute(
            "UPDATE recordings SET object_key = ? WHERE id = ?", (object_key, recording_id)
        )

    def expire_at(self, recording_id: int, when: float | None) -> None:
        """None: as the retention period says."""
        self._db.execute("UPDATE recordings SET expires_at = ? WHERE id = ?", (when, recording_id))

    def expired(self, now: float, retention_s: float | None) -> list[Recording]:
        """Recordings past their own expiry, or, without one, older than
        ``retention_s``; never one still being written."""
        rows = self._db.execute(
            "SELECT * FROM recordings WHERE state != ?"
            " AND COALESCE(expires_at, created_at + ?) <= ? ORDER BY id",
            (RECORDING, retention_s, now),
        )
        return [Recording(**r) for r in rows]

    def next_expiry(self, retention_s: float | None) -> float | None:
        """When the next recording not being written expires, if any does."""
        (when,) = self._db.execute(
            "SELECT MIN(COALESCE(expires_at, created_at + ?)) FROM recordings WHERE state != ?",
            (retention_s, RECORDING),
        ).fetchone()
        return None if when is None else float(when)

    def get(self, recording_id: int) -> Recording | None:
        row = self._db.execute("SELECT * FROM recordings WHERE id = ?", (recording_id,)).fetchone()
        return Recording(**row) if row else None

    def by_name(self, file_name: str) -> Recording | None:
        row = self._db.execute(
            "SELECT * FROM recordings WHERE file_name = ?", (file_name,)
        ).fetchone()
        return Recording(**row) if row else None

    def parts(self, rec: Recording) -> list[Recording]:
        """Every part of the recording ``rec`` is one of, in order (the same
        mixer's files of one session; a file alone is its only part)."""
        if not rec.session:
            return [rec]
        rows = self._db.execute(
            "SELECT * FROM recordings WHERE session = ? AND mixer_id = ? AND room = ?"
            " ORDER BY part, id",
            (rec.session, rec.mixer_id, rec.room),
        )
        first = first_part_name(rec.file_name)  # mode 1: one file per participant
        return [
            r for r in (Recording(**row) for row in rows) if first_part_name(r.file_name) == first
        ]

    def unstored(self) -> list[Recording]:
        """Finished files not (yet) tied to an object in the store."""
        rows = self._db.execute(
            "SELECT * FROM recordings WHERE object_key = '' AND state IN (?, ?) ORDER BY id",
            (FINISHED, INTERRUPTED),
        )
        return [Recording(**r) for r in rows]

    def all(self) -> list[Recording]:
        return [Recording(**r) for r in self._db.execute("SELECT * FROM recordings ORDER BY id")]

    def delete(self, recording_id: int) -> None:
        self._db.execute("DELETE FROM recordings WHERE id = ?", (recording_id,))

    def total_size(self) -> int:
        (total,) = self._db.execute("SELECT COALESCE(SUM(size), 0) FROM recordings").fetchone()
        return int(total)

    def query(
        self,
        *,
        room: str | None = None,
        since: float | None = None,
        until: float | None = None,
        name: str | None = None,
        directory: str | None = None,
        as_of: float | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> Page:
        """Newest first. ``as_of`` pins the listing to rows created by then, so a
        client paging through it sees no shifts from recordings that start meanwhile."""
        as_of = time.time() if as_of is None else as_of
        where: list[str] = ["created_at <= ?"]
        args: list[object] = [as_of]
        if room is not None:
            where.append("room = ?")
            args.append(room)
        if since is not None:
            where.append("created_at >= ?")
            args.append(since)
        if until is not None:
            where.append("created_at <= ?")
            args.append(until)
        if name:
            where.append("file_name LIKE ? ESCAPE '\\'")
            args.append("%" + _like_escape(name) + "%")
        if directory is not None:
            # Directly inside ``directory``: its prefix, and no further slash.
            where.append("file_name LIKE ? ESCAPE '\\' AND instr(substr(file_name, ?), '/') = 0")
            args.extend((_like_escape(directory) + "%", len(directory) + 1))
        clause = " AND ".join(where)
        (total,) = self._db.execute(
            f"SELECT COUNT(*) FROM recordings WHERE {clause}", args
        ).fetchone()
        rows = self._db.execute(
            f"SELECT * FROM recordings WHERE {clause} ORDER BY created_at DESC, id DESC"
            " LIMIT ? OFFSET ?",
            [*args, limit, offset],
        )
        return Page([Recording(**r) for r in rows], int(total), as_of)

    def subdirectories(self, directory: str, as_of: float) -> list[str]:
        """Immediate subdirectories of ``directory`` that hold recordings."""
        rows = self._db.execute(
            "SELECT DISTINCT substr(file_name, ?) AS rest FROM recordings"
            " WHERE file_name LIKE ? ESCAPE '\\' AND created_at <= ?",
            (len(directory) + 1, _like_escape(directory) + "%", as_of),
        )
        names = {r["rest"].split("/", 1)[0] for r in rows if "/" in r["rest"]}
        return sorted(directory + n + "/" for n in names)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
