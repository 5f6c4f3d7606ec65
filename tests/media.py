"""Decoding recordings back for assertions: frames, audio, colours, tones."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np

# VP8 on the way in and H.264 on the way out shift flat colours by a few levels;
# a tile "shows" a colour when its centre's mean is within this of it, per channel.
COLOR_TOLERANCE = 40
# Tone levels are relative to the strongest spectral peak: two equal tones each
# sit near 1.0; codec artefacts elsewhere stay below 1e-3.
TONE_PRESENT = 0.1
TONE_ABSENT = 0.01


@dataclass
class Decoded:
    width: int
    height: int
    fps: float
    times: list[float]
    frames: list[np.ndarray]  # RGB
    audio: np.ndarray  # mono float32, 48 kHz
    audio_rate: int
    video_codec: str
    audio_codec: str | None
    pix_fmt: str
    audio_channels: int

    @property
    def duration(self) -> float:
        return len(self.frames) / self.fps

    def frame_at(self, t: float) -> np.ndarray:
        """The frame shown at file time ``t``."""
        index = max(0, min(len(self.times) - 1, int(np.searchsorted(self.times, t, "right")) - 1))
        return self.frames[index]


def decode(path: Path | str) -> Decoded:
    """A file, or a URL FFmpeg can open."""
    frames, times = [], []
    width = height = 0
    fps, codec, pix_fmt = 0.0, "", ""
    with av.open(str(path)) as container:
        if container.streams.video:
            vstream = container.streams.video[0]
            width, height = vstream.codec_context.width, vstream.codec_context.height
            fps = float(vstream.average_rate or vstream.guessed_rate or 0)
            codec = vstream.codec_context.name
            pix_fmt = vstream.codec_context.pix_fmt or ""
            for frame in _frames(container, vstream):
                frames.append(frame.to_ndarray(format="rgb24"))
                times.append(float(frame.time or 0.0))
    audio = np.zeros(0, np.float32)
    audio_codec = None
    channels = 0
    rate = 48_000
    with av.open(str(path)) as container:
        if container.streams.audio:
            astream = container.streams.audio[0]
            audio_codec = astream.codec_context.name
            channels = astream.codec_context.channels
            rate = astream.codec_context.sample_rate
            resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
            chunks = [
                out.to_ndarray().reshape(-1)
                for frame in _frames(container, astream)
                for out in resampler.resample(frame)
            ]
            if chunks:
                audio = np.concatenate(chunks)
    return Decoded(
        width, height, fps, times, frames, audio, rate, codec, audio_codec, pix_fmt, channels
    )


def _frames(container: Any, stream: Any) -> Iterator[Any]:
    """Decoded frames, as a player shows them: a packet cut short by a crash or a
    full disk is skipped rather than ending the file."""
    for packet in container.demux(stream):
        try:
            yield from packet.decode()
        except av.InvalidDataError:
            continue


def region_mean(frame: np.ndarray, x: int, y: int, w: int, h: int) -> np.ndarray:
    """Mean RGB of the middle half of a rectangle (clear of edges and markers)."""
    region = frame[y + h // 4 : y + 3 * h // 4, x + w // 4 : x + 3 * w // 4]
    mean: np.ndarray = region.reshape(-1, 3).mean(axis=0)
    return mean


def shows_color(
    frame: np.ndarray, rect: tuple[int, int, int, int], rgb: tuple[int, int, int]
) -> bool:
    mean = region_mean(frame, *rect)
    return bool(np.all(np.abs(mean - np.array(rgb)) <= COLOR_TOLERANCE))


def tone_level(audio: np.ndarray, rate: int, hz: float, seconds: float = 2.0) -> float:
    """The spectral peak within 2 % of ``hz`` over the last ``seconds``, relative
    to the strongest peak anywhere; 0.0 for silence."""
    window = audio[-int(rate * seconds) :]
    if len(window) < rate // 2:
        return 0.0
    spectrum = np.abs(np.fft.rfft(window * np.hanning(len(window))))
    top = spectrum.max()
    if top <= 0:
        return 0.0
    freqs = np.fft.rfftfreq(len(window), 1 / rate)
    band = (freqs > hz * 0.98) & (freqs < hz * 1.02)
    return float(spectrum[band].max() / top)


def tone_present(audio: np.ndarray, rate: int, hz: float) -> bool:
    return tone_level(audio, rate, hz) >= TONE_PRESENT


def tone_absent(audio: np.ndarray, rate: int, hz: float) -> bool:
    return tone_level(audio, rate, hz) <= TONE_ABSENT
