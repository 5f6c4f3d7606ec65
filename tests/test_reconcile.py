"""At start-up the index and the recordings directory are made to agree."""

from __future__ import annotations

import shutil
from pathlib import Path

import av
import numpy as np

from cloudrec.storage.index import RecordingIndex
from cloudrec.storage.paths import reserve
from cloudrec.wire import AV_AUDIO, OutputSpec, OutputType, VideoCfg
from recorder.audio import TICK_SAMPLES, to_frame
from recorder.outputs import FileOutput
from tests.conftest import ServerFactory
from tests.media import decode

FPS = 15
# A crash loses at most the fragment being written (outputs.FRAGMENT_MS) plus one frame.
CRASH_LOSS_MS = 600


def _write(path: Path, seconds: float, close: bool) -> FileOutput:
    reserve(path, path.name)
    out = FileOutput(
        "1",
        OutputSpec(OutputType.FILE, "/" + path.name, path.suffix.lstrip(".")),
        path,
        VideoCfg(320, 240, FPS, 300_000, 26, 30),
        AV_AUDIO,
    )
    for n in range(int(seconds * FPS)):
        frame = av.VideoFrame.from_ndarray(
            np.full((240, 320, 3), n % 200, np.uint8), format="bgr24"
        )
        frame.pts = n
        out.write_video(frame)
        for k in range(n * 3200 // TICK_SAMPLES, (n + 1) * 3200 // TICK_SAMPLES):
            out.write_audio(to_frame(np.zeros((2, TICK_SAMPLES), np.float32), k * TICK_SAMPLES))
    if close:
        out.close()
    return out


async def test_start_up_reconciliation(make_server: ServerFactory, tmp_path: Path) -> None:
    recordings = tmp_path / "recordings"
    _write(recordings / "manual" / "hand.mp4", 2.0, close=True)
    _write(recordings / "manual" / "stream.m3u8", 4.0, close=True)
    (recordings / "manual" / "junk.mp4").write_bytes(b"not a video")
    (recordings / "manual" / "notes.txt").write_text("not media")

    # A recorder killed mid-file: the bytes on disk while its writer is still open.
    index = RecordingIndex(tmp_path / "recordings.sqlite3")
    crashed = recordings / "2026-11-25" / "crashed.mp4"
    writer = _write(tmp_path / "live.mp4", 3.0, close=False)
    crashed.parent.mkdir(parents=True)
    shutil.copy(writer.path, crashed)
    # One killed while writing a fragment header: unreadable as it is.
    whole = writer.path.read_bytes()
    last_moof = whole.rindex(b"moof") - 4
    cut = recordings / "2026-11-25" / "cut.mp4"
    cut.write_bytes(whole[: last_moof + 20])
    for name, path in (
        ("/2026-11-25/crashed.mp4", crashed),
        ("/2026-11-25/cut.mp4", cut),
        ("/gone/away.mp4", recordings / "gone" / "away.mp4"),
    ):
        index.add(
            room="r",
            mixer_id="1",
            file_name=name,
            path=path,
            container="mp4",
            video_codec="h264",
            audio_codec="aac",
            width=320,
            height=240,
            fps=15.0,
        )
    index.close()

    server = await make_server()
    rows = {r.file_name: r for r in server.recordings.index.all()}
    assert set(rows) == {
        "/manual/hand.mp4",
        "/manual/stream.m3u8",
        "/2026-11-25/crashed.mp4",
        "/2026-11-25/cut.mp4",
        "/gone/away.mp4",
    }, "a playlist's segments are not recordings of their own"
    assert rows["/manual/stream.m3u8"].video_codec == "h264"

    hand = rows["/manual/hand.mp4"]
    assert (hand.state, hand.video_codec, hand.audio_codec) == ("imported", "h264", "aac")
    assert (hand.width, hand.height) == (320, 240) and abs(hand.duration_ms - 2000) <= 100
    assert rows["/gone/away.mp4"].state == "missing"

    crash = rows["/2026-11-25/crashed.mp4"]
    assert crash.state == "interrupted" and crash.size == crashed.stat().st_size
    assert 3000 - CRASH_LOSS_MS <= crash.duration_ms <= 3000
    media = decode(crashed)
    assert abs(len(media.frames) * 1000 / FPS - crash.duration_ms) <= 1000 / FPS + 1

    # Cut back to its last whole fragment, it plays that far.
    trimmed = rows["/2026-11-25/cut.mp4"]
    assert trimmed.state == "interrupted" and cut.stat().st_size == last_moof
    assert trimmed.size == last_moof and trimmed.duration_ms > 0
    assert len(decode(cut).frames) * 1000 / FPS >= trimmed.duration_ms - 1000 / FPS
