"""Per-participant audio buffers on the 48 kHz timeline, and the mix."""

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
INT16_MAX = 32767


class AudioBuffer:
    """One participant's audio, resampled to 48 kHz stereo s16, as a FIFO.

    Lives on the event loop: push() as frames are decoded (see recorder/ingest.py),
    pull() from the session's audio clock. ``clock``: seconds, as time.monotonic().
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._resampler = av.AudioResampler(format="s16", layout="stereo", rate=SAMPLE_RATE)
        self._clock = clock
        self._chunks: deque[np.ndarray] = deque()
        self._buffered = 0
        self._newest_at = 0.0  # when the newest sample arrived
        self._primed = False
        self.underruns = 0
        self.dropped_samples = 0

    def push(self, frame: av.AudioFrame) -> None:
        for out in self._as_stereo_48k(frame):
            # s16 packed: one plane of interleaved L R L R ..., read in place.
            samples = np.frombuffer(memoryview(out.planes[0]), np.int16, out.samples * CHANNELS)
            self._chunks.append(samples.reshape(-1, CHANNELS))
            self._buffered += out.samples
            self._newest_at = self._clock()
        excess = self._buffered - MAX_BUFFER_SAMPLES
        if excess > 0:
            self._take(excess)
            self.dropped_samples += excess

    def _as_stereo_48k(self, frame: av.AudioFrame) -> list[av.AudioFrame]:
        # What WebRTC's Opus decoder gives already: no resampler pass needed.
        if (
            frame.format.name == "s16"
            and frame.layout.name == "stereo"
            and frame.sample_rate == SAMPLE_RATE
        ):
            return [frame]
        return self._resampler.resample(frame)

    def pull(self, count: int) -> np.ndarray | None:
        """``count`` samples (count x 2 int16), or None while silent or re-priming."""
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
            out = np.zeros((count, CHANNELS), np.int16)
            have = self._take(self._buffered)
            out[: len(have)] = have
            return out
        return self._take(count)

    def _take(self, count: int) -> np.ndarray:
        parts: list[np.ndarray] = []
        need = count
        while need:
            head = self._chunks[0]
            if len(head) <= need:
                parts.append(self._chunks.popleft())
                need -= len(head)
            else:
                parts.append(head[:need])
                self._chunks[0] = head[need:]
                need = 0
        self._buffered -= count
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


def mix(blocks: Iterable[np.ndarray], count: int) -> np.ndarray:
    """Sums blocks of ``count`` x 2 int16 samples; a sum that would clip is scaled
    down to full scale for the whole block instead, so loud overlaps never wrap or
    square off. Silence where nobody sends."""
    # int64: a scaled sum (peak x 32767) overflows int32 with three loud voices.
    total = np.zeros((count, CHANNELS), np.int64)
    for block in blocks:
        total += block
    peak = int(np.abs(total).max()) if count else 0
    if peak > INT16_MAX:
        total = total * INT16_MAX // peak
    return total.astype(np.int16)


def to_frame(samples: np.ndarray, pts: int) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(samples).reshape(1, -1), format="s16", layout="stereo"
    )
    frame.sample_rate = SAMPLE_RATE
    frame.pts = pts
    return frame
