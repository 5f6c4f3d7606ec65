"""Live push (MIXOT_LIVE): the mix as FLV over RTMP, on a thread of its own.

The mixer hands frames over a bounded queue and never waits: a slow or dead
server costs this output frames, not the recording. A broken connection is
retried with backoff up to errRetryTimes; after that the output ends with
FILE_ERR in its output info, and the other outputs go on.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable

import av
import av.container

from cloudrec.config import DEFAULT_X264_PRESET
from cloudrec.contract import OutputInfo
from cloudrec.errors import ErrorCode
from cloudrec.wire import AV_AUDIO, OutputSpec, OutputState, VideoCfg
from recorder.outputs import add_audio, add_h264

log = logging.getLogger(__name__)

QUEUE_FRAMES = 90  # a few seconds of video; beyond, frames are dropped
RETRY_BACKOFF_S = (1.0, 2.0, 4.0, 8.0)
RW_TIMEOUT_US = 5_000_000  # a push that stalls this long counts as broken
LIVE_GOP_SECONDS = 4  # SPEC: gop defaults to frameRate x 4 for live
_STOP = object()


class LiveOutput:
    def __init__(
        self,
        mixer_id: str,
        spec: OutputSpec,
        video: VideoCfg | None,
        on_change: Callable[[OutputInfo], None],
        x264_preset: str = DEFAULT_X264_PRESET,
    ) -> None:
        if video is None:
            raise ValueError("a live push needs video")
        self.mixer_id = mixer_id
        self.spec = spec
        self.video_cfg = video
        self._x264_preset = x264_preset
        self.state = OutputState.CREATED
        self.err_code = 0
        self.frames_dropped = 0
        self._on_change = on_change
        self._sent_bytes = 0
        self._video_frames = 0
        self._queue: queue.Queue[object] = queue.Queue(maxsize=QUEUE_FRAMES * 4)
        self._thread = threading.Thread(target=self._run, name=f"live-{mixer_id}", daemon=True)
        self._thread.start()

    # -- the mixer's side: never blocks ---------------------------------------------

    def write_video(self, frame: av.VideoFrame) -> None:
        self._offer(frame)

    def write_audio(self, frame: av.AudioFrame) -> None:
        self._offer(frame)

    def _offer(self, item: av.VideoFrame | av.AudioFrame) -> None:
        if self.state in (OutputState.CLOSED, OutputState.ERR):
            return
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.frames_dropped += 1

    def close(self) -> None:
        """Ends the push after what is queued; waits for the thread."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()
        if self.state is not OutputState.ERR:
            self.state = OutputState.CLOSED

    def fail(self, code: int) -> None:
        self.err_code = code
        self.state = OutputState.ERR
        self._queue.put(_STOP)

    @property
    def duration_ms(self) -> int:
        return self._video_frames * 1000 // self.video_cfg.frame_rate

    def info(self) -> OutputInfo:
        return OutputInfo(
            self.mixer_id,
            self.spec.filename,
            self.state,
            self.duration_ms,
            self._sent_bytes,
            self.err_code,
        )

    # -- the push thread ----------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        while self.state not in (OutputState.CLOSED, OutputState.ERR):
            try:
                stopped = self._push()
                if stopped:
                    return
                failures = 0  # _push returned after a clean connection dropped
            except (OSError, av.FFmpegError) as exc:
                failures += 1
                log.warning(
                    "live push to %s failed (%d of %d): %s",
                    self.spec.filename,
                    failures,
                    self.spec.retries + 1,
                    exc,
                )
                if failures > self.spec.retries:
                    self.err_code = int(ErrorCode.FILE_ERR)
                    self.state = OutputState.ERR
                    self._on_change(self.info())
                    return
                if self._wait(RETRY_BACKOFF_S[min(failures - 1, len(RETRY_BACKOFF_S) - 1)]):
                    return

    def _wait(self, seconds: float) -> bool:
        """Drains the queue while waiting (those frames cannot be sent); True on stop."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                item = self._queue.get(timeout=left)
            except queue.Empty:
                return False
            if item is _STOP:
                return True
            self.frames_dropped += 1
        return False

    def _push(self) -> bool:
        """One connection: True when told to stop, an exception when it broke."""
        video = self.video_cfg
        container: av.container.OutputContainer = av.open(
            self.spec.filename,
            "w",
            format="flv",
            options={"rw_timeout": str(RW_TIMEOUT_US), "flvflags": "no_duration_filesize"},
        )
        try:
            vstream = add_h264(
                container, video, video.frame_rate * LIVE_GOP_SECONDS, self._x264_preset
            )
            astream = add_audio(container, AV_AUDIO)
            first_video: int | None = None
            first_audio: int | None = None
            while True:
                item = self._queue.get()
                if item is _STOP:
                    for stream in (vstream, astream):
                        self._send(container, stream.encode(None))
                    return True
                # Each connection starts its timeline at zero.
                if isinstance(item, av.VideoFrame):
                    first_video = item.pts or 0 if first_video is None else first_video
                    item.pts = (item.pts or 0) - first_video
                    self._send(container, vstream.encode(item))
                    self._video_frames += 1
                    if self.state is not OutputState.WRITING:
                        self.state = OutputState.WRITING
                        self._on_change(self.info())
                elif isinstance(item, av.AudioFrame):
                    first_audio = item.pts or 0 if first_audio is None else first_audio
                    item.pts = (item.pts or 0) - first_audio
                    self._send(container, astream.encode(item))
        finally:
            with contextlib.suppress(OSError, av.FFmpegError):  # gone either way
                container.close()

    def _send(self, container: av.container.OutputContainer, packets: list[av.Packet]) -> None:  # type: ignore[type-arg]
        container.mux(packets)
        self._sent_bytes += sum(p.size for p in packets)
