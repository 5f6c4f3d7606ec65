"""A room's whiteboard: strokes in board coordinates, changed by operations.

The server keeps the authoritative board of each room and relays operations;
the recorder keeps a replica. Points are fractions (0..1) of a 16:9 board, so
a board looks the same at any size; widths are in pixels of a 1600-wide board.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from cloudrec.errors import CloudrecError, ErrorCode

BOARD_WIDTH, BOARD_HEIGHT = 1600, 900
MAX_STROKES = 5000
MAX_POINTS = 2000
MAX_UNDO = 200
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
    if not isinstance(stroke_id, str) or not 0 < len(stroke_id) <= 64:
        raise _bad("stroke.id must be a string of 1 to 64 characters")
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
        x, y = float(point[0]), float(point[1])
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise _bad(f"stroke.points[{i}] must lie within 0..1")
        parsed.append((x, y))
    return Stroke(stroke_id, color, float(width), tuple(parsed))


class Board:
    def __init__(self) -> None:
        self._strokes: dict[str, Stroke] = {}
        self._undo: list[tuple[str, Any]] = []
        self._snapshot: BoardSnapshot | None = None
        self.version = 0
        # A replica may hear relayed effects before its initial state arrives
        # (both come on one connection, handled apart): they wait for load().
        self._loaded = False
        self._early: list[dict[str, Any]] = []

    def snapshot(self) -> BoardSnapshot:
        """Made once per version: the mixer asks every tick."""
        if self._snapshot is None or self._snapshot.version != self.version:
            self._snapshot = BoardSnapshot(self.version, tuple(self._strokes.values()))
        return self._snapshot

    def state(self) -> dict[str, Any]:
        return {"version": self.version, "strokes": [s.to_wire() for s in self._strokes.values()]}

    def load(self, state: dict[str, Any]) -> None:
        """Replaces this board with a state from ``state()`` (a replica's start),
        then replays the effects heard meanwhile that are newer than it."""
        self._strokes = {s.id: s for s in map(parse_stroke, state.get("strokes", []))}
        self._undo.clear()
        self.version = int(state.get("version", 0))
        self._snapshot = None
        self._loaded = True
        early, self._early = self._early, []
        for effect in early:
            if int(effect.get("version", 0)) > self.version:
                self._effect(effect)

    def apply(self, op: dict[str, Any]) -> dict[str, Any]:
        """Applies one operation from a participant; returns its effect as a
        concrete operation (stroke, erase, clear or restore) that a replica
        without this board's history can replay."""
        kind = op.get("op")
        if kind == "stroke":
            stroke = parse_stroke(op.get("stroke"))
            if stroke.id in self._strokes:
                raise _bad(f"stroke.id '{stroke.id}' is on the board already")
            if len(self._strokes) >= MAX_STROKES:
                raise CloudrecError(ErrorCode.RECORD_MAX, f"the board holds {MAX_STROKES} strokes")
            self._remember(("stroke", stroke.id))
            effect: dict[str, Any] = {"op": "stroke", "stroke": stroke.to_wire()}
        elif kind == "erase":
            stroke_id = op.get("id")
            removed = self._strokes.get(stroke_id) if isinstance(stroke_id, str) else None
            if removed is None:
                raise _bad(f"id '{stroke_id}' is no stroke on the board")
            self._remember(("erase", removed))
            effect = {"op": "erase", "id": stroke_id}
        elif kind == "clear":
            self._remember(("clear", tuple(self._strokes.values())))
            effect = {"op": "clear"}
        elif kind == "undo":
            if not self._undo:
                raise _bad("nothing to undo")
            done, payload = self._undo.pop()
            if done == "stroke":
                effect = {"op": "erase", "id": payload}
            elif done == "erase":
                effect = {"op": "stroke", "stroke": payload.to_wire()}
            else:
                effect = {"op": "restore", "strokes": [s.to_wire() for s in payload]}
        else:
            raise _bad("op must be stroke, erase, clear or undo")
        return self._effect({**effect, "version": self.version + 1})

    def replay(self, effect: dict[str, Any]) -> dict[str, Any]:
        """Follows a relayed effect (what apply() returns): how replicas keep up."""
        if not self._loaded:
            self._early.append(effect)
            return effect
        return self._effect(effect)

    def _effect(self, effect: dict[str, Any]) -> dict[str, Any]:
        kind = effect.get("op")
        if kind == "stroke":
            stroke = parse_stroke(effect.get("stroke"))
            self._strokes[stroke.id] = stroke
        elif kind == "erase":
            self._strokes.pop(str(effect.get("id")), None)
        elif kind == "clear":
            self._strokes.clear()
        elif kind == "restore":
            for stroke in map(parse_stroke, effect.get("strokes", [])):
                self._strokes[stroke.id] = stroke
        else:
            raise _bad("op must be stroke, erase, clear or restore")
        self.version = int(effect.get("version", self.version + 1))
        self._snapshot = None
        return effect

    def _remember(self, entry: tuple[str, Any]) -> None:
        self._undo.append(entry)
        del self._undo[:-MAX_UNDO]
