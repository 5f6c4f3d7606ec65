"""Per-participant audio buffers on the 48 kHz timeline, and the mix: planar
float32 stereo throughout, what the decoders give (recorder/opus.py) and the
AAC encoder takes."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable

import av
import numpy as np

from recorder.receive import BATCH_S

SAMPLE_RATE = 48_000
CHANNELS = 2
TICK_MS = 20
TICK_SAMPLES = SAMPLE_RATE * TICK_MS // 1000
# How long after it reaches a buffer a sample is played: a batch (packets come
# a batch's worth at once, every BATCH_S: recorder/receive.py), a tick for the
# phase between batches and our clock, and three ticks for a sender or network
# that stalls. aiortc's receiver holds 4 packets but hands one on only when a
# later one comes, so a stall upstream reaches us whole; a recording is better
# a little later than with gaps in its sound. Fixed rather than "whatever was
# buffered when playing began", which varied by up to a batch from one
# recording (or underrun) to the next and moved the sound against the picture
# with it: 7 to 36 ms in four runs of bench.avsync.
PLAYOUT_DELAY_SAMPLES = round(BATCH_S * SAMPLE_RATE) + 4 * TICK_SAMPLES
# Beyond this a buffer drops its oldest samples: a sender whose clock runs fast
# must not push its audio ever later against the video.
MAX_BUFFER_SAMPLES = 12 * TICK_SAMPLES
FULL_SCALE = 1.0
# The mix is rounded to 16-bit steps. FFmpeg's AAC encoder took half as long
# again on the decoders' unrounded float samples (1.40 against 0.91 ms per
# 100 ms of four voices), and 16-bit is what reached it when the mix was s16.
S16_STEPS = 32768


class AudioBuffer:
    """One participant's audio at 48 kHz, as a FIFO of (2, n) float32 blocks.

    Lives on the event loop: push() as frames are decoded (see recorder/ingest.py),
    pull() from the session's audio clock. ``clock``: seconds, as time.monotonic().
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        # With the kind of input it was made for: a resampler takes one kind only.
        self._resampler: tuple[tuple[str, str, int], av.AudioResampler] | None = None
        self._clock = clock
        self._chunks: deque[np.ndarray] = deque()
        self._buffered = 0
        self._newest_at = 0.0  # when the newest sample arrived
        self._primed = False
        self.underruns = 0
        self.dropped_samples = 0

    def push(self, frame: av.AudioFrame) -> None:
        for samples in self._planar_48k(frame):
            self._chunks.append(samples)
            self._buffered += samples.shape[1]
            self._newest_at = self._clock()
        excess = self._buffered - MAX_BUFFER_SAMPLES
        if excess > 0:
            self._take(excess)
            self.dropped_samples += excess

    def _planar_48k(self, frame: av.AudioFrame) -> list[np.ndarray]:
        channels = frame.layout.nb_channels
        # What the Opus decoder gives, mono or stereo: no resampler pass needed.
        if frame.format.name == "fltp" and frame.sample_rate == SAMPLE_RATE and channels <= 2:
            return [_stereo(frame)]
        kind = (frame.format.name, frame.layout.name, frame.sample_rate)
        if self._resampler is None or self._resampler[0] != kind:
            # Mono stays mono, to be heard at full level on both channels as a
            # decoded mono stream is; a resampler's upmix would lower it by 3 dB.
            layout = "mono" if channels == 1 else "stereo"
            resampler = av.AudioResampler(format="fltp", layout=layout, rate=SAMPLE_RATE)
            self._resampler = (kind, resampler)
        return [_stereo(out) for out in self._resampler[1].resample(frame)]

    def pull(self, count: int) -> np.ndarray | None:
        """``count`` samples (2 x count float32, read-only), or None while
        silent or re-priming."""
        if not self._primed:
            # Play once the newest sample would leave PLAYOUT_DELAY after it
            # came, dropping the oldest of what is more than that.
            waited = round((self._clock() - self._newest_at) * SAMPLE_RATE)
            keep = max(PLAYOUT_DELAY_SAMPLES - waited, count)
            if self._buffered < keep:
                return None
            if self._buffered > keep:
                self._take(self._buffered - keep)
            self._primed = True
        if self._buffered < count:
            self._primed = False
            self.underruns += 1
            if not self._buffered:
                return None
            # Play out what is left, padded, rather than holding it back.
            out = np.zeros((CHANNELS, count), np.float32)
            have = self._take(self._buffered)
            out[:, : have.shape[1]] = have
            return out
        return self._take(count)

    def _take(self, count: int) -> np.ndarray:
        parts: list[np.ndarray] = []
        need = count
        while need:
            head = self._chunks[0]
            if head.shape[1] <= need:
                parts.append(self._chunks.popleft())
                need -= head.shape[1]
            else:
                parts.append(head[:, :need])
                self._chunks[0] = head[:, need:]
                need = 0
        self._buffered -= count
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)


def _stereo(frame: av.AudioFrame) -> np.ndarray:
    """A mono or stereo fltp frame's samples as 2 x n. Mono is read in place, its
    one channel seen as both (a stride of 0 between them); the array keeps the
    frame's buffer alive. to_ndarray() and broadcast_to() took 13 us a 20 ms
    frame together, as long as decoding it."""
    planes = frame.planes
    if len(planes) == 1:
        both = np.ndarray((CHANNELS, frame.samples), np.float32, memoryview(planes[0]), 0, (0, 4))
        both.flags.writeable = False
        return both
    return np.stack([np.frombuffer(memoryview(p), np.float32, frame.samples) for p in planes])


def mix(blocks: Iterable[np.ndarray], count: int) -> np.ndarray:
    """Sums blocks of 2 x ``count`` float32 samples, rounded to 16-bit steps; a
    sum that would clip is scaled down to full scale for the whole block instead,
    so loud overlaps never square off. Silence where nobody sends."""
    total = np.zeros((CHANNELS, count), np.float32)
    for block in blocks:
        total += block
    peak = float(np.abs(total).max()) if count else 0.0
    scale = S16_STEPS * (FULL_SCALE / peak if peak > FULL_SCALE else 1.0)
    total *= scale
    np.rint(total, out=total)
    total *= 1 / S16_STEPS
    return total


def to_frame(samples: np.ndarray, pts: int) -> av.AudioFrame:
    """2 x n float32 samples as a frame."""
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(samples, np.float32), format="fltp", layout="stereo"
    )
    frame.sample_rate = SAMPLE_RATE
    frame.pts = pts
    return frame
