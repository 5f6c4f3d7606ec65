"""Per-participant sound on the recording's timeline, and the mix: planar
float32 stereo throughout, what the decoder gives (recorder/opus.py) and the
AAC encoder takes.

Each participant's Opus packets are kept as they come, by RTP timestamp, and
decoded only when the audio clock is about to play them: by then whatever was
merely late has come, the order is the senders', and what is still missing
is truly lost and is made up for, from the next packet's forward error
correction or by concealment. The sample played at our time t is the one
captured at t - the playout delay (recorder/capture.py), read at a rate a
little above or below the sender's where the two drift apart.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable

import av
import numpy as np

from recorder.capture import Playout, StreamClock
from recorder.opus import CONCEAL_STEP, OpusDecoder, packet_channels, packet_samples
from recorder.stretch import HISTORY, Stretch
from recorder.tracks import NO_LAG, PictureLag

SAMPLE_RATE = 48_000
CHANNELS = 2
TICK_MS = 20
TICK_SAMPLES = SAMPLE_RATE * TICK_MS // 1000
FULL_SCALE = 1.0
# The mix is rounded to 16-bit steps. FFmpeg's AAC encoder took half as long
# again on the decoders' unrounded float samples (1.40 against 0.91 ms per
# 100 ms of four voices), and 16-bit is what reached it when the mix was s16.
S16_STEPS = 32768
# How the reading follows the capture time. It reads at the speed the target
# moves at (a sender's clock that drifts, a playout delay that falls back),
# averaged over about SPEED_SMOOTHING_S so that the estimates' wobbles are
# not heard; and off by e seconds, it reads RATE_GAIN * e slower or faster,
# so an error halves in 1.4 s. Both together stay within MAX_RATE_CHANGE of
# the sender's own rate (0.5 %: a pitch change of 9 cents, below what a
# listener hears, and twice what a 0.1 % drift and a falling delay need).
SPEED_SMOOTHING_S = 1.0
RATE_GAIN = 0.5
MAX_RATE_CHANGE = 0.005
# A target that moves further than this from the speed in one tick jumped.
SPEED_JUMP = 0.05
# Closer than these (in error, and in speed against the sender's) the reading
# holds the sender's rate on whole samples, as a copy; sub-sample reading is
# interpolation, a slight low-pass.
EXACT_WITHIN_S = 0.0002
EXACT_SPEED = 1e-5
# Off by more than this, the reading jumps rather than slewing for seconds:
# early, it waits (drawing out what it played, recorder/stretch.py), late, it skips. A new
# stream, a sender that stalled, a playout delay that rose: video follows
# such a change at once, and sound must too to stay with it. Below it are the
# estimates' own wobbles (a few ms), which slewing absorbs unheard.
JUMP_S = 0.020
# Timestamps read anew or a new estimate of the picture's lag is jumped to at
# once where it moves the sound further than this; less is slewed, unheard,
# rather than letting go of what was decoded and making up the packet cut into.
REREAD_JUMP_S = 0.002
# A gap made up by concealment at most: libopus fades a concealment to
# silence over this much anyway; longer gaps are left silent.
MAX_CONCEAL_SAMPLES = 5 * TICK_SAMPLES
# How much later than its capture a sample leaves the decoder: an Opus encoder
# looks ahead 2.5 ms and its decoder adds 4 (libopus's OPUS_GET_LOOKAHEAD for
# the voip and audio applications, which browsers use), so the sample captured
# at timestamp ts is decoded at ts + this.
OPUS_DELAY_SAMPLES = 312
# Packets kept at most: ~2 s of 20 ms packets, more than the longest playout
# delay; a stream that nobody plays (no recording) keeps no more.
MAX_PACKETS = 100


class AudioStream:
    """One participant's sound: their Opus packets in (:meth:`push`, as they
    come), 48 kHz stereo float32 out (:meth:`pull`, each tick of the audio
    clock). Both on the event loop."""

    def __init__(self, clock: StreamClock, playout: Playout) -> None:
        self._clock = clock
        self._playout = playout
        self._packets: dict[int, bytes] = {}  # extended timestamp -> packet
        self._decoder: OpusDecoder | None = None
        self._frame = TICK_SAMPLES  # the last packet's length, for a lost one's
        # Decoded samples not yet played; column 0 is timestamp _start.
        self._pcm = np.zeros((CHANNELS, 0), np.float32)
        self._start = 0
        self._read: float | None = None  # the timestamp played next
        self._delay = 0.0  # the playout delay at the last pull
        # The reading of the clock's timestamps, and the estimate of the
        # picture's lag followed, at the last pull.
        self._placing = (0, 0)
        self._target: float | None = None  # the target at the last pull
        self._speed = 1.0  # sender samples per one of ours, smoothed
        self._owed = 0  # samples still to wait, for a delay that rose
        self._stretch: Stretch | None = None  # the wait under way, drawn out
        # The blocks played last, which a wait draws out.
        self._recent: deque[np.ndarray] = deque(maxlen=-(-HISTORY // TICK_SAMPLES))
        self._concealing = 0  # samples made up in a row
        self.underruns = 0
        self.concealed_samples = 0
        # Lost, and decoded through the next packet: from its FEC copy where
        # it carries one, else concealed by libopus.
        self.recovered_packets = 0
        self.late_packets = 0  # came after their time was played
        self.stretched_samples = 0  # waited for a delay that rose, drawn out

    def push(self, timestamp: int, packet: bytes, handled: float) -> None:
        """An RTP packet's payload, stamped ``timestamp``, handled at ``handled``."""
        extended, _ = self._clock.place(timestamp, handled)
        if not packet:
            return
        if extended < self._start + self._pcm.shape[1]:
            self.late_packets += 1
            return
        self._packets[extended] = packet
        if len(self._packets) > MAX_PACKETS:
            del self._packets[min(self._packets)]

    def pull(self, count: int, at: float, picture: PictureLag = NO_LAG) -> np.ndarray | None:
        """The ``count`` samples (2 x count float32) to play from our time
        ``at``, as much later than their capture as their ``picture`` is
        shown (recorder/tracks.py); None while there is nothing to play."""
        delay = self._playout.delay(at)
        captured = self._clock.extended_at(at - delay - picture.seconds)
        if captured is None:
            return None
        target = captured + OPUS_DELAY_SAMPLES
        read = self._read
        placing = (self._clock.reading, picture.estimate)
        placed_anew = placing != self._placing
        self._placing = placing
        # Ahead of its place (positive) or behind it, in seconds, once it has
        # waited what it owes.
        ahead = 0.0 if read is None else (read - target - self._owed) / self._clock.rate
        if read is None or (placed_anew and ahead < -REREAD_JUMP_S):
            # A start, timestamps read anew (sender reports) or a new estimate
            # of the picture's lag that put the sound behind its place: it
            # starts on its place at once, as the picture does, rather than
            # slewing to it for seconds.
            read = self._jump(target)
        elif placed_anew:
            # Ahead: it waits, drawn out as for a delay that rose, rather than
            # letting go of what was decoded. A rise of the delay at the same
            # pull (which moves the picture against the ticks, so that its
            # lag is estimated anew) is in what it is ahead by.
            if ahead > REREAD_JUMP_S:
                self._owed += round(ahead * SAMPLE_RATE)
        elif delay > self._delay:
            # The delay rose, and video with it at once: so does sound, by
            # waiting exactly as long, however little.
            self._owed += round((delay - self._delay) * SAMPLE_RATE)
        self._delay = delay
        wait = min(count, self._owed)
        self._owed -= wait
        # What waiting does not make up for, slewing does (or a jump).
        error_s = (read - target - wait - self._owed) / self._clock.rate
        if error_s < -JUMP_S:
            read = self._jump(target)
            error_s, wait = 0.0, 0
        elif error_s > JUMP_S:
            # Early: silence until the capture time catches up, then on.
            more = min(count - wait, round(error_s * SAMPLE_RATE))
            wait += more
            error_s -= more / SAMPLE_RATE
        # Sender samples per one of ours: how fast the target moves, and the
        # correction.
        speed = self._track_speed(target, count)
        step = speed * (1.0 - max(-MAX_RATE_CHANGE, min(MAX_RATE_CHANGE, RATE_GAIN * error_s)))
        if abs(error_s) < EXACT_WITHIN_S and abs(speed - 1.0) < EXACT_SPEED:
            step, read = 1.0, float(round(read))
        end = read + (count - wait) * step
        self._decode_until(math.floor(end) + 2)
        self._read = end
        if not wait and self._stretch is None:
            return self._played(self._resample(read, step, count))
        if self._stretch is None:
            recent = list(self._recent)
            history = np.concatenate(recent, axis=1) if recent else np.zeros((CHANNELS, 0))
            self._stretch = Stretch(history)
        played = self._resample(read, step, count - wait) if wait < count else None
        out = np.zeros((CHANNELS, count), np.float32)
        out[:, :wait] = self._stretch.draw(wait)
        self.stretched_samples += wait
        if played is not None:
            out[:, wait:] = played
            self._stretch.blend_into(out[:, wait:])
        if wait < count:
            self._stretch = None
        return self._played(out)

    def _played(self, out: np.ndarray | None) -> np.ndarray | None:
        if out is None:
            self._recent.clear()  # an underrun: nothing to draw out
        else:
            self._recent.append(out)
        return out

    def _track_speed(self, target: float, count: int) -> float:
        moved = (target - self._target) / count if self._target is not None else self._speed
        self._target = target
        # A jump (a delay that rose, a new mapping) is no speed: left out.
        if abs(moved - self._speed) < SPEED_JUMP:
            self._speed += (moved - self._speed) * count / (SPEED_SMOOTHING_S * SAMPLE_RATE)
        return self._speed

    def _jump(self, target: float) -> float:
        """Starts reading at ``target``: what was decoded is let go, and packets
        that end before it."""
        floor = math.floor(target)
        self._owed = 0  # the target holds the playout delay as it is now
        self._pcm = self._pcm[:, :0]
        self._start = floor
        for stale in [ts for ts in self._packets if ts + self._frame <= floor]:
            del self._packets[stale]
        return target

    def _decode_until(self, end: int) -> None:
        while (have := self._start + self._pcm.shape[1]) < end:
            covering = [ts for ts in self._packets if ts + self._frame > have]
            if not covering:
                return  # not here (yet): an underrun, unless it comes in time
            ts = min(covering)
            if ts > have:
                self._fill(have, ts)
                continue
            packet = self._packets.pop(ts)
            for stale in [t for t in self._packets if t < ts]:
                del self._packets[stale]
            samples = self._decode(packet)
            if samples is not None:
                self._concealing = 0
                self._append(samples[:, have - ts :])

    def _fill(self, have: int, next_ts: int) -> None:
        """The gap before the packet at ``next_ts``: lost, or (before the
        first packet) from before the stream began."""
        gap = next_ts - have
        decoder = self._decoder
        if decoder is None:
            self._append(np.zeros((1, gap), np.float32))
            return
        made: np.ndarray | None = None
        if self._concealing < MAX_CONCEAL_SAMPLES:
            if gap == self._frame:
                made = decoder.recover(self._packets[next_ts], gap)
                self.recovered_packets += made is not None
            elif gap >= CONCEAL_STEP:
                made = decoder.conceal(min(gap, self._frame) // CONCEAL_STEP * CONCEAL_STEP)
        if made is None:
            made = np.zeros((1, gap), np.float32)
        made = made[:, :gap]
        self._concealing += made.shape[1]
        self.concealed_samples += made.shape[1]
        self._append(made)

    def _decode(self, packet: bytes) -> np.ndarray | None:
        if self._decoder is None:
            self._decoder = OpusDecoder(packet_channels(packet))
        samples = self._decoder.decode(packet)
        if samples is not None:
            self._frame = packet_samples(packet) or samples.shape[1]
        return samples

    def _append(self, samples: np.ndarray) -> None:
        if samples.shape[0] == 1:
            samples = np.broadcast_to(samples, (CHANNELS, samples.shape[1]))
        self._pcm = np.concatenate((self._pcm, samples), axis=1)

    def _resample(self, read: float, step: float, count: int) -> np.ndarray | None:
        offset = read - self._start
        have = self._pcm.shape[1]
        if not have:
            self.underruns += 1
            return None
        if step == 1.0 and offset == int(offset):
            first = int(offset)
            out = self._pcm[:, first : first + count]
        else:
            positions = offset + np.arange(count) * step
            out = np.empty((CHANNELS, count), np.float32)
            source = np.arange(have)
            for channel in range(CHANNELS):
                out[channel] = np.interp(positions, source, self._pcm[channel], right=0.0)
        # What is played is let go, bar a sample for the next interpolation.
        done = max(0, min(have, math.floor(offset + count * step) - 1))
        self._pcm = self._pcm[:, done:]
        self._start += done
        if out.shape[1] < count or offset + count * step > have:
            self.underruns += 1
            if out.shape[1] == 0 or offset >= have:
                return None
            padded = np.zeros((CHANNELS, count), np.float32)
            padded[:, : out.shape[1]] = out[:, :count]
            return padded
        return out

    def close(self) -> None:
        self._clock.close()


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
