"""A flashing publisher's flash and beep leave it in sync to the sample."""

from __future__ import annotations

import math

import numpy as np

from cloudrec.synthetic import AUDIO_RATE, BEEP_S, FlashSchedule

FPS = 30
ORIGIN = 100.013  # frame 0's capture instant: not on a second, as in life
# Starts tried on whole periods: float error lands a whole second's frame on
# either side of it, depending on the start (most of 200 failed, unrounded).
PACED_STARTS = 50


def test_the_beep_starts_at_the_flash_frames_capture_instant() -> None:
    schedule = FlashSchedule(FPS)
    dues = [ORIGIN + n / FPS for n in range(3 * FPS)]
    flashes = [due for n, due in enumerate(dues) if schedule.is_flash(n, due)]
    # One a second, on the first frame at or after it (up to a frame late); the
    # first frame is one, the second having begun before it.
    assert [int(due) for due in flashes] == [100, 101, 102]
    assert all(0 <= due - int(due) < 1 / FPS for due in flashes)

    # From before the video began to where its frames end.
    t = ORIGIN - 0.5 + np.arange(int(3.4 * AUDIO_RATE)) / AUDIO_RATE
    beeping = schedule.beep_mask(t)
    onsets = t[1:][beeping[1:] & ~beeping[:-1]]
    assert len(onsets) == len(flashes)
    for onset, flash in zip(onsets, flashes, strict=True):
        assert 0 <= onset - flash < 1 / AUDIO_RATE, "the beep starts with the flash"
    assert beeping.sum() == round(len(flashes) * BEEP_S * AUDIO_RATE)


def test_no_beep_before_the_first_frame() -> None:
    t = ORIGIN + np.arange(AUDIO_RATE) / AUDIO_RATE
    assert not FlashSchedule(FPS).beep_mask(t).any()


def test_frames_paced_on_whole_periods_flash_where_they_beep() -> None:
    """Paced on whole periods (as synthetic tracks are), frames fall on whole
    seconds, computed a hair either side of them; flash and beep must still pick
    the same frame, or the two leave the publisher a frame apart."""
    period = 1 / FPS
    for k in range(PACED_STARTS):
        start = math.ceil((1_764_000_000.0 + 0.37 * k) / period) * period  # as _Paced does
        schedule = FlashSchedule(FPS)
        dues = [start + n * period for n in range(3 * FPS)]
        flashes = [due for n, due in enumerate(dues) if schedule.is_flash(n, due)]
        assert len(flashes) == 3, start
        t = start + np.arange(3 * AUDIO_RATE) / AUDIO_RATE
        beeping = schedule.beep_mask(t)
        onsets = list(t[np.flatnonzero(beeping[1:] & ~beeping[:-1]) + 1])
        if beeping[0]:
            onsets.insert(0, t[0])
        assert len(onsets) == len(flashes), start
        for onset, flash in zip(onsets, flashes, strict=True):
            assert abs(onset - flash) < 1 / AUDIO_RATE, "the beep starts with the flash"
