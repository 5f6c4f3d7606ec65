"""The room's whiteboard: operations, replicas, and the board in a recording."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cloudrec.errors import CloudrecError
from cloudrec.whiteboard import MAX_BOARD_BYTES, MAX_POINTS, Board, BoardSnapshot, parse_stroke
from compositor.board import render_board
from signaling.server import RunningServer
from tests.helpers import EventLog, participant
from tests.media import decode, region_mean

DIAGONAL = {"id": "d", "color": "#000000", "width": 12, "points": [[0.1, 0.1], [0.9, 0.9]]}
RED_LINE = {"id": "r", "color": "#FF0000", "width": 16, "points": [[0.1, 0.8], [0.9, 0.8]]}


def test_operations_and_undo() -> None:
    board = Board()
    board.apply({"op": "stroke", "stroke": DIAGONAL})
    board.apply({"op": "stroke", "stroke": RED_LINE})
    assert [s.id for s in board.snapshot().strokes] == ["d", "r"]
    assert board.apply({"op": "erase", "id": "d"}) == {"op": "erase", "id": "d", "version": 3}
    board.apply({"op": "clear"})
    assert board.snapshot().strokes == ()
    assert board.apply({"op": "undo"})["op"] == "restore"
    assert [s.id for s in board.snapshot().strokes] == ["r"]
    assert board.apply({"op": "undo"})["op"] == "stroke"  # the erase undone
    assert board.apply({"op": "undo"})["op"] == "erase"  # the red stroke undone
    assert [s.id for s in board.snapshot().strokes] == ["d"]


@pytest.mark.parametrize(
    ("op", "field"),
    [
        ({"op": "stroke", "stroke": {**DIAGONAL, "color": "red"}}, "stroke.color"),
        ({"op": "stroke", "stroke": {**DIAGONAL, "points": [[2, 0]]}}, "stroke.points[0]"),
        (
            {"op": "stroke", "stroke": {**DIAGONAL, "points": [[0, 0]] * (MAX_POINTS + 1)}},
            "stroke.points",
        ),
        ({"op": "stroke", "stroke": {**DIAGONAL, "width": 0}}, "stroke.width"),
        ({"op": "erase", "id": "nope"}, "id"),
        ({"op": "undo"}, "undo"),
        ({"op": "paint"}, "op"),
    ],
)
def test_bad_operations(op: dict, field: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(CloudrecError) as caught:
        Board().apply(op)
    assert int(caught.value.code) == 5 and field in caught.value.message


def test_board_drawn_anti_aliased_along_the_stroke() -> None:
    image = render_board(BoardSnapshot(1, (parse_stroke(DIAGONAL),)), 320, 180).to_bgr()
    assert image[5, 300].min() > 240, "white elsewhere"
    for t in (0.2, 0.5, 0.8):
        assert image[int(t * 179), int(t * 319)].max() < 60, f"dark on the path at {t}"
    edge = image[90, 150:175].min(axis=1)
    assert any(60 < v < 200 for v in edge), "anti-aliased edge"


async def test_board_in_a_recording_started_late(server: RunningServer) -> None:
    async with (
        participant(server.base_url, "wb", "alice") as alice,
        participant(server.base_url, "wb", "bob") as bob,
    ):
        await alice.whiteboard({"op": "stroke", "stroke": DIAGONAL})
        log = EventLog()
        log.attach(alice)
        cfgs = [{"id": "1", "cfg": {"width": 640, "height": 360, "frameRate": 15}}]
        board = {"type": 6, "left": 0, "top": 0, "width": 640, "height": 360}
        await alice.start_svr_mixer(
            cfgs,
            [{"id": "1", "content": [board]}],
            [{"id": "1", "output": [{"type": 0, "filename": "/wb/b.mp4"}]}],
        )
        await log.wait_duration(1000)
        await bob.whiteboard({"op": "stroke", "stroke": RED_LINE})
        red_at = await log.wait_duration(2000)
        await alice.whiteboard({"op": "undo"})
        await log.wait_duration(red_at.data["duration"] + 1500)
        await alice.stop_svr_mixer()
        await log.wait_state(0)
        assert alice.board.snapshot() == bob.board.snapshot(), "replicas agree"

    media = decode(server.config.recordings_dir / "wb" / "b.mp4")
    start = media.frame_at(0.2)
    assert region_mean(start, 560, 10, 60, 40).min() > 230, "a white board"
    assert start[int(0.5 * 359), int(0.5 * 639)].max() < 80, "the stroke drawn before the start"
    red = media.frame_at(red_at.data["duration"] / 1000)
    assert red[int(0.8 * 359), 320][0] > 180 and red[int(0.8 * 359), 320][1] < 90, "red stroke"
    end = media.frame_at(media.duration - 0.2)
    assert end[int(0.8 * 359), 320].min() > 200, "undone"
    assert np.any(end.max(axis=2) < 80), "the diagonal stays"


def test_a_replica_keeps_effects_heard_before_its_state() -> None:
    server, replica = Board(), Board()
    server.apply({"op": "stroke", "stroke": DIAGONAL})
    state = server.state()  # what the join reply carries
    early = server.apply({"op": "stroke", "stroke": RED_LINE})
    replica.replay(early)  # relayed, and handled before the join reply
    replica.replay({"op": "stroke", "stroke": DIAGONAL, "version": 1})  # older than the state
    replica.load(state)
    assert replica.snapshot() == server.snapshot()


def _long_stroke(n: int, points: int = 1000) -> dict:  # type: ignore[type-arg]
    return {
        "id": f"s{n}",
        "color": "#000000",
        "width": 4,
        "points": [[round(i / points, 9), 0.123456789] for i in range(points)],
    }


def test_state_and_restores_come_in_parts_that_fit() -> None:
    limit = 8 * 1024
    board = Board(limit)
    for n in range(12):  # ~24 KB a stroke is too much for 8 KiB: smaller ones
        board.apply({"op": "stroke", "stroke": _long_stroke(n, 150)})
    head, rest = board.state_parts(limit // 2)
    parts = [head["strokes"], *(r["strokes"] for r in rest)]
    assert len(parts) > 2 and all(len(json.dumps(p).encode()) <= limit for p in parts)
    assert sorted(s["id"] for p in parts for s in p) == sorted(f"s{n}" for n in range(12))
    assert all(r["op"] == "restore" and r["version"] == board.version for r in rest)
    replica = Board()
    for effect in rest:  # heard before the reply: kept, then applied
        replica.replay(effect)
    replica.load(head)
    assert replica.snapshot() == board.snapshot()

    board.apply({"op": "clear"})
    restores = board.parts(board.apply({"op": "undo"}))
    assert len(restores) > 1 and all(len(json.dumps(r).encode()) <= limit for r in restores)
    for effect in restores:
        replica.replay(effect)
    assert [s.id for s in replica.snapshot().strokes] == [s.id for s in board.snapshot().strokes]


def test_a_board_is_bounded_in_bytes() -> None:
    board = Board()
    with pytest.raises(CloudrecError) as caught:
        Board(4096).apply({"op": "stroke", "stroke": _long_stroke(0)})
    assert int(caught.value.code) == 5 and "more than one message" in caught.value.message
    full = 0
    with pytest.raises(CloudrecError) as caught:
        for n in range(MAX_BOARD_BYTES // 20_000 + 10):
            board.apply({"op": "stroke", "stroke": _long_stroke(n)})
            full = n + 1
    assert int(caught.value.code) == 901 and board.size <= MAX_BOARD_BYTES
    assert len(board.snapshot().strokes) == full


def test_undo_history_is_bounded_in_bytes() -> None:
    board = Board()
    n = 0
    while board.size < MAX_BOARD_BYTES // 2:
        board.apply({"op": "stroke", "stroke": _long_stroke(n)})
        n += 1
    for _ in range(4):  # each clear remembers half the budget: the oldest go
        board.apply({"op": "clear"})
        board.apply({"op": "undo"})
        board.apply({"op": "clear"})
    assert board._history_bytes <= MAX_BOARD_BYTES


@pytest.mark.parametrize("value", [10**400, -(10**400), 1e308])
def test_huge_coordinates_are_refused_not_overflowed(value: float) -> None:
    with pytest.raises(CloudrecError) as caught:
        parse_stroke({"id": "x", "points": [[value, 0.5]]})
    assert "stroke.points[0]" in caught.value.message
