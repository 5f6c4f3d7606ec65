"""A running svrMixer session inside the bot: its mixers, clocks and outputs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from fractions import Fraction
from pathlib import Path

from cloudrec.errors import CloudrecError, ErrorCode
from cloudrec.whiteboard import Board
from cloudrec.wire import MixerContents, OutputState, OutputType, StartRequest, contents_for
from compositor.picture import Picture
from recorder.audio import TICK_MS, TICK_SAMPLES, AudioBuffer
from recorder.clock import ClockStats, ticks
from recorder.live import LiveOutput
from recorder.mixer import Mixer
from recorder.outputs import FileOutput, Output, OutputInfo
from recorder.tracks import TrackRegistry
from storage.paths import check_free_disk, recording_path, reserve

log = logging.getLogger(__name__)

INFO_PERIOD_S = 1.0
AUDIO_PERIOD = Fraction(TICK_MS, 1000)


class RecordingSession:
    def __init__(
        self,
        request: StartRequest,
        registry: TrackRegistry,
        audio: dict[str, AudioBuffer],
        emit: Callable[[OutputInfo], None],
        on_limit: Callable[[ErrorCode], None],
        max_seconds: float,
        board: Board,
        on_stats: Callable[[dict[str, int]], None] = lambda _stats: None,
    ) -> None:
        self.request = request
        self._board = board
        self._on_stats = on_stats
        self._registry = registry
        self._audio = audio
        self._emit = emit
        self._on_limit = on_limit
        self._max_seconds = max_seconds
        self.mixers: list[Mixer] = []
        self.video_clock = ClockStats()
        self.audio_clock = ClockStats()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = False

    def open(self, recordings_dir: Path, min_free_mb: int) -> None:
        """Creates every output file; on any failure none is left behind."""
        check_free_disk(recordings_dir, min_free_mb)
        loop = asyncio.get_running_loop()

        def from_worker(info: OutputInfo) -> None:
            loop.call_soon_threadsafe(self._emit, info)

        created: list[Output] = []
        try:
            for cfg in self.request.cfgs:
                outputs: list[Output] = []
                specs = next(o for o in self.request.outputs if o.id == cfg.id).output
                for spec in specs:
                    if spec.type is OutputType.LIVE:
                        live = LiveOutput(cfg.id, spec, cfg.video, from_worker)
                        created.append(live)
                        outputs.append(live)
                        continue
                    path = recording_path(recordings_dir, spec.filename)
                    reserve(path, spec.filename)
                    try:
                        audio = cfg.audio if cfg.has_audio else None
                        output = FileOutput(cfg.id, spec, path, cfg.video, audio)
                    except Exception:
                        path.unlink(missing_ok=True)
                        raise
                    created.append(output)
                    outputs.append(output)
                contents = contents_for(self.request.contents, cfg.id)
                self.mixers.append(Mixer(cfg, contents, outputs, from_worker))
        except Exception as exc:
            for made in created:
                made.fail(0)
                if isinstance(made, FileOutput):
                    made.path.unlink(missing_ok=True)
            self.mixers.clear()
            if isinstance(exc, CloudrecError):
                raise
            raise CloudrecError(ErrorCode.FILE_ERR, f"outputs cannot be opened: {exc}") from exc
        for mixer in self.mixers:
            for opened in mixer.outputs:
                self._emit(opened.info())

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        start, wall_start = loop.time(), time.time()
        for mixer in self.mixers:
            mixer.start()
            if mixer.video is not None:
                clock = self._video_clock(mixer, mixer.video.frame_rate, start, wall_start)
                self._tasks.append(asyncio.create_task(clock))
        self._tasks.append(asyncio.create_task(self._audio_clock(start)))
        self._tasks.append(asyncio.create_task(self._report(start)))

    def update(self, contents: tuple[MixerContents, ...], pictures: Mapping[str, Picture]) -> None:
        """Whole replacement: a mixer left out of ``contents`` shows an empty canvas."""
        for mixer in self.mixers:
            mixer.pictures = pictures
            mixer.contents = contents_for(contents, mixer.cfg.id)

    async def stop(self) -> list[OutputInfo]:
        """Stops the clocks, drains the workers and finalises every output; idempotent."""
        if not self._stopped:
            self._stopped = True
            for task in self._tasks:
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            for mixer in self.mixers:
                mixer.finish()
            await asyncio.gather(*(asyncio.to_thread(m.join) for m in self.mixers))
        return [o.info() for m in self.mixers for o in m.outputs]

    def stats(self) -> dict[str, int]:
        """Counters an operator watches: a late tick or a dropped frame means the
        machine is short of CPU for what it records."""
        return {
            "videoTicks": self.video_clock.ticks,
            "lateVideoTicks": self.video_clock.late_ticks,
            "lateAudioTicks": self.audio_clock.late_ticks,
            "framesEncoded": sum(m.stats.frames_encoded for m in self.mixers),
            "framesDropped": sum(m.stats.frames_dropped for m in self.mixers),
            "framesRepeated": sum(m.stats.frames_repeated for m in self.mixers),
            "audioUnderruns": sum(b.underruns for b in self._audio.values()),
        }

    async def _video_clock(
        self, mixer: Mixer, frame_rate: int, start: float, wall_start: float
    ) -> None:
        loop = asyncio.get_running_loop()
        period = Fraction(1, frame_rate)
        async for tick in ticks(start, period, self.video_clock, loop):
            frames = self._registry.snapshot(mixer.sources(), loop.time())
            # The tick's scheduled wall time, not when it ran: a late tick must not
            # put the timestamp overlay out of step with the file's timeline.
            board = self._board.snapshot()
            mixer.submit_video(tick, wall_start + float(tick * period), frames, board)

    async def _audio_clock(self, start: float) -> None:
        loop = asyncio.get_running_loop()
        async for tick in ticks(start, AUDIO_PERIOD, self.audio_clock, loop):
            blocks = {}
            for user, buffer in list(self._audio.items()):
                block = buffer.pull(TICK_SAMPLES)
                if block is not None:
                    blocks[user] = block
            for mixer in self.mixers:
                mixer.submit_audio(tick * TICK_SAMPLES, blocks, TICK_SAMPLES)

    async def _report(self, start: float) -> None:
        loop = asyncio.get_running_loop()
        limited = False
        while True:
            await asyncio.sleep(INFO_PERIOD_S)
            for mixer in self.mixers:
                for output in mixer.outputs:
                    if output.state is OutputState.WRITING:
                        self._emit(output.info())
            self._on_stats(self.stats())
            if not limited and loop.time() - start >= self._max_seconds:
                limited = True
                self._on_limit(ErrorCode.RECORD_MAX)
