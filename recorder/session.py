"""A running svrMixer session inside the bot: its mixers, clocks and outputs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from pathlib import Path

from cloudrec.config import DEFAULT_X264_PRESET, Config
from cloudrec.contract import MixerStats, OutputInfo
from cloudrec.errors import CloudrecError, ErrorCode
from cloudrec.sources import SoundId, SourceId
from cloudrec.storage.paths import check_free_disk, recording_path, remove_recording_files, reserve
from cloudrec.whiteboard import Board
from cloudrec.wire import (
    SNAPSHOT_CONTAINER,
    Content,
    ContentType,
    KeepAspect,
    MixerCfg,
    MixerContents,
    OutputSpec,
    OutputState,
    OutputType,
    StartRequest,
    contents_for,
    individual_spec,
)
from compositor.picture import Picture
from compositor.planes import I420
from recorder.audio import SAMPLE_RATE, TICK_MS, TICK_SAMPLES, AudioStream
from recorder.clock import ClockStats, ticks
from recorder.live import LiveOutput
from recorder.mixer import Mixer
from recorder.outputs import FileOutput, Output
from recorder.pauses import Pauses, common_grid
from recorder.snapshots import SnapshotOutput
from recorder.split import SplitFile
from recorder.tiles import TileMeter
from recorder.tracks import TrackRegistry

log = logging.getLogger(__name__)

INFO_PERIOD_S = 1.0
FOLLOW_PERIOD_S = 0.5  # how soon a mode-1 recording notices a microphone-only participant
AUDIO_PERIOD = Fraction(TICK_MS, 1000)
AUDIO_TICK_S = float(AUDIO_PERIOD)


class RecordingSession:
    def __init__(
        self,
        request: StartRequest,
        registry: TrackRegistry,
        sounds: Callable[[], Mapping[SoundId, AudioStream]],
        emit: Callable[[OutputInfo], None],
        on_end: Callable[[ErrorCode], None],
        max_seconds: float,
        board: Board,
        on_stats: Callable[[MixerStats], None] = lambda _stats: None,
        x264_preset: str = DEFAULT_X264_PRESET,
    ) -> None:
        self.request = request
        self._x264_preset = x264_preset
        self._board = board
        self._on_stats = on_stats
        self._registry = registry
        self._sounds = sounds  # every sound received now, asked each audio tick
        self._emit = emit
        self._on_end = on_end
        self._max_seconds = max_seconds
        self.mixers: list[Mixer] = []
        self.video_clock = ClockStats()
        self.audio_clock = ClockStats()
        self._tasks: list[asyncio.Task[None]] = []
        self._clocks: dict[Mixer, asyncio.Task[None]] = {}
        self._tile_meters: dict[Mixer, TileMeter] = {}
        self._recordings_dir = Path()
        self._from_worker: Callable[[OutputInfo], None] = emit
        self._failed_in_worker: Callable[[], None] = lambda: None
        self._stopped = False
        # On the output timeline: media is played the playout delay after it
        # was captured, so a pause covers what is captured from the call on.
        rates = [c.video.frame_rate for c in request.cfgs if c.video is not None]
        self.pauses = Pauses(registry.playout.delay, common_grid(rates, AUDIO_PERIOD))

    @classmethod
    def begin(
        cls,
        request: StartRequest,
        pictures: Mapping[str, Picture],
        config: Config,
        registry: TrackRegistry,
        sounds: Callable[[], Mapping[SoundId, AudioStream]],
        emit: Callable[[OutputInfo], None],
        on_end: Callable[[ErrorCode], None],
        board: Board,
        on_stats: Callable[[MixerStats], None] = lambda _stats: None,
        paused: bool = False,
    ) -> RecordingSession:
        """A session recording ``request``: its outputs opened (none left behind
        on failure), the layouts set, the clocks running; ``paused``: from
        their first tick."""
        session = cls(
            request,
            registry,
            sounds,
            emit,
            on_end,
            config.max_recording_seconds,
            board,
            on_stats=on_stats,
            x264_preset=config.x264_preset,
        )
        session._open(config.recordings_dir, config.min_free_disk_mb)
        session.update(request.contents, pictures)
        session._start(paused)
        return session

    def _open(self, recordings_dir: Path, min_free_mb: int) -> None:
        """Creates every output (a mode-1 mixer's come as participants appear);
        on any failure none is left behind."""
        check_free_disk(recordings_dir, min_free_mb)
        self._recordings_dir = recordings_dir
        loop = asyncio.get_running_loop()

        def from_worker(info: OutputInfo) -> None:
            loop.call_soon_threadsafe(self._emit, info)

        def failed_in_worker() -> None:
            loop.call_soon_threadsafe(self._on_end, ErrorCode.SERVER_EXCEPTION)

        self._from_worker = from_worker
        self._failed_in_worker = failed_in_worker
        created: list[Output] = []
        try:
            for cfg in self.request.cfgs:
                if cfg.individual:
                    continue
                outputs = self._open_outputs(cfg, self._specs(cfg), created)
                contents = contents_for(self.request.contents, cfg.id)
                self.mixers.append(Mixer(cfg, contents, outputs, from_worker, failed_in_worker))
        except Exception as exc:
            for made in created:
                made.fail(0)
                if isinstance(made, FileOutput | SnapshotOutput | SplitFile):
                    remove_recording_files(made.path)
            self.mixers.clear()
            if isinstance(exc, CloudrecError):
                raise
            raise CloudrecError(ErrorCode.FILE_ERR, f"outputs cannot be opened: {exc}") from exc
        for mixer in self.mixers:
            for opened in mixer.outputs:
                self._emit(opened.info())

    def _specs(self, cfg: MixerCfg) -> tuple[OutputSpec, ...]:
        return next(o for o in self.request.outputs if o.id == cfg.id).output

    def _open_outputs(
        self, cfg: MixerCfg, specs: Sequence[OutputSpec], created: list[Output]
    ) -> list[Output]:
        outputs: list[Output] = []
        for spec in specs:
            output: Output
            if spec.type is OutputType.LIVE:
                output = LiveOutput(cfg.id, spec, cfg.video, self._from_worker, self._x264_preset)
            elif spec.container == SNAPSHOT_CONTAINER:
                assert cfg.video is not None  # the wire allows .jpg with video only
                path = recording_path(self._recordings_dir, spec.filename)
                reserve(path, spec.filename)
                output = SnapshotOutput(cfg.id, spec, path, cfg.video)
            elif spec.splits:
                first = self._file(cfg, spec)
                output = SplitFile(first, self._part_opener(cfg), cfg.video, self._from_worker)
            else:
                output = self._file(cfg, spec)
            created.append(output)
            outputs.append(output)
        return outputs

    def _file(self, cfg: MixerCfg, spec: OutputSpec) -> FileOutput:
        path = recording_path(self._recordings_dir, spec.filename)
        reserve(path, spec.filename)
        try:
            audio = cfg.audio if cfg.has_audio else None
            return FileOutput(cfg.id, spec, path, cfg.video, audio, self._x264_preset)
        except Exception:
            remove_recording_files(path)
            raise

    def _part_opener(self, cfg: MixerCfg) -> Callable[[OutputSpec], FileOutput]:
        """How a split file opens each part (on the mixer's thread, mid-recording:
        a part that cannot be made fails its output as a full disk would)."""

        def open_part(spec: OutputSpec) -> FileOutput:
            try:
                return self._file(cfg, spec)
            except CloudrecError as exc:
                raise OSError(exc.message) from exc

        return open_part

    def _start(self, paused: bool) -> None:
        loop = asyncio.get_running_loop()
        start, wall_start = loop.time(), time.time()
        self.pauses.origin = start
        if paused:
            self.pauses.pause_from(start)
        for mixer in self.mixers:
            self._start_mixer(mixer, start, wall_start)
        for cfg in self.request.cfgs:
            if cfg.individual:
                self._tasks.append(asyncio.create_task(self._follow_participants(cfg)))
        self._tasks.append(asyncio.create_task(self._audio_clock(start)))
        self._tasks.append(asyncio.create_task(self._report(start)))

    def layouts(self) -> list[tuple[Sequence[Content], int]]:
        """What each video mixer draws now, with its frame rate."""
        return [
            (m.contents.content, m.video.frame_rate) for m in self.mixers if m.video is not None
        ]

    def update(self, contents: tuple[MixerContents, ...], pictures: Mapping[str, Picture]) -> None:
        """Whole replacement: a mixer left out of ``contents`` shows an empty canvas."""
        for mixer in self.mixers:
            mixer.pictures = pictures
            if not mixer.cfg.individual:  # mode-1 layouts are made per participant
                mixer.contents = contents_for(contents, mixer.cfg.id)

    def pause(self) -> None:
        """Nothing the room sends from now on reaches a file; live pushes show a slate."""
        self.pauses.pause(asyncio.get_running_loop().time())

    def resume(self) -> None:
        """The files go on from where they paused, with no gap in their timelines."""
        self.pauses.resume(asyncio.get_running_loop().time())

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

    def _start_mixer(self, mixer: Mixer, start: float, wall_start: float) -> None:
        mixer.start()
        if mixer.video is not None:
            clock = self._video_clock(mixer, mixer.video.frame_rate, start, wall_start)
            task = asyncio.create_task(clock)
            self._tasks.append(task)
            self._clocks[mixer] = task

    async def _follow_participants(self, cfg: MixerCfg) -> None:
        """Mode 1: a mixer of their own for each participant while they are there."""
        loop = asyncio.get_running_loop()
        mine: dict[str, Mixer | None] = {}  # None: their files could not be opened
        while True:
            self._registry.changed.clear()
            present = self._registry.present_users() | {
                sound.user for sound in self._sounds() if not sound.shared_file
            }
            for user in sorted(present - mine.keys()):
                try:
                    mixer = self._individual_mixer(cfg, user)
                except CloudrecError as exc:
                    log.warning("no individual recording of %s: %s", user, exc.message)
                    mine[user] = None
                    continue
                mine[user] = mixer
                self.mixers.append(mixer)
                # On the session's ticks, so that a pause leaves the same span
                # out of this mixer's picture as of its sound.
                now, wall = loop.time(), time.time()
                period = Fraction(1, cfg.video.frame_rate) if cfg.video else AUDIO_PERIOD
                ahead = float(period) * math.ceil((now - self.pauses.origin) / float(period))
                start = self.pauses.origin + ahead
                self._start_mixer(mixer, start, wall + start - now)
            for user in list(mine.keys() - present):
                left = mine.pop(user)
                if left is not None and left in self.mixers:
                    await self._finish_mixer(left)
            # Cameras come and go as events; a participant with only a
            # microphone is noticed on the next poll.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._registry.changed.wait(), FOLLOW_PERIOD_S)

    def _individual_mixer(self, cfg: MixerCfg, user: str) -> Mixer:
        specs = [individual_spec(s, user) for s in self._specs(cfg)]
        outputs = self._open_outputs(cfg, specs, [])
        content: list[Content] = [
            Content(ContentType.AUDIO, 0, 0, 0, 0, KeepAspect.KEEP, {"userid": user})
        ]
        if cfg.video is not None:
            content.insert(
                0,
                Content(
                    ContentType.VIDEO,
                    0,
                    0,
                    cfg.video.width,
                    cfg.video.height,
                    KeepAspect.KEEP,
                    {"camid": str(SourceId.camera(user))},
                ),
            )
        for opened in outputs:
            self._emit(opened.info())
        return Mixer(
            cfg,
            MixerContents(cfg.id, tuple(content)),
            outputs,
            self._from_worker,
            self._failed_in_worker,
        )

    async def _finish_mixer(self, mixer: Mixer) -> None:
        """Ends one mixer mid-session (its participant left): its files close."""
        self.mixers.remove(mixer)
        clock = self._clocks.pop(mixer, None)
        if clock is not None:
            clock.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await clock
        mixer.finish()
        await asyncio.to_thread(mixer.join)

    def preview_canvas(self) -> I420 | None:
        """The latest canvas of the first mixer with video (not a mode-1 one)."""
        for mixer in self.mixers:
            if mixer.video is not None and not mixer.cfg.individual:
                return mixer.latest
        return None

    def stats(self) -> MixerStats:
        tiles = tuple(tile for meter in self._tile_meters.values() for tile in meter.stats())
        sounds = self._sounds().values()
        return MixerStats(
            frozen_ms=sum(t.frozen_ms for t in tiles),
            placeholder_ms=sum(t.placeholder_ms for t in tiles),
            tiles=tiles,
            video_ticks=self.video_clock.ticks,
            late_video_ticks=self.video_clock.late_ticks,
            late_audio_ticks=self.audio_clock.late_ticks,
            frames_encoded=sum(m.stats.frames_encoded for m in self.mixers),
            frames_dropped=sum(m.stats.frames_dropped for m in self.mixers),
            frames_repeated=sum(m.stats.frames_repeated for m in self.mixers),
            audio_underruns=sum(s.underruns for s in sounds),
            audio_concealed_ms=sum(s.concealed_samples for s in sounds) * 1000 // SAMPLE_RATE,
            audio_stretched_ms=sum(s.stretched_samples for s in sounds) * 1000 // SAMPLE_RATE,
            playout_delay_ms=round(self._registry.playout.delay(time.monotonic()) * 1000),
            live_frames_dropped=sum(
                o.frames_dropped
                for m in self.mixers
                for o in m.outputs
                if isinstance(o, LiveOutput)
            ),
        )

    async def _video_clock(
        self, mixer: Mixer, frame_rate: int, start: float, wall_start: float
    ) -> None:
        loop = asyncio.get_running_loop()
        period = Fraction(1, frame_rate)
        meter = self._tile_meters[mixer] = TileMeter(mixer.cfg.id, frame_rate)
        async for tick in ticks(start, period, self.video_clock, loop):
            # By the tick's scheduled time, as its audio is: what was captured
            # the playout delay before it, and paused or not.
            due = start + float(tick * period)
            paused = self.pauses.covers(due)
            # Between a pause's call and its span: the picture as at the call.
            shown = self.pauses.hidden_from(due)
            at = due if shown is None else shown - float(period) / 2
            left_out = self.pauses.left_out(due)
            # A picture held from a pause's call is no rounding onto the ticks.
            spacing = float(period) if shown is None else None
            frames = (
                {} if paused else self._registry.snapshot(mixer.sources(), at, left_out, spacing)
            )
            meter.count(frames)
            # The tick's scheduled wall time, not when it ran: a late tick must not
            # put the timestamp overlay out of step with the file's timeline.
            board = self._board.snapshot()
            mixer.submit_video(tick, wall_start + float(tick * period), frames, board, paused)

    async def _audio_clock(self, start: float) -> None:
        loop = asyncio.get_running_loop()
        async for tick in ticks(start, AUDIO_PERIOD, self.audio_clock, loop):
            due = start + float(tick * AUDIO_PERIOD)
            # Pulled while paused too: what was said then is dropped, never kept for later.
            blocks = {}
            for sound, stream in self._sounds().items():
                lag = self._registry.picture_lag(sound)
                block = stream.pull(TICK_SAMPLES, due, lag)
                if block is None:
                    continue
                # Captured from a pause's call to its resume's, by the time
                # the block would be played at with its picture on time.
                unheard = self.pauses.unheard(due - lag.seconds, AUDIO_TICK_S)
                if unheard is not None:
                    block = block.copy()  # a view of what the stream keeps
                    block[:, round(unheard[0] * SAMPLE_RATE) : round(unheard[1] * SAMPLE_RATE)] = 0
                blocks[sound] = block
            playout = self._registry.playout
            playout.played(due + AUDIO_TICK_S - playout.delay(due))
            paused = self.pauses.covers(due)
            for mixer in self.mixers:
                mixer.submit_audio(tick * TICK_SAMPLES, blocks, TICK_SAMPLES, paused)

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
                self._on_end(ErrorCode.RECORD_MAX)
