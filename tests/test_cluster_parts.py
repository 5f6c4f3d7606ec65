"""The cluster's pure parts: the cost model against the figures it was fitted
to, CPU readings from /proc text, part names, Redis URLs in messages, and an
index made before parts existed."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from cloudrec.cluster.cost import job_cores
from cloudrec.cluster.cpu import cpu_seconds_of_stat
from cloudrec.storage.index import RecordingIndex
from cloudrec.wire import (
    Limits,
    OutputType,
    first_part_name,
    parse_start,
    part_name,
    request_for_part,
)
from signaling.cli import main
from signaling.cluster_launcher import redacted

# bench/README.md, this round's column: (parties, canvas, cores measured).
BENCH = [
    (2, (640, 360, 15), 0.134),
    (4, (640, 360, 15), 0.137),
    (9, (640, 360, 15), 0.167),
    (2, (1280, 720, 30), 0.343),
    (4, (1280, 720, 30), 0.450),
    (9, (1280, 720, 30), 0.481),
]
# The fit's worst case over those six (docs/deploy.md states it).
FIT_TOLERANCE_CORES = 0.045


def _request(width: int, height: int, fps: int, outputs: int = 1, individual: bool = False):  # type: ignore[no-untyped-def]
    cfg = {"width": width, "height": height, "frameRate": fps, "bitRate": 1_000_000}
    if individual:
        cfg["mode"] = 1
    files = [
        {"type": 0, "filename": f"/c/{n}{'/{userid}' if individual else ''}.mp4"}
        for n in range(outputs)
    ]
    return parse_start(
        [{"id": "1", "streamTypes": 3, "cfg": cfg}],
        [{"id": "1", "content": []}],
        [{"id": "1", "output": files}],
        Limits(),
    )


@pytest.mark.parametrize(("parties", "canvas", "measured"), BENCH)
def test_the_cost_model_is_within_its_stated_error_of_the_bench(
    parties: int, canvas: tuple[int, int, int], measured: float
) -> None:
    assert abs(job_cores(_request(*canvas), parties) - measured) <= FIT_TOLERANCE_CORES


def test_cost_grows_with_what_is_recorded_and_scales() -> None:
    small = job_cores(_request(640, 360, 15), 4)
    assert job_cores(_request(1280, 720, 30), 4) > small
    assert job_cores(_request(640, 360, 15), 9) > small
    assert job_cores(_request(640, 360, 15, outputs=3), 4) > small
    assert job_cores(_request(640, 360, 15), 4, scale=2.0) == pytest.approx(2 * small, abs=1e-3)
    assert job_cores(_request(640, 360, 15), 0) == job_cores(_request(640, 360, 15), 1)


def test_cpu_seconds_are_read_past_a_name_with_spaces_and_parentheses() -> None:
    fields = ["S"] + ["0"] * 10 + ["250", "150"] + ["0"] * 30  # utime, stime: fields 14, 15
    stat = "4242 (python (bot) x) " + " ".join(fields)
    assert cpu_seconds_of_stat(stat) == pytest.approx(400 / os.sysconf("SC_CLK_TCK"))


def test_part_names_go_before_the_extension_and_back() -> None:
    assert part_name("/d/demo.mp4", 1) == "/d/demo.mp4"
    assert part_name("/d/demo.mp4", 2) == "/d/demo.part2.mp4"
    assert part_name("/d.x/noext", 3) == "/d.x/noext.part3"
    assert part_name("/d/{userid}.m3u8", 2) == "/d/{userid}.part2.m3u8"
    assert first_part_name("/d/demo.part12.mp4") == "/d/demo.mp4"
    assert first_part_name("/d/demo.mp4") == "/d/demo.mp4"


def test_a_part_renames_files_and_keeps_live_pushes() -> None:
    request = parse_start(
        [{"id": "1", "streamTypes": 3, "cfg": {"width": 640, "height": 360, "frameRate": 15}}],
        [{"id": "1", "content": []}],
        [
            {
                "id": "1",
                "output": [
                    {"type": 0, "filename": "/r/a.mp4"},
                    {"type": 1, "liveUrl": "rtmp://127.0.0.1/live/x"},
                ],
            }
        ],
        Limits(),
    )
    specs = request_for_part(request, 2).outputs[0].output
    assert [(s.type, s.filename) for s in specs] == [
        (OutputType.FILE, "/r/a.part2.mp4"),
        (OutputType.LIVE, "rtmp://127.0.0.1/live/x"),
    ]


def test_redis_urls_lose_their_password_in_messages() -> None:
    assert redacted("redis://:hunter2@10.0.0.5:6379/0") == "redis://:***@10.0.0.5:6379/0"
    assert redacted("redis://cloudrec:hunter2@db/1") == "redis://cloudrec:***@db/1"
    assert redacted("unix:///run/redis.sock") == "unix:///run/redis.sock"


def test_an_index_made_before_parts_is_brought_up_to_date(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        """CREATE TABLE recordings (
            id INTEGER PRIMARY KEY AUTOINCREMENT, room TEXT NOT NULL, mixer_id TEXT NOT NULL,
            file_name TEXT NOT NULL UNIQUE, path TEXT NOT NULL, container TEXT NOT NULL,
            video_codec TEXT, audio_codec TEXT, width INTEGER, height INTEGER, fps REAL,
            size INTEGER NOT NULL DEFAULT 0, duration_ms INTEGER NOT NULL DEFAULT 0,
            created_at REAL NOT NULL, finished_at REAL, state TEXT NOT NULL,
            error INTEGER NOT NULL DEFAULT 0);
        INSERT INTO recordings (room, mixer_id, file_name, path, container, created_at, state)
            VALUES ('r', '1', '/old.mp4', '/x/old.mp4', 'mp4', 1.0, 'finished');"""
    )
    db.close()
    index = RecordingIndex(path)
    try:
        (old,) = index.all()
        assert (old.session, old.part, old.object_key) == ("", 1, "")
        assert index.parts(old) == [old]
        assert old.to_json()["stored"] is False
    finally:
        index.close()


def test_a_worker_without_the_clusters_credentials_says_so_in_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CLOUDREC_API_KEY", raising=False)
    monkeypatch.delenv("CLOUDREC_API_SECRET", raising=False)
    assert main(["worker", "--redis", "unix:///nowhere/redis.sock"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "cloudrec: a worker needs CLOUDREC_API_KEY and CLOUDREC_API_SECRET, the control node's"
    ]
    assert main(["worker"]) == 1
    assert "a worker needs --redis" in capsys.readouterr().err
