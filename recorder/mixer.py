"""One mixer: compose + mix + encode on its own worker thread, fed by the clocks.

The event loop only snapshots inputs and enqueues jobs; everything that costs
CPU (frame conversion, compositing, mixing, encoding, muxing) runs on the
worker, so the loop stays free for WebRTC.
"""

from __future__ import annotations

import errno
import logging
import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial

import av
import numpy as np

from cloudrec.contract import OutputInfo
from cloudrec.errors import ErrorCode
from cloudrec.sources import SoundId, SourceId
from cloudrec.whiteboard import BoardSnapshot
from cloudrec.wire import (
    Content,
    ContentType,
    KeepAspect,
    MixerCfg,
    MixerContents,
    OutputState,
    OutputType,
)
from compositor.compose import Compositor, VideoSource
from compositor.picture import Picture
from compositor.planes import I420, Yuv420
from recorder.audio import mix, to_frame
from recorder.outputs import Output
from recorder.tracks import FrameRef

log = logging.getLogger(__name__)

# Video jobs waiting beyond this are dropped (the worker repeats the previous
# canvas in their place, so the file keeps its rate); audio jobs never are, nor
# paused ticks (they cost nothing, and a repeat must never stand in for one).
MAX_PENDING_VIDEO_JOBS = 30
# Audio ticks handed to the worker at once. Each hand-off wakes the worker and
# runs the mix and the encoder's per-call path from a cold cache, so one job
# per 20 ms tick cost the worker several times what the work itself does
# (bench/README.md). The file's timeline does not move (pts come from the
# ticks); a live push's sound leaves up to 80 ms later.
AUDIO_TICKS_PER_JOB = 5
# What a live push shows while the recording is paused: viewers keep a stream
# that plays on (a hold would make players time out and reconnect), with
# nothing of the room in it.
SLATE_TEXT = "Recording paused"
SLATE_MARGIN = 16


@dataclass(frozen=True)
class VideoJob:
    """One tick of the mixer's clock; a paused one carries nothing of the room."""

    tick: int
    wallclock: float
    contents: MixerContents
    frames: dict[SourceId, FrameRef]
    board: BoardSnapshot
    pictures: Mapping[str, Picture]
    paused: bool = False


@dataclass(frozen=True)
class AudioJob:
    """Consecutive audio ticks of ``count`` samples each, from ``pts`` on: per
    tick, each participant's block (an absent one is silent in that tick). All
    of them paused, or none."""

    pts: int
    ticks: tuple[dict[SoundId, np.ndarray], ...]
    count: int
    paused: bool = False

    @property
    def samples(self) -> int:
        return len(self.ticks) * self.count


@dataclass
class MixerStats:
    frames_encoded: int = 0
    frames_dropped: int = 0
    frames_repeated: int = 0


def to_source(frame: av.VideoFrame) -> Yuv420:
    """A decoded input frame as the compositor takes it: its yuv420p planes (what
    decoders give; anything else, or an odd size, is converted first), read in
    place. The arrays keep the frame's buffers alive, and a decoder never writes
    to a frame it has handed out. to_ndarray() would copy the frame: 33 us for
    640x360, 4 ms a second for four such cameras at 30 fps."""
    if frame.format.name != "yuv420p" or frame.width % 2 or frame.height % 2:
        frame = frame.reformat(
            width=frame.width // 2 * 2, height=frame.height // 2 * 2, format="yuv420p"
        )
    y, u, v = (_plane(p) for p in frame.planes)
    return Yuv420(y, u, v)


def _plane(plane: av.video.plane.VideoPlane) -> np.ndarray:
    rows = np.frombuffer(memoryview(plane), np.uint8, plane.line_size * plane.height)
    return rows.reshape(plane.height, plane.line_size)[:, : plane.width]


def to_video_frame(canvas: I420, pts: int) -> av.VideoFrame:
    """A composed canvas as the encoder takes it (yuv420p, no conversion); a new
    frame each call, since encode() rewrites pts in place.

    The frame wraps the canvas's memory instead of copying it (a 1280x720 copy
    was 0.74 ms, 0.022 cores at 30 fps): the compositor composes each tick on
    a canvas of its own and nothing writes to one afterwards, and x264 copies
    what it keeps. Where the height is not a multiple of 4 a chroma plane
    does not end on a row of the canvas's array, which a wrapped frame cannot
    describe; those are copied."""
    if canvas.height % 4 == 0 and canvas.data.flags.c_contiguous:
        frame = av.VideoFrame.from_numpy_buffer(canvas.data, format="yuv420p")
    else:
        frame = av.VideoFrame.from_ndarray(canvas.data, format="yuv420p")
    frame.pts = pts
    return frame


@dataclass
class _Converted:
    """The compositor's image of the last frame seen per camid; a frame shown on
    several ticks is converted once."""

    frames: dict[SourceId, tuple[av.VideoFrame, Yuv420]] = field(default_factory=dict)

    def image(self, source: SourceId, frame: av.VideoFrame) -> Yuv420:
        cached = self.frames.get(source)
        if cached is not None and cached[0] is frame:
            return cached[1]
        image = to_source(frame)
        self.frames[source] = (frame, image)
        return image


_STOP = object()


class Mixer:
    def __init__(
        self,
        cfg: MixerCfg,
        contents: MixerContents,
        outputs: list[Output],
        on_output_change: Callable[[OutputInfo], None],
        on_failure: Callable[[], None] = lambda: None,
    ) -> None:
        """Both callbacks are called on the worker thread: ``on_failure`` once,
        if the worker itself fails (a bug), after its outputs are failed."""
        self.cfg = cfg
        self.video = cfg.video
        self.contents = contents
        self.pictures: Mapping[str, Picture] = {}
        self.outputs = outputs
        self.stats = MixerStats()
        self._on_output_change = on_output_change
        self._on_failure = on_failure
        self.failed = False
        self._queue: queue.Queue[object] = queue.Queue()
        self._pending_video = 0
        self._pending_lock = threading.Lock()
        self._compositor = (
            Compositor(self.video.width, self.video.height) if self.video is not None else None
        )
        self._converted = _Converted()
        self._last_tick = -1
        self._audio_origin: int | None = None
        self._audio_pending: list[dict[SoundId, np.ndarray]] = []
        self._audio_pending_pts = 0
        self._audio_pending_paused = False
        self._audio_count = 0
        # The files' own timelines leave out paused time; a live push's runs on.
        self._file_frames = 0
        self._paused_samples = 0
        self._slate: I420 | None = None
        self._last_canvas: I420 | None = None
        self.latest: I420 | None = None  # for the live preview; set by the worker
        self._thread = threading.Thread(target=self._run, name=f"mixer-{cfg.id}", daemon=True)

    # -- event-loop side ---------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def sources(self) -> set[SourceId]:
        return {c.source for c in self.contents.content if c.source is not None}

    @property
    def has_video(self) -> bool:
        return self.video is not None

    def submit_video(
        self,
        tick: int,
        wallclock: float,
        frames: dict[SourceId, FrameRef],
        board: BoardSnapshot,
        paused: bool = False,
    ) -> None:
        """``paused``: a tick of paused time, whose ``frames`` are none."""
        with self._pending_lock:
            if self._pending_video >= MAX_PENDING_VIDEO_JOBS and not paused:
                self.stats.frames_dropped += 1
                return
            self._pending_video += 1
        job = VideoJob(tick, wallclock, self.contents, frames, board, self.pictures, paused)
        self._queue.put(job)

    def submit_audio(
        self, pts: int, blocks: dict[SoundId, np.ndarray], count: int, paused: bool = False
    ) -> None:
        """``pts`` on the session's timeline; a mixer started later counts from
        its own first block, so its audio starts at zero with its video."""
        if not self.cfg.has_audio:
            return
        if self._audio_origin is None:
            self._audio_origin = pts
        if count != self._audio_count or paused != self._audio_pending_paused:
            self._flush_audio()
        if not self._audio_pending:
            self._audio_pending_pts, self._audio_count = pts - self._audio_origin, count
            self._audio_pending_paused = paused
        self._audio_pending.append({} if paused else blocks)
        if len(self._audio_pending) >= AUDIO_TICKS_PER_JOB:
            self._flush_audio()

    def _flush_audio(self) -> None:
        if self._audio_pending:
            ticks = tuple(self._audio_pending)
            job = AudioJob(
                self._audio_pending_pts, ticks, self._audio_count, self._audio_pending_paused
            )
            self._queue.put(job)
            self._audio_pending = []

    def finish(self) -> None:
        """Asks the worker to drain its queue, close the outputs and end; join() waits."""
        self._flush_audio()
        self._queue.put(_STOP)

    def join(self) -> None:
        self._thread.join()

    # -- worker side -------------------------------------------------------------

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is _STOP:
                break
            if isinstance(job, VideoJob):
                with self._pending_lock:
                    self._pending_video -= 1
            if self.failed:
                continue  # drained until told to stop, so finish() and join() hold
            try:
                if isinstance(job, VideoJob):
                    self._video(job)
                elif isinstance(job, AudioJob):
                    self._audio(job)
            except Exception:
                # Not the file system (_write handles that) but a bug: the outputs
                # end as they stand, playable, and the session hears of it.
                log.exception("mixer %s failed", self.cfg.id)
                self.failed = True
                for output in self.outputs:
                    if output.state in (OutputState.CREATED, OutputState.WRITING):
                        output.fail(int(ErrorCode.SERVER_EXCEPTION))
                self._on_failure()
        for output in self.outputs:
            if output.state in (OutputState.CREATED, OutputState.WRITING):
                try:
                    output.close()
                except (OSError, av.FFmpegError) as exc:
                    log.error("closing %s failed: %s", output.spec.filename, exc)
                    output.fail(_error_code(exc))
            self._on_output_change(output.info())

    def _video(self, job: VideoJob) -> None:
        if self._compositor is None:
            return
        # Ticks dropped under load (never paused ones) repeat the last canvas:
        # the rate stays constant.
        if self._last_canvas is not None:
            for tick in range(self._last_tick + 1, job.tick):
                self._encode(self._last_canvas, tick)
                self.stats.frames_repeated += 1
        self._last_tick = job.tick
        if job.paused:
            self._encode_slate(self._compositor, job)
            return
        sources = {
            source: VideoSource(
                self._converted.image(source, ref.frame) if ref.frame is not None else None,
                ref.label,
            )
            for source, ref in job.frames.items()
        }
        canvas = self._compositor.compose(
            job.contents.content, sources, job.wallclock, job.board, job.pictures
        )
        self._encode(canvas, job.tick)
        self._last_canvas = canvas
        self.latest = canvas

    def _encode(self, canvas: I420, tick: int) -> None:
        """A frame of the room: the files' next frame, a live push's at ``tick``."""
        for output in self._writable():
            self._send_video(output, canvas, tick if _live(output) else self._file_frames)
        self._file_frames += 1
        self.stats.frames_encoded += 1

    def _encode_slate(self, compositor: Compositor, job: VideoJob) -> None:
        """A paused tick: live pushes show the slate, files skip it."""
        live = [output for output in self._writable() if _live(output)]
        if not live:
            return
        if self._slate is None:
            text = Content(
                ContentType.TEXT, SLATE_MARGIN, SLATE_MARGIN, 0, 0, KeepAspect.KEEP,
                {"text": SLATE_TEXT},
            )  # fmt: skip
            self._slate = compositor.compose([text], {}, job.wallclock)
        for output in live:
            self._send_video(output, self._slate, job.tick)

    def _send_video(self, output: Output, canvas: I420, pts: int) -> None:
        before = output.state
        self._write(output, partial(output.write_video, to_video_frame(canvas, pts)))
        if output.state is not before:
            self._on_output_change(output.info())

    def _writable(self) -> list[Output]:
        return [o for o in self.outputs if o.state in (OutputState.CREATED, OutputState.WRITING)]

    def _audio(self, job: AudioJob) -> None:
        if job.paused:
            # Live pushes hear silence; the files' sound goes on from where it paused.
            self._paused_samples += job.samples
            samples = mix([], job.samples)
        else:
            users = self.contents.audio_users
            mixed = [mix(_heard(blocks, users), job.count) for blocks in job.ticks]
            samples = mixed[0] if len(mixed) == 1 else np.concatenate(mixed, axis=1)
        for output in self._writable():
            if _live(output):
                pts = job.pts
            elif job.paused:
                continue
            else:
                pts = job.pts - self._paused_samples
            self._write(output, partial(output.write_audio, to_frame(samples, pts)))

    def _write(self, output: Output, write: Callable[[], None]) -> None:
        try:
            write()
        except (OSError, av.FFmpegError) as exc:
            log.error("writing %s failed: %s", output.spec.filename, exc)
            output.fail(_error_code(exc))
            self._on_output_change(output.info())


def _live(output: Output) -> bool:
    return output.spec.type is OutputType.LIVE


def _heard(blocks: dict[SoundId, np.ndarray], users: frozenset[str] | None) -> list[np.ndarray]:
    """A user's microphone and shared file alike, where the mixer hears them."""
    return [b for sound, b in blocks.items() if users is None or sound.user in users]


def _error_code(exc: Exception) -> int:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return int(ErrorCode.RECORD_NO_DISK)
    return int(ErrorCode.FILE_ERR)
