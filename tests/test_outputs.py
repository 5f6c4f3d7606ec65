"""Round trips: write through FileOutput, reopen with PyAV, check what a player sees."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from cloudrec.wire import (
    AV_AUDIO,
    AudioCfg,
    AudioFormat,
    OutputSpec,
    OutputState,
    OutputType,
    VideoCfg,
)
from recorder.audio import TICK_SAMPLES, to_frame
from recorder.outputs import FileOutput

FPS = 15
SECONDS = 2


def _write(path: Path, container: str, gop: int = 30) -> FileOutput:
    cfg = VideoCfg(320, 240, FPS, 300_000, 26, gop)
    output = FileOutput(
        "1", OutputSpec(OutputType.FILE, f"/{path.name}", container), path, cfg, AV_AUDIO
    )
    assert output.state is OutputState.CREATED
    audio_pts = 0
    for n in range(FPS * SECONDS):
        frame = av.VideoFrame.from_ndarray(
            np.full((240, 320, 3), n * 8 % 256, np.uint8), format="bgr24"
        )
        frame.pts = n
        output.write_video(frame)
        while audio_pts < (n + 1) * 48_000 // FPS:
            output.write_audio(to_frame(np.zeros((2, TICK_SAMPLES), np.float32), audio_pts))
            audio_pts += TICK_SAMPLES
    output.close()
    output.close()  # idempotent
    return output


@pytest.mark.parametrize("container", ["mp4", "ts", "flv", "mkv"])
def test_round_trip(tmp_path: Path, container: str) -> None:
    path = tmp_path / f"out.{container}"
    output = _write(path, container)
    info = output.info()
    assert info.state is OutputState.CLOSED
    assert info.file_size == path.stat().st_size > 0
    assert info.duration == SECONDS * 1000
    with av.open(str(path)) as reopened:
        video = reopened.streams.video[0]
        assert video.codec_context.name == "h264"
        assert video.codec_context.pix_fmt == "yuv420p"
        assert (video.codec_context.width, video.codec_context.height) == (320, 240)
        assert reopened.streams.audio[0].codec_context.name == "aac"
        times = [f.time for f in reopened.decode(video=0)]
    assert len(times) == FPS * SECONDS
    assert np.allclose(np.diff(times), 1 / FPS, atol=2e-3)


def test_gop_is_honoured(tmp_path: Path) -> None:
    path = tmp_path / "gop.mp4"
    _write(path, "mp4", gop=10)
    with av.open(str(path)) as reopened:
        keyframes = [i for i, p in enumerate(reopened.demux(video=0)) if p.size and p.is_keyframe]
    assert keyframes == [0, 10, 20]


@pytest.mark.parametrize(
    ("container", "audio", "codec"),
    [
        ("m4a", AudioCfg(2, AudioFormat.AAC), "aac"),
        ("mp3", AudioCfg(2, AudioFormat.MP3), "mp3"),
        ("wav", AudioCfg(1, AudioFormat.PCM), "pcm_s16le"),
        ("m4a", AudioCfg(1, AudioFormat.AAC), "aac"),
    ],
)
def test_audio_only_round_trip(tmp_path: Path, container: str, audio: AudioCfg, codec: str) -> None:
    path = tmp_path / f"voice.{container}"
    output = FileOutput(
        "a", OutputSpec(OutputType.FILE, f"/{path.name}", container), path, None, audio
    )
    t = np.arange(48_000 * SECONDS) / 48_000
    tone = (np.sin(2 * np.pi * 440 * t) * 0.25).astype(np.float32)
    for k in range(len(tone) // TICK_SAMPLES):
        block = tone[k * TICK_SAMPLES : (k + 1) * TICK_SAMPLES]
        output.write_audio(to_frame(np.stack([block, block]), k * TICK_SAMPLES))
    output.close()
    assert output.info().duration == SECONDS * 1000
    with av.open(str(path)) as reopened:
        assert not reopened.streams.video
        stream = reopened.streams.audio[0]
        assert stream.codec_context.name.startswith(codec)  # the mp3 decoder is "mp3float"
        assert stream.codec_context.channels == audio.channels
        samples = sum(f.samples for f in reopened.decode(audio=0))
    # Encoders pad to their frame size and trim priming where the container can.
    assert abs(samples - 48_000 * SECONDS) <= 2 * 1152
