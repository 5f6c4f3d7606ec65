"""Synthetic participant media: a colour-filled camera with a moving marker and a
sine tone; optionally a white flash and a 50 ms beep once a second, in sync."""

from __future__ import annotations

import asyncio
import fractions
import math
import time
from typing import Protocol, runtime_checkable

import av
import cv2
import numpy as np
from aiortc import MediaStreamTrack
from av.stream import Stream

AUDIO_RATE = 48_000
AUDIO_PTIME_S = 0.020
BEEP_S = 0.050
BEEP_HZ = 1_000
TONE_AMPLITUDE = 0.25
# Decimal places that float error in a capture instant computed as start + n *
# period never reaches, in seconds or in frames: rounded away at 6.
ROUND_DIGITS = 6
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


Box = tuple[int, int]  # the width and height a recorder shows a video at


def scaled_size(width: int, height: int, box: Box | None) -> tuple[int, int]:
    """The smallest size, at the image's own aspect, that still covers ``box``
    (what a browser's scaleResolutionDownBy gives), in even pixels; the full
    size where the box is as large or there is none."""
    if box is None:
        return width, height
    factor = max(1.0, min(width / box[0], height / box[1]))
    return max(2, round(width / factor / 2) * 2), max(2, round(height / factor / 2) * 2)


@runtime_checkable
class Scalable(Protocol):
    """A video track that can send a smaller picture when a recorder asks."""

    async def fit(self, box: Box | None) -> None: ...


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
        return self._first_frame_from(math.floor(round(due, ROUND_DIGITS))) == n

    def _first_frame_from(self, second: int) -> int:
        """The first frame captured at or after ``second``. Paced on whole
        periods (see _Paced), frames fall on whole seconds, computed a hair
        either side of them: that hair is rounded away, here and in is_flash
        alike, so flash and beep agree on the frame."""
        assert self._origin is not None
        return math.ceil(round((second - self._origin) * self._fps, ROUND_DIGITS))

    def beep_mask(self, t: np.ndarray) -> np.ndarray:
        """Which of the sample instants ``t`` are in a beep (none before the
        video's first frame, which fixes when the flashes are)."""
        mask = np.zeros(t.shape, bool)
        if self._origin is None or not len(t):
            return mask
        # A beep may have begun in the second before the first instant.
        for second in range(math.floor(t[0]) - 1, math.floor(t[-1]) + 1):
            frame = self._first_frame_from(second)
            if frame < 0:
                continue  # before the video began
            onset = self._origin + frame / self._fps
            mask |= (t >= onset) & (t < onset + BEEP_S)
        return mask


class _Paced:
    """Shared pacing: the n-th item is due at start + n * period on the wall clock.
    The start is a whole multiple of the period, so every track of a period
    (however many publishers a process holds) is due at the same instants and
    one wake-up of the event loop sends them all.

    ``skew_ppm``: the publisher's media clock runs this many parts per million
    fast (negative: slow) against the wall clock, as a sound card's or a
    camera's crystal does: the n-th item is then due at start + n * period /
    (1 + skew), while its content and timestamps keep to the media clock.

    A sound packet is due when its first sample is (a microphone's could
    leave only once its last is): aiortc stamps its sender reports by when it
    sends a packet, and a report should pair a timestamp with its capture
    (RFC 3550 6.4.1), as browsers' do."""

    def __init__(self, period: float, skew_ppm: float = 0.0) -> None:
        self._period = period
        self._rate = 1 + skew_ppm * 1e-6
        self._start: float | None = None
        self._n = 0

    @property
    def count(self) -> int:
        """How many items were due so far: the index of the next."""
        return self._n

    def now(self) -> float:
        """The media clock's time now."""
        wall = time.time()
        return wall if self._start is None else self._start + (wall - self._start) * self._rate

    async def next(self) -> tuple[int, float]:
        """The next item's number, and when it is captured on the media clock."""
        if self._start is None:
            self._start = math.ceil(time.time() / self._period) * self._period
        delay = self._start + self._n * self._period / self._rate - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        n = self._n
        self._n += 1
        return n, self._start + n * self._period


class ColorVideoTrack(MediaStreamTrack):
    kind = "video"

    def __init__(
        self,
        color: str,
        width: int,
        height: int,
        fps: int,
        flash: FlashSchedule | None = None,
        skew_ppm: float = 0.0,
    ) -> None:
        super().__init__()
        self._yuv = rgb_to_yuv(parse_hex_color(color))
        self._width, self._height, self._fps, self._flash = width, height, fps, flash
        self._full = (width, height)
        self._pace = _Paced(1 / fps, skew_ppm)
        self._planes = self._fill(self._yuv)
        self._white = self._fill(rgb_to_yuv((255, 255, 255)))
        self._recolored: tuple[float, tuple[int, int, int]] | None = None

    def recolor(self, color: str) -> None:
        """Sends another colour from the next frame captured on: by its
        timestamp, as a camera would, so that a frame made late (its sender
        held up) keeps the colour of when it was due."""
        self._recolored = (self._pace.now(), rgb_to_yuv(parse_hex_color(color)))

    async def fit(self, box: Box | None) -> None:
        size = scaled_size(*self._full, box)
        if size != (self._width, self._height):
            self._width, self._height = size
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
        if self._recolored is not None and due >= self._recolored[0]:
            self._yuv = self._recolored[1]
            self._planes = self._fill(self._yuv)
            self._recolored = None
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

    def __init__(
        self, tone_hz: float, flash: FlashSchedule | None = None, skew_ppm: float = 0.0
    ) -> None:
        super().__init__()
        self._tone = tone_hz
        self._flash = flash
        self._samples = int(AUDIO_RATE * AUDIO_PTIME_S)
        self._pace = _Paced(AUDIO_PTIME_S, skew_ppm)
        self._retuned: tuple[float, float] | None = None

    def retune(self, tone_hz: float) -> None:
        """Sends another tone from the next packet captured on (by its
        timestamp, as ``ColorVideoTrack.recolor``)."""
        self._retuned = (self._pace.now(), tone_hz)

    async def recv(self) -> av.AudioFrame:
        n, due = await self._pace.next()
        if self._retuned is not None and due >= self._retuned[0]:
            self._tone = self._retuned[1]
            self._retuned = None
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
REPLAY_VIDEO_BIT_RATE = 600_000  # a camera sent at its full size
REPLAY_NOISE = 6.0  # luma standard deviation, in levels
VIDEO_CLOCK_RATE = 90_000


def encode_video_loop(
    color: str, width: int, height: int, fps: int, size: tuple[int, int] | None = None
) -> list[bytes]:
    """REPLAY_SECONDS of the colour camera as VP8 packets; the first is a keyframe
    and the loop has no other, so it replays seamlessly. Sensor-like noise keeps
    the bitrate (and so the receiver's decoding cost) near a real camera's.

    ``size``: sent scaled down to it, as a browser scales its camera, at a bitrate
    in proportion to the pixels (libwebrtc's own targets for 640x360 and 320x180,
    500 and 150 kb/s, fall close to that rule)."""
    out_w, out_h = size or (width, height)
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = out_w, out_h, "yuv420p"
    codec.time_base = fractions.Fraction(1, fps)
    codec.bit_rate = REPLAY_VIDEO_BIT_RATE * out_w * out_h // (width * height)
    codec.gop_size = fps * REPLAY_SECONDS
    codec.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    source = ColorVideoTrack(color, width, height, fps)
    packets: list[bytes] = []
    rng = np.random.default_rng(0)
    for n in range(fps * REPLAY_SECONDS):
        planes = source.frame(n).to_ndarray()
        noise = rng.normal(0, REPLAY_NOISE, (height, width))
        planes[:height] = np.clip(planes[:height] + noise, 16, 235).astype(np.uint8)
        if (out_w, out_h) != (width, height):
            planes = _scale_i420(planes, width, height, out_w, out_h)
        frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
        frame.pts = n
        packets += [bytes(p) for p in codec.encode(frame)]
    packets += [bytes(p) for p in codec.encode(None)]
    return packets


def _scale_i420(planes: np.ndarray, width: int, height: int, out_w: int, out_h: int) -> np.ndarray:
    y, chroma = planes[:height], planes[height:].reshape(2, height // 2, width // 2)
    out = np.empty((out_h * 3 // 2, out_w), np.uint8)
    out[:out_h] = cv2.resize(y, (out_w, out_h), interpolation=cv2.INTER_AREA)
    out_chroma = out[out_h:].reshape(2, out_h // 2, out_w // 2)
    for i in (0, 1):
        out_chroma[i] = cv2.resize(
            chroma[i], (out_w // 2, out_h // 2), interpolation=cv2.INTER_AREA
        )
    return out


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

    def __init__(
        self,
        kind: str,
        packets: list[bytes],
        period: float,
        clock_rate: int,
        skew_ppm: float = 0.0,
    ) -> None:
        super().__init__()
        self.kind = kind
        self._packets = packets
        self._origin = 0  # the item at which the current loop began
        self._step = round(period * clock_rate)
        self._time_base = fractions.Fraction(1, clock_rate)
        self._pace = _Paced(period, skew_ppm)

    def switch(self, packets: list[bytes]) -> None:
        """Replays ``packets`` from their start (a keyframe) with the next item."""
        self._packets, self._origin = packets, self._pace.count

    async def recv(self) -> av.Packet[Stream]:
        n, _ = await self._pace.next()
        packet = av.Packet(self._packets[(n - self._origin) % len(self._packets)])
        packet.pts = n * self._step
        packet.time_base = self._time_base
        return packet


class ReplayVideoTrack(ReplayTrack):
    """The colour camera replayed; when a recorder shows it smaller, the loop
    encoded again at the covering size (once per size, off the event loop) and
    switched to, as a browser scales its camera down. ``prepare``: a box to
    encode the loop for at once, so that a request for it is followed at once,
    as a browser would, rather than after a burst of encoding."""

    def __init__(
        self,
        color: str,
        width: int,
        height: int,
        fps: int,
        prepare: Box | None = None,
        skew_ppm: float = 0.0,
    ) -> None:
        full = encode_video_loop(color, width, height, fps)
        super().__init__("video", full, 1 / fps, VIDEO_CLOCK_RATE, skew_ppm)
        self._camera = (color, width, height, fps)
        self._size = (width, height)
        self._layers = {self._size: full}
        if prepare is not None:
            size = scaled_size(width, height, prepare)
            self._layers[size] = encode_video_loop(color, width, height, fps, size)

    async def fit(self, box: Box | None) -> None:
        color, width, height, fps = self._camera
        size = scaled_size(width, height, box)
        if size == self._size:
            return
        self._size = size
        packets = self._layers.get(size)
        if packets is None:
            packets = await asyncio.to_thread(encode_video_loop, color, width, height, fps, size)
            self._layers[size] = packets
        if self._size == size:  # a later request may have overtaken this one
            self.switch(packets)
