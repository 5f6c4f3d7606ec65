"""The mixer on its own: audio ticks handed over in batches come out in the file
sample for sample, in order, each mixed from whoever was heard in it; a canvas
reaches the encoder as it was composed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import av
import numpy as np
import pytest

from cloudrec.config import Config
from cloudrec.contract import OutputInfo
from cloudrec.errors import ErrorCode
from cloudrec.sources import SoundId
from cloudrec.whiteboard import Board
from cloudrec.wire import (
    AudioCfg,
    AudioFormat,
    Content,
    ContentType,
    KeepAspect,
    Limits,
    MixerCfg,
    MixerContents,
    OutputSpec,
    OutputState,
    OutputType,
    StreamTypes,
    VideoCfg,
    parse_start,
)
from compositor.planes import I420
from recorder.audio import S16_STEPS, TICK_SAMPLES
from recorder.mixer import AUDIO_TICKS_PER_JOB, Mixer, to_source, to_video_frame
from recorder.outputs import FileOutput
from recorder.session import RecordingSession
from recorder.tracks import TrackRegistry

# A whole batch and part of another: the part must be written when the mixer stops.
TICKS = AUDIO_TICKS_PER_JOB + 2
PCM = AudioCfg(2, AudioFormat.PCM)  # lossless, so the samples can be compared exactly
# One step of 16-bit PCM in the mixer's float samples: levels that are whole
# steps come out of the s16 file as those whole numbers.
S16_STEP = 1 / S16_STEPS
# The first tick's job fails at once; this only bounds a hang.
FAILURE_TIMEOUT_S = 10.0


def _record(path: Path, contents: MixerContents) -> np.ndarray:
    """Feeds TICKS ticks: 'alice' at 100 x tick in every one, 'bob' at 1 in odd
    ones only (absent in the rest); returns the file's samples (n x 2)."""
    cfg = MixerCfg("1", StreamTypes.AUDIO, None, PCM)
    spec = OutputSpec(OutputType.FILE, f"/{path.name}", "wav")
    output = FileOutput("1", spec, path, None, PCM)
    infos: list[OutputInfo] = []
    mixer = Mixer(cfg, contents, [output], infos.append)
    mixer.start()
    for tick in range(TICKS):
        blocks = {SoundId("alice"): np.full((2, TICK_SAMPLES), 100 * tick * S16_STEP, np.float32)}
        if tick % 2:
            blocks[SoundId("bob")] = np.full((2, TICK_SAMPLES), S16_STEP, np.float32)
        mixer.submit_audio(tick * TICK_SAMPLES, blocks, TICK_SAMPLES)
    mixer.finish()
    mixer.join()
    with av.open(str(path)) as container:
        chunks = [f.to_ndarray().reshape(-1, 2) for f in container.decode(audio=0)]
    return np.concatenate(chunks)


def _per_tick(samples: np.ndarray) -> list[int]:
    assert samples.shape == (TICKS * TICK_SAMPLES, 2)
    ticks = samples.reshape(TICKS, TICK_SAMPLES, 2)
    assert all((tick == tick[0, 0]).all() for tick in ticks), "a tick is not one level"
    return [int(tick[0, 0]) for tick in ticks]


def test_batched_ticks_keep_their_place_and_mix(tmp_path: Path) -> None:
    samples = _record(tmp_path / "all.wav", MixerContents("1", ()))
    assert _per_tick(samples) == [100 * t + t % 2 for t in range(TICKS)]


def test_batched_ticks_mix_only_the_chosen_voices(tmp_path: Path) -> None:
    alice_only = Content(ContentType.AUDIO, 0, 0, 0, 0, KeepAspect.KEEP, {"userid": "alice"})
    samples = _record(tmp_path / "alice.wav", MixerContents("1", (alice_only,)))
    assert _per_tick(samples) == [100 * t for t in range(TICKS)]


@pytest.mark.parametrize(("width", "height"), [(640, 360), (1280, 720), (326, 240), (650, 362)])
def test_a_canvas_reaches_the_encoder_unchanged(width: int, height: int) -> None:
    rng = np.random.default_rng(width)
    data = rng.integers(0, 256, (height * 3 // 2, width), np.uint8)
    frame = to_video_frame(I420(data, width, height), 7)
    assert (frame.width, frame.height, frame.format.name, frame.pts) == (
        width,
        height,
        "yuv420p",
        7,
    )
    assert np.array_equal(frame.to_ndarray(), data)


def test_a_canvas_is_wrapped_not_copied() -> None:
    data = np.zeros((360 * 3 // 2, 640), np.uint8)
    frame = to_video_frame(I420(data, 640, 360), 0)
    data[0, 0] = 200
    assert frame.to_ndarray()[0, 0] == 200


@pytest.mark.parametrize(("width", "height"), [(640, 360), (650, 362), (326, 240)])
def test_a_decoded_frame_is_read_in_place_whatever_its_row_padding(width: int, height: int) -> None:
    """Rows of decoded frames are padded (326 wide: luma rows of 336 bytes,
    chroma of 176); the planes seen must hold the picture and no padding."""
    rng = np.random.default_rng(width)
    data = rng.integers(0, 256, (height * 3 // 2, width), np.uint8)
    frame = av.VideoFrame.from_ndarray(data, format="yuv420p")
    source = to_source(frame)
    expected = I420(data, width, height)
    assert (source.width, source.height) == (width, height)
    for plane in ("y", "u", "v"):
        assert np.array_equal(getattr(source, plane), getattr(expected, plane)), plane


def test_other_formats_and_odd_sizes_are_converted_first() -> None:
    frame = av.VideoFrame.from_ndarray(np.full((241, 333, 3), 200, np.uint8), format="rgb24")
    source = to_source(frame)
    assert (source.width, source.height) == (332, 240)
    assert source.u.shape == source.v.shape == (120, 166)
    assert abs(int(source.y[100, 100]) - 188) <= 2, "white-ish grey in limited range"


class _Broken:
    """An output whose encoder has a bug: it raises what no file system would."""

    def __init__(self) -> None:
        self.mixer_id = "1"
        self.spec = OutputSpec(OutputType.FILE, "/broken.mp4", "mp4")
        self.state = OutputState.CREATED
        self.err_code = 0

    def write_video(self, frame: av.VideoFrame) -> None:
        raise RuntimeError("a bug in the encoder")

    def write_audio(self, frame: av.AudioFrame) -> None:
        self.state = OutputState.WRITING

    def close(self) -> None:
        self.state = OutputState.CLOSED

    def fail(self, code: int) -> None:
        self.state, self.err_code = OutputState.ERR, code

    def info(self) -> OutputInfo:
        return OutputInfo("1", self.spec.filename, self.state, 0, 0, self.err_code)


def test_a_worker_that_fails_fails_its_outputs_and_says_so() -> None:
    """No silent death: the outputs end with error 8, their last info says so,
    the session is told, and the worker still drains and ends when asked."""
    cfg = MixerCfg(
        "1", StreamTypes.AUDIO | StreamTypes.VIDEO, VideoCfg(64, 64, 15, 100_000, 26, 15)
    )
    broken = _Broken()
    infos: list[OutputInfo] = []
    failures: list[bool] = []
    mixer = Mixer(
        cfg, MixerContents("1", ()), [broken], infos.append, lambda: failures.append(True)
    )
    mixer.start()
    board = Board().snapshot()
    for tick in range(3):
        mixer.submit_video(tick, 0.0, {}, board)
    mixer.finish()
    mixer.join()
    assert failures == [True] and mixer.failed
    assert broken.state is OutputState.ERR and broken.err_code == 8
    assert infos[-1].state is OutputState.ERR and infos[-1].err_code == 8


async def test_a_failing_mixer_ends_the_session_with_error_8(tmp_path: Path) -> None:
    """Through the session, as the bot runs it: the failed mixer's file ends
    with error 8 in its last output info, and the session asks to be stopped
    with 8 (mixer.ended, which the server turns into a stop and a state event)."""
    request = parse_start(
        [{"id": "1", "cfg": {"width": 64, "height": 64, "frameRate": 15}}],
        [],
        [{"id": "1", "output": [{"type": 0, "filename": "/f/broken.mp4"}]}],
        Limits(),
    )
    infos: list[OutputInfo] = []
    ended = asyncio.Event()
    codes: list[ErrorCode] = []

    def on_end(code: ErrorCode) -> None:
        codes.append(code)
        ended.set()

    config = Config(data_dir=tmp_path, min_free_disk_mb=0)
    session = RecordingSession.begin(
        request, {}, config, TrackRegistry(), dict, infos.append, on_end, Board()
    )

    def broken(*_args: object) -> I420:
        raise RuntimeError("a bug in the compositor")

    session.mixers[0]._compositor.compose = broken  # type: ignore[union-attr, method-assign]
    await asyncio.wait_for(ended.wait(), FAILURE_TIMEOUT_S)
    await session.stop()
    assert codes == [ErrorCode.SERVER_EXCEPTION]
    assert infos[-1].state is OutputState.ERR and infos[-1].err_code == 8
