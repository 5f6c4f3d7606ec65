"""A snapshot output: a JPEG of the composite every ``interval`` seconds of
recording. Each picture is a file of its own in the output's folder
(``.snap.jpg.segments/00001.jpg``, ...), and ``snap.jpg`` itself is always the
latest, so a page can show the room as it is recorded."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import av
import cv2

from cloudrec.contract import OutputInfo
from cloudrec.storage.paths import SNAPSHOT_PATTERN, segment_dir, segments
from cloudrec.wire import OutputSpec, OutputState, VideoCfg

# Photos of meetings, not archives: a fifth of the size of quality 95, no
# visible loss on faces and text at recording sizes.
JPEG_QUALITY = 85


class SnapshotOutput:
    """Not thread-safe; one writer thread (the mixer's)."""

    def __init__(self, mixer_id: str, spec: OutputSpec, path: Path, video: VideoCfg) -> None:
        self.mixer_id = mixer_id
        self.spec = spec
        self.path = path
        self.state = OutputState.CREATED
        self.err_code = 0
        self._every = spec.interval * video.frame_rate  # frames between pictures
        self._frame_rate = video.frame_rate
        self._frames = 0
        self._taken = 0

    def write_video(self, frame: av.VideoFrame) -> None:
        """``frame.pts`` is the file's frame; a picture at each whole interval."""
        pts = frame.pts or 0
        self._frames = max(self._frames, pts + 1)
        self.state = OutputState.WRITING
        if pts == 0 or pts % self._every:
            return
        image = cv2.cvtColor(frame.to_ndarray(format="yuv420p"), cv2.COLOR_YUV2BGR_I420)
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise OSError(f"{self.spec.filename}: the picture could not be encoded")
        self._taken += 1
        picture = segment_dir(self.path) / (SNAPSHOT_PATTERN % self._taken)
        _write_new(picture, jpeg.tobytes())
        # The latest, replaced whole: a reader never sees half a picture.
        latest = picture.with_name(f".{picture.name}.latest")
        _write_new(latest, jpeg.tobytes())
        os.replace(latest, self.path)

    def write_audio(self, frame: av.AudioFrame) -> None:
        """Pictures only."""

    def close(self) -> None:
        if self.state not in (OutputState.CLOSED, OutputState.ERR):
            self.state = OutputState.CLOSED

    def fail(self, code: int) -> None:
        self.err_code = code
        self.state = OutputState.ERR

    def info(self) -> OutputInfo:
        size = 0
        for file in segments(self.path):
            with contextlib.suppress(OSError):
                size += file.stat().st_size
        duration_ms = self._frames * 1000 // self._frame_rate
        return OutputInfo(
            self.mixer_id, self.spec.filename, self.state, duration_ms, size, self.err_code
        )


def _write_new(path: Path, data: bytes) -> None:
    """A file of our own: never through a link, never over another's."""
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
