"""A room's whiteboard: strokes in board coordinates, changed by operations.

The server keeps the authoritative board of each room and relays operations;
the recorder keeps a replica. Points are fractions (0..1) of a 16:9 board, so
a board looks the same at any size; widths are in pixels of a 1600-wide board.

A board is bounded in bytes (its strokes and its undo history alike), and
everything it sends fits one signaling message: a stroke is refused past a
part's size, and a state or a restore larger than a part goes out as several
restores of one version, which replicas apply in turn.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from cloudrec import jsonio
from cloudrec.errors import CloudrecError, ErrorCode

BOARD_WIDTH, BOARD_HEIGHT = 1600, 900
MAX_STROKES = 5000
MAX_POINTS = 2000
MAX_UNDO = 200
# What a board and its undo history may hold, each: a few thousand strokes of
# a real meeting, and a bound on what one room can make the server keep.
MAX_BOARD_BYTES = 2 * 1024 * 1024
MAX_STROKE_ID_BYTES = 64
# Room around the strokes of a part for the message that carries it
# ({"type": "reply", "rid": ..., "err": 0, "op": "restore", "version": ...},
# or a join's reply with its room, user and recording status).
ENVELOPE_BYTES = 512
# The largest message a board sends by default: the server's default
# --max-message-bytes.
DEFAULT_PART_BYTES = 64 * 1024
_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")


@dataclass(frozen=True)
class Stroke:
    id: str
    color: str
    width: float
    points: tuple[tuple[float, float], ...]

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "color": self.color,
            "width": self.width,
            "points": [list(p) for p in self.points],
        }

    @cached_property
    def wire_bytes(self) -> int:
        """Its size in a message, with the comma that joins it to the next."""
        return jsonio.size(self.to_wire()) + 1


@dataclass(frozen=True)
class BoardSnapshot:
    """What the compositor draws; the version changes with every operation."""

    version: int
    strokes: tuple[Stroke, ...]


def _bad(message: str) -> CloudrecError:
    return CloudrecError(ErrorCode.PARAM_ERR, message)


def parse_stroke(raw: Any) -> Stroke:
    if not isinstance(raw, dict):
        raise _bad("stroke must be an object")
    stroke_id = raw.get("id")
    if not isinstance(stroke_id, str) or not 0 < len(stroke_id.encode()) <= MAX_STROKE_ID_BYTES:
        raise _bad(f"stroke.id must be a string of 1 to {MAX_STROKE_ID_BYTES} bytes")
    color = raw.get("color", "#000000")
    if not isinstance(color, str) or not _COLOR.match(color):
        raise _bad("stroke.color must be #RRGGBB")
    width = raw.get("width", 4)
    if isinstance(width, bool) or not isinstance(width, int | float) or not 0.5 <= width <= 64:
        raise _bad("stroke.width must be a number from 0.5 to 64")
    points = raw.get("points")
    if not isinstance(points, list) or not 1 <= len(points) <= MAX_POINTS:
        raise _bad(f"stroke.points must hold 1 to {MAX_POINTS} points")
    parsed: list[tuple[float, float]] = []
    for i, point in enumerate(points):
        if (
            not isinstance(point, list | tuple)
            or len(point) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in point)
        ):
            raise _bad(f"stroke.points[{i}] must be [x, y]")
        # Compared before float(): an integer of 400 digits has no float.
        if not all(0 <= v <= 1 for v in point):
            raise _bad(f"stroke.points[{i}] must lie within 0..1")
        parsed.append((float(point[0]), float(point[1])))
    return Stroke(stroke_id, color, float(width), tuple(parsed))


class Board:
    def __init__(self, part_bytes: int = DEFAULT_PART_BYTES) -> None:
        """``part_bytes``: the largest message this board's effects and state may
        take (the server's --max-message-bytes); replicas need not say."""
        self._strokes: dict[str, Stroke] = {}
        self._bytes = 0  # of the strokes on the board, as the wire carries them
        self._history: list[tuple[str, Any, int]] = []  # (what was done, payload, bytes)
        self._history_bytes = 0
        self._snapshot: BoardSnapshot | None = None
        self._part_bytes = max(part_bytes - ENVELOPE_BYTES, 1)
        self.version = 0
        # A replica may hear relayed effects before its initial state arrives
        # (both come on one connection, handled apart): they wait for load().
        self._loaded = False
        self._early: list[dict[str, Any]] = []

    @property
    def size(self) -> int:
        """Bytes the strokes on the board take on the wire."""
        return self._bytes

    def snapshot(self) -> BoardSnapshot:
        """Made once per version: the mixer asks every tick."""
        if self._snapshot is None or self._snapshot.version != self.version:
            self._snapshot = BoardSnapshot(self.version, tuple(self._strokes.values()))
        return self._snapshot

    def state(self) -> dict[str, Any]:
        """The whole board, for a caller that reads it in one piece (tests, REST)."""
        return {"version": self.version, "strokes": [s.to_wire() for s in self._strokes.values()]}

    def state_parts(
        self, head_bytes: int | None = None
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The board as a state of at most ``head_bytes`` (a part's size by
        default), and the restores of the same version, each at most a part,
        that complete it: load() the first, replay() the rest."""
        strokes = list(self._strokes.values())
        limit, used, fit = head_bytes or self._part_bytes, 2, 0
        for stroke in strokes:  # in order, while they fit
            if used + stroke.wire_bytes > limit:
                break
            used += stroke.wire_bytes
            fit += 1
        head = {"version": self.version, "strokes": [s.to_wire() for s in strokes[:fit]]}
        rest = ((s.to_wire(), s.wire_bytes) for s in strokes[fit:])
        restores = [
            {"op": "restore", "strokes": chunk, "version": self.version}
            for chunk in _chunks(rest, self._part_bytes)
        ]
        return head, restores

    def parts(self, effect: dict[str, Any]) -> list[dict[str, Any]]:
        """An effect of apply() as messages of at most a part's size each."""
        if effect.get("op") != "restore":
            return [effect]
        sized = ((s, jsonio.size(s) + 1) for s in effect.get("strokes", []))
        chunks = list(_chunks(sized, self._part_bytes)) or [[]]
        return [{**effect, "strokes": c} for c in chunks]

    def load(self, state: dict[str, Any]) -> None:
        """Replaces this board with a state from ``state()`` (a replica's start),
        then replays the effects heard meanwhile that are not older than it
        (a state's own later parts are restores of its version)."""
        self._strokes = {s.id: s for s in map(parse_stroke, state.get("strokes", []))}
        self._bytes = sum(s.wire_bytes for s in self._strokes.values())
        self._history.clear()
        self._history_bytes = 0
        self.version = int(state.get("version", 0))
        self._snapshot = None
        self._loaded = True
        early, self._early = self._early, []
        for effect in early:
            # Replaying the effect that made the state's own version changes
            # nothing: each kind of effect is idempotent on its result.
            if int(effect.get("version", 0)) >= self.version:
                self._effect(effect)

    def apply(self, op: dict[str, Any]) -> dict[str, Any]:
        """Applies one operation from a participant; returns its effect as a
        concrete operation (stroke, erase, clear or restore) that a replica
        without this board's history can replay (parts() splits a large one)."""
        kind = op.get("op")
        if kind == "stroke":
            stroke = parse_stroke(op.get("stroke"))
            if stroke.id in self._strokes:
                raise _bad(f"stroke.id '{stroke.id}' is on the board already")
            if stroke.wire_bytes > self._part_bytes:
                raise _bad(
                    f"stroke.points take {stroke.wire_bytes} bytes, more than one message "
                    f"carries ({self._part_bytes})"
                )
            if len(self._strokes) >= MAX_STROKES:
                raise CloudrecError(ErrorCode.RECORD_MAX, f"the board holds {MAX_STROKES} strokes")
            if self._bytes + stroke.wire_bytes > MAX_BOARD_BYTES:
                raise CloudrecError(
                    ErrorCode.RECORD_MAX,
                    f"the board would hold more than {MAX_BOARD_BYTES} bytes of strokes",
                )
            self._remember("stroke", stroke.id, len(stroke.id))
            self._put(stroke)
            effect: dict[str, Any] = {"op": "stroke", "stroke": stroke.to_wire()}
        elif kind == "erase":
            stroke_id = op.get("id")
            removed = self._strokes.get(stroke_id) if isinstance(stroke_id, str) else None
            if removed is None:
                raise _bad(f"id '{str(stroke_id)[:80]}' is no stroke on the board")
            self._remember("erase", removed, removed.wire_bytes)
            self._drop(removed.id)
            effect = {"op": "erase", "id": stroke_id}
        elif kind == "clear":
            self._remember("clear", tuple(self._strokes.values()), self._bytes)
            self._clear()
            effect = {"op": "clear"}
        elif kind == "undo":
            effect = self._undo()
        else:
            raise _bad("op must be stroke, erase, clear or undo")
        self._changed(self.version + 1)
        return {**effect, "version": self.version}

    def _undo(self) -> dict[str, Any]:
        """Undoes the latest operation remembered; returns its effect."""
        if not self._history:
            raise _bad("nothing to undo")
        # Undone last first, each returns the board to a size it had: no check.
        done, payload, size = self._history.pop()
        self._history_bytes -= size
        if done == "stroke":
            self._drop(payload)
            return {"op": "erase", "id": payload}
        if done == "erase":
            self._put(payload)
            return {"op": "stroke", "stroke": payload.to_wire()}
        for stroke in payload:
            self._put(stroke)
        return {"op": "restore", "strokes": [s.to_wire() for s in payload]}

    def _stroke_bytes(self, stroke_id: str) -> int:
        stroke = self._strokes.get(stroke_id)
        return stroke.wire_bytes if stroke is not None else 0

    def replay(self, effect: dict[str, Any]) -> dict[str, Any]:
        """Follows a relayed effect (what apply() returns): how replicas keep up."""
        if not self._loaded:
            self._early.append(effect)
            return effect
        return self._effect(effect)

    def _effect(self, effect: dict[str, Any]) -> dict[str, Any]:
        kind = effect.get("op")
        if kind == "stroke":
            self._put(parse_stroke(effect.get("stroke")))
        elif kind == "erase":
            self._drop(str(effect.get("id")))
        elif kind == "clear":
            self._clear()
        elif kind == "restore":
            for stroke in map(parse_stroke, effect.get("strokes", [])):
                self._put(stroke)
        else:
            raise _bad("op must be stroke, erase, clear or restore")
        self._changed(int(effect.get("version", self.version + 1)))
        return effect

    def _changed(self, version: int) -> None:
        self.version = version
        self._snapshot = None

    def _put(self, stroke: Stroke) -> None:
        self._bytes += stroke.wire_bytes - self._stroke_bytes(stroke.id)
        self._strokes[stroke.id] = stroke

    def _drop(self, stroke_id: str) -> None:
        gone = self._strokes.pop(stroke_id, None)
        if gone is not None:
            self._bytes -= gone.wire_bytes

    def _clear(self) -> None:
        self._strokes.clear()
        self._bytes = 0

    def _remember(self, done: str, payload: Any, size: int) -> None:
        """Undo history is bounded in entries and in bytes, oldest forgotten first."""
        self._history.append((done, payload, size))
        self._history_bytes += size
        while len(self._history) > MAX_UNDO or self._history_bytes > MAX_BOARD_BYTES:
            self._history_bytes -= self._history.pop(0)[2]


def _chunks(
    strokes: Iterable[tuple[dict[str, Any], int]], limit: int
) -> Iterator[list[dict[str, Any]]]:
    """Strokes in wire form with their sizes, grouped so each group's list
    takes at most ``limit`` bytes."""
    chunk: list[dict[str, Any]] = []
    used = 2  # the list's brackets
    for stroke, size in strokes:
        if chunk and used + size > limit:
            yield chunk
            chunk, used = [], 2
        chunk.append(stroke)
        used += size
    if chunk:
        yield chunk
