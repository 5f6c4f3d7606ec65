"""Synthetic participant media: a colour-filled camera with a moving marker and a
sine tone; optionally a white flash and a 50 ms beep once a second, in sync."""

from __future__ import annotations

import asyncio
import fractions
import math
import time

import av
import numpy as np
from aiortc import MediaStreamTrack
from av.stream import Stream

AUDIO_RATE = 48_000
AUDIO_PTIME_S = 0.020
BEEP_S = 0.050
BEEP_HZ = 1_000
TONE_AMPLITUDE = 0.25
MARKER_PX = 16


def parse_hex_color(value: str) -> tuple[int, int, int]:
    digits = value.lstrip("#")
    if len(digits) != 6:
        raise ValueError(f"colour must be #RRGGBB, not {value!r}")
    r, g, b = (int(digits[i : i + 2], 16) for i in (0, 2, 4))
    return r, g, b


def rgb_to_yuv(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """BT.601 limited range, what encoders and decoders here assume."""
    r, g, b = rgb
    y = 16 + (65.738 * r + 129.057 * g + 25.064 * b) / 256
    u = 128 + (-37.945 * r - 74.494 * g + 112.439 * b) / 256
    v = 128 + (112.439 * r - 94.154 * g - 18.285 * b) / 256
    return round(y), round(u), round(v)


class FlashSchedule:
    """When a flashing publisher flashes: on its first video frame captured at or
    after each whole second of wall clock. Its beep starts at that frame's capture
    instant, not at the second, so flash and beep leave the publisher in sync to
    the sample (a frame's capture instant is up to a frame period past the
    second); what a recording shows of their offset is then the recorder's."""

    def __init__(self, fps: int) -> None:
        self._fps = fps
        self._origin: float | None = None  # the capture instant of video frame 0

    def is_flash(self, n: int, due: float) -> bool:
        """Whether video frame ``n``, captured at ``due``, is a flash; the first
        frame asked about fixes when every flash (and so every beep) is."""
        if self._origin is None:
            self._origin = due - n / self._fps
        return math.floor(due) != math.floor(due - 1 / self._fps)

    def beep_mask(self, t: np.ndarray) -> np.ndarray:
        """Which of the sample instants ``t`` are in a beep (none before the
        video's first frame, which fixes when the flashes are)."""
        mask = np.zeros(t.shape, bool)
        if self._origin is None or not len(t):
            return mask
        # A beep may have begun in the second before the first instant.
        for second in range(math.floor(t[0]) - 1, math.floor(t[-1]) + 1):
            frame = math.ceil((second - self._origin) * self._fps)
            if frame < 0:
                continue  # before the video began
            onset = self._origin + frame / self._fps
            mask |= (t >= onset) & (t < onset + BEEP_S)
        return mask


class _Paced:
    """Shared pacing: the n-th item is due at start + n * period on the wall clock."""

    def __init__(self, period: float) -> None:
        self._period = period
        self._start: float | None = None
        self._n = 0

    async def next(self) -> tuple[int, float]:
        if self._start is None:
            self._start = time.time()
        due = self._start + self._n * self._period
        delay = due - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        n = self._n
        self._n += 1
        return n, due


class ColorVideoTrack(MediaStreamTrack):
    kind = "video"

    def __init__(
        self, color: str, width: int, height: int, fps: int, flash: FlashSchedule | None = None
    ) -> None:
        super().__init__()
        self._yuv = rgb_to_yuv(parse_hex_color(color))
        self._width, self._height, self._fps, self._flash = width, height, fps, flash
        self._pace = _Paced(1 / fps)
        self._planes = self._fill(self._yuv)
        self._white = self._fill(rgb_to_yuv((255, 255, 255)))

    def _fill(self, yuv: tuple[int, int, int]) -> np.ndarray:
        w, h = self._width, self._height
        image = np.empty((h * 3 // 2, w), np.uint8)
        image[:h] = yuv[0]
        chroma = image[h:].reshape(2, h // 2, w // 2)
        chroma[0] = yuv[1]
        chroma[1] = yuv[2]
        return image

    async def recv(self) -> av.VideoFrame:
        n, due = await self._pace.next()
        return self.frame(n, self._flash is not None and self._flash.is_flash(n, due))

    def frame(self, n: int, flash: bool = False) -> av.VideoFrame:
        if flash:
            image = self._white
        else:
            image = self._planes.copy()
            x = (n * 4) % max(1, self._width - MARKER_PX)
            image[:MARKER_PX, x : x + MARKER_PX] = 255 - self._yuv[0]
        frame = av.VideoFrame.from_ndarray(image, format="yuv420p")
        frame.pts = n
        frame.time_base = fractions.Fraction(1, self._fps)
        return frame


class ScreenTrack(MediaStreamTrack):
    """A synthetic screen share: a white slide with a blue title bar and a dark
    block that moves once a second, at a screen's size and low rate."""

    kind = "video"

    def __init__(self, width: int = 1280, height: int = 720, fps: int = 5) -> None:
        super().__init__()
        self._width, self._height, self._fps = width, height, fps
        self._pace = _Paced(1 / fps)
        white, blue = rgb_to_yuv((255, 255, 255)), rgb_to_yuv((30, 90, 200))
        planes = np.empty((height * 3 // 2, width), np.uint8)
        planes[:height] = white[0]
        chroma = planes[height:].reshape(2, height // 2, width // 2)
        chroma[0], chroma[1] = white[1], white[2]
        bar = height // 8
        planes[:bar] = blue[0]
        chroma[0, : bar // 2], chroma[1, : bar // 2] = blue[1], blue[2]
        self._slide = planes

    async def recv(self) -> av.VideoFrame:
        n, due = await self._pace.next()
        image = self._slide.copy()
        size = self._height // 6
        x = int(due) % 5 * (self._width - size) // 4
        image[self._height // 2 : self._height // 2 + size, x : x + size] = 40
        frame = av.VideoFrame.from_ndarray(image, format="yuv420p")
        frame.pts = n
        frame.time_base = fractions.Fraction(1, self._fps)
        return frame


class ToneAudioTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(self, tone_hz: float, flash: FlashSchedule | None = None) -> None:
        super().__init__()
        self._tone = tone_hz
        self._flash = flash
        self._samples = int(AUDIO_RATE * AUDIO_PTIME_S)
        self._pace = _Paced(AUDIO_PTIME_S)

    async def recv(self) -> av.AudioFrame:
        n, due = await self._pace.next()
        return self.frame(n, due)

    def frame(self, n: int, due: float) -> av.AudioFrame:
        t = due + np.arange(self._samples) / AUDIO_RATE
        signal = TONE_AMPLITUDE * np.sin(2 * np.pi * self._tone * t)
        if self._flash is not None:
            in_beep = self._flash.beep_mask(t)
            signal = np.where(in_beep, 0.8 * np.sin(2 * np.pi * BEEP_HZ * t), signal)
        pcm = (signal * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = n * self._samples
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        return frame


# -- pre-encoded publishers -------------------------------------------------------

REPLAY_SECONDS = 2  # a loop this long; a whole number of seconds keeps tones seamless
REPLAY_VIDEO_BIT_RATE = 600_000
REPLAY_NOISE = 6.0  # luma standard deviation, in levels


def encode_video_loop(color: str, width: int, height: int, fps: int) -> list[bytes]:
    """REPLAY_SECONDS of the colour camera as VP8 packets; the first is a keyframe
    and the loop has no other, so it replays seamlessly. Sensor-like noise keeps
    the bitrate (and so the receiver's decoding cost) near a real camera's."""
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
    codec.time_base = fractions.Fraction(1, fps)
    codec.bit_rate = REPLAY_VIDEO_BIT_RATE
    codec.gop_size = fps * REPLAY_SECONDS
    codec.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    source = ColorVideoTrack(color, width, height, fps)
    packets: list[bytes] = []
    rng = np.random.default_rng(0)
    for n in range(fps * REPLAY_SECONDS):
        planes = source.frame(n).to_ndarray()
        noise = rng.normal(0, REPLAY_NOISE, (height, width))
        planes[:height] = np.clip(planes[:height] + noise, 16, 235).astype(np.uint8)
        frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
        frame.pts = n
        packets += [bytes(p) for p in codec.encode(frame)]
    packets += [bytes(p) for p in codec.encode(None)]
    return packets


def encode_audio_loop(tone_hz: float) -> list[bytes]:
    """REPLAY_SECONDS of the tone as 20 ms Opus packets."""
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate, codec.layout, codec.format = AUDIO_RATE, "mono", "s16"
    codec.bit_rate = 32_000
    source = ToneAudioTrack(tone_hz)
    count = int(REPLAY_SECONDS / AUDIO_PTIME_S)
    packets: list[bytes] = []
    for n in range(count):
        packets += [bytes(p) for p in codec.encode(source.frame(n, n * AUDIO_PTIME_S))]
    packets += [bytes(p) for p in codec.encode(None)]
    return packets[:count]


class ReplayTrack(MediaStreamTrack):
    """Sends pre-encoded packets in a loop at their real pace: a publisher whose
    own cost is packetising alone, for load tests of the recorder."""

    def __init__(self, kind: str, packets: list[bytes], period: float, clock_rate: int) -> None:
        super().__init__()
        self.kind = kind
        self._packets = packets
        self._step = round(period * clock_rate)
        self._time_base = fractions.Fraction(1, clock_rate)
        self._pace = _Paced(period)

    async def recv(self) -> av.Packet[Stream]:
        n, _ = await self._pace.next()
        packet = av.Packet(self._packets[n % len(self._packets)])
        packet.pts = n * self._step
        packet.time_base = self._time_base
        return packet
