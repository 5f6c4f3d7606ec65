"""Sound drawn out while a stream waits: what just played, continued.

When the room's playout delay rises, the picture is shown that much later at
once, and a participant's sound must fall back as far to stay with it. Waiting
in silence puts a hole in the recording at every rise (a camera's frames
retransmitted, a path that grew longer). Instead the wait is filled the way a
receiver's jitter buffer draws sound out when it runs short (an "expand"): the
last pitch period played is repeated, which keeps a voice's or a tone's pitch
and level where slowing the reading down would shift it, then faded out if
the wait goes on, and the sound that resumes is cross-faded in. Nothing is
moved in time: what resumes is the sample that would have followed.
"""

from __future__ import annotations

import numpy as np

from recorder.opus import SAMPLE_RATE

# Pitch periods searched: 2.5-20 ms, 400 Hz down to 50 Hz, the span of voices.
MIN_PERIOD = SAMPLE_RATE * 25 // 10_000
MAX_PERIOD = SAMPLE_RATE * 20 // 1000
# Samples the period is found in: the period before the last compared with
# the last, for every length up to the longest.
HISTORY = 2 * MAX_PERIOD
# A repeated period sounds as a held note: at full level this long (as long as
# libopus conceals a loss at full level, recorder/audio.py), then faded out
# over as long again; a longer wait is silent past it.
FULL_S = 0.100
FADE_S = 0.100
FULL = round(FULL_S * SAMPLE_RATE)
FADE = round(FADE_S * SAMPLE_RATE)
# The resumed sound fades in over the repeated one in this long: a jump between
# two waveforms is a click, a few ms of blend is not heard.
CROSSFADE = SAMPLE_RATE * 25 // 10_000


def pitch_period(history: np.ndarray) -> int | None:
    """The lag (in samples) at which the end of ``history`` (channels x n) best
    repeats itself, from MIN_PERIOD to as long as it holds twice; None where
    it holds too little, or nothing but silence."""
    mono = history.mean(axis=0, dtype=np.float64)
    longest = min(MAX_PERIOD, mono.size // 2)
    if longest < MIN_PERIOD:
        return None
    window = mono[-longest:]
    energy = float(window @ window)
    if energy == 0.0:
        return None
    # reach[k] is window against the stretch ending lag = longest - k earlier.
    before = mono[-2 * longest : -1]
    reach = np.correlate(before, window, mode="valid")
    squares = np.concatenate(([0.0], np.cumsum(before * before)))
    energies = squares[longest:] - squares[:-longest]
    lags = longest - np.arange(reach.size)
    usable = lags >= MIN_PERIOD
    score = reach[usable] / np.sqrt(np.maximum(energies[usable] * energy, 1e-30))
    return int(lags[usable][int(np.argmax(score))])


class Stretch:
    """One wait's drawn-out sound: started from what was played last, asked
    for in pieces (a wait may span several ticks), ended by blending into the
    sound that resumes."""

    def __init__(self, history: np.ndarray) -> None:
        period = pitch_period(history)
        self._channels = history.shape[0]
        self._period = None if period is None else history[:, -period:].copy()
        self._phase = 0  # the period's sample drawn next
        self._drawn = 0  # samples drawn in this wait

    def draw(self, count: int) -> np.ndarray:
        """The next ``count`` samples of the wait (channels x count)."""
        out = self._continue(count)
        self._drawn += count
        return out

    def blend_into(self, resumed: np.ndarray) -> None:
        """Fades ``resumed`` (the sound after the wait) in over the wait's own
        continuation, in place."""
        length = min(CROSSFADE, resumed.shape[1])
        if self._period is None or not length:
            return
        rise = np.arange(1, length + 1, dtype=np.float32) / (length + 1)
        tail = self._continue(length)
        resumed[:, :length] = resumed[:, :length] * rise + tail * (1 - rise)

    def _continue(self, count: int) -> np.ndarray:
        if self._period is None:
            return np.zeros((self._channels, count), np.float32)
        length = self._period.shape[1]
        out = self._period[:, (self._phase + np.arange(count)) % length]
        self._phase = (self._phase + count) % length
        at = self._drawn + np.arange(count)
        gain = np.clip(1.0 - (at - FULL) / FADE, 0.0, 1.0).astype(np.float32)
        return out * gain
