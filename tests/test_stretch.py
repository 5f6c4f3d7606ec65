"""Drawing sound out: the pitch period found in what was played, and the
wait's samples continuing it."""

from __future__ import annotations

import numpy as np

from recorder.opus import SAMPLE_RATE as RATE
from recorder.stretch import FADE, FULL, HISTORY, MIN_PERIOD, Stretch, pitch_period

# A period found off by a sample or less: the lag is whole, the tone's is not.
PERIOD_WITHIN = 1.0
# Two tones alike, of a 0.3 peak: a period's linear wrap-around is far below it.
SAME_WITHIN = 0.01


def tone(hz: float, count: int, start: int = 0) -> np.ndarray:
    t = (start + np.arange(count)) / RATE
    wave = (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    return np.vstack((wave, wave))


def test_the_period_of_a_voice_pitched_tone_is_found() -> None:
    for hz in (110.0, 220.0, 300.0):
        found = pitch_period(tone(hz, HISTORY))
        assert found is not None
        periods = found / (RATE / hz)  # a whole number of periods repeats too
        assert abs(periods - round(periods)) * RATE / hz <= PERIOD_WITHIN, (hz, found)


def test_silence_or_too_little_sound_gives_no_period() -> None:
    assert pitch_period(np.zeros((2, HISTORY), np.float32)) is None
    assert pitch_period(tone(300.0, 2 * MIN_PERIOD - 1)) is None


def test_a_wait_continues_the_tone_then_fades_and_the_sound_resumes_smoothly() -> None:
    hz = 300.0
    played = tone(hz, HISTORY)
    stretch = Stretch(played)
    # Drawn in pieces, as ticks ask for it: one continuous tone.
    drawn = np.concatenate([stretch.draw(n) for n in (500, 460, *[960] * 10)], axis=1)
    expected = tone(hz, FULL, start=HISTORY)
    assert np.abs(drawn[:, :FULL] - expected).max() < SAME_WITHIN, "the tone goes on as it was"
    assert np.abs(drawn[:, FULL + FADE - 1 :]).max() < SAME_WITHIN, "then fades out"
    # What resumes follows the played sound; the blend starts on the wait's own.
    resumed = tone(hz, 480, start=HISTORY)
    stretch.blend_into(resumed)
    assert np.abs(resumed[:, -100:] - tone(hz, 100, start=HISTORY + 380)).max() < 1e-6
    assert np.abs(resumed[:, 0]).max() < SAME_WITHIN, "faded in from the faded wait"


def test_a_wait_with_nothing_played_before_is_silent() -> None:
    stretch = Stretch(np.zeros((2, 0), np.float32))
    assert not stretch.draw(960).any()
