"""The paused spans of a session, on the output clocks' timeline."""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction

import pytest

from recorder.pauses import Pauses, common_grid

DELAY = 0.14


def fixed(delay: float) -> Callable[[float], float]:
    return lambda _now: delay


AUDIO_TICK = Fraction(20, 1000)
# A fine grid, for the tests of the spans themselves.
FINE = Fraction(1, 1000)


def test_the_grid_is_a_whole_number_of_every_clocks_ticks() -> None:
    assert common_grid([15], AUDIO_TICK) == Fraction(1, 5)  # 3 frames, 10 audio ticks
    assert common_grid([30], AUDIO_TICK) == Fraction(1, 10)
    assert common_grid([25], AUDIO_TICK) == Fraction(1, 25)
    assert common_grid([15, 30, 24], AUDIO_TICK) == Fraction(1)
    assert common_grid([], AUDIO_TICK) == AUDIO_TICK  # sound alone


def test_a_span_runs_from_each_call_plus_the_delay() -> None:
    pauses = Pauses(fixed(DELAY), FINE)
    assert not pauses.covers(5.0)
    pauses.pause(10.0)
    assert pauses.paused
    assert not pauses.covers(10.0 + DELAY - 0.001), "what arrived before the call plays"
    assert pauses.covers(10.0 + DELAY)
    assert pauses.covers(1e9), "open until resumed"
    pauses.resume(13.0)
    assert not pauses.paused
    assert pauses.covers(13.0 + DELAY - 0.001)
    assert not pauses.covers(13.0 + DELAY)


def test_spans_begin_and_end_on_the_grid_from_the_clocks_start() -> None:
    pauses = Pauses(fixed(0.0), Fraction(1, 5))
    pauses.origin = 100.05
    pauses.pause(101.0)  # on to 101.05
    pauses.resume(102.3)  # on to 102.45
    assert [t for t in (101.0, 101.04, 101.05, 102.44, 102.45) if pauses.covers(t)] == [
        101.05,
        102.44,
    ]
    # Every clock skips whole ticks: 7 frames at 15 fps, 70 ticks of 20 ms.
    frames = sum(pauses.covers(100.05 + n / 15) for n in range(100))
    ticks = sum(pauses.covers(100.05 + n * 0.02) for n in range(300))
    assert (frames / 15, ticks * 0.02) == pytest.approx((1.4, 1.4))


def test_several_spans_and_a_late_tick_between_them() -> None:
    pauses = Pauses(fixed(0.0), FINE)
    for start, end in ((1.0, 2.0), (4.0, 4.5), (9.0, 12.0)):
        pauses.pause(start)
        pauses.resume(end)
    covered = [t for t in (0.5, 1.0, 1.9, 2.0, 3.0, 4.2, 4.5, 8.9, 11.99, 12.0) if pauses.covers(t)]
    assert covered == [1.0, 1.9, 4.2, 11.99]


def test_pausing_twice_or_resuming_running_is_a_bug() -> None:
    pauses = Pauses(fixed(DELAY), FINE)
    with pytest.raises(ValueError):
        pauses.resume(1.0)
    pauses.pause(1.0)
    with pytest.raises(ValueError):
        pauses.pause(2.0)


def test_a_recording_that_starts_paused_records_nothing_from_its_first_tick() -> None:
    pauses = Pauses(fixed(DELAY), FINE)
    pauses.pause_from(100.0)
    assert pauses.covers(100.0) and pauses.covers(100.0 + DELAY / 2)
    pauses.resume(102.0)
    assert not pauses.covers(102.0 + DELAY)


def test_between_a_pause_and_its_span_nothing_new_is_shown() -> None:
    """Nothing captured after the pause call may reach the file: from the
    call's own instant to the span's grid point, the recording shows what it
    showed at that instant."""
    pauses = Pauses(fixed(DELAY), Fraction(1, 5))
    pauses.origin = 100.0
    pauses.pause(101.0)  # the instant is 101.14, the span starts at 101.2
    assert pauses.hidden_from(101.13) is None and not pauses.covers(101.13)
    assert pauses.hidden_from(101.14) == pytest.approx(101.14)
    assert pauses.hidden_from(101.19) == pytest.approx(101.14)
    assert pauses.covers(101.2) and pauses.hidden_from(101.2) is None
    pauses.resume(102.0)  # 102.14: the span ends at 102.2, leaving out more
    assert pauses.covers(102.19) and not pauses.covers(102.2)
    assert pauses.hidden_from(102.2) is None


def test_a_tick_next_to_a_span_shows_nothing_captured_while_paused() -> None:
    """A picture is the frame captured nearest its time, up to half a frame
    later: next to a span, that could be one captured after the pause call or
    before the resume call."""
    pauses = Pauses(fixed(DELAY), FINE)
    assert pauses.left_out(5.0) is None, "no pause, nothing left out"
    pauses.pause(10.0)
    assert pauses.left_out(10.0 + DELAY - 0.001) == (10.0, math.inf)
    pauses.resume(13.0)
    assert pauses.left_out(10.0) == (10.0, math.inf)
    assert pauses.left_out(13.0 + DELAY) == (10.0, 13.0)
    pauses.pause(20.0)
    assert pauses.left_out(20.0 + DELAY - 0.001) == (20.0, math.inf)


def test_sound_captured_from_a_pause_call_to_its_resume_is_unheard() -> None:
    """Sound is played as much later as its speaker's picture is shown, so
    its blocks are told apart by the time they would be played at with the
    picture on time: the part of one from a pause's own instant to its span's
    end is silence, to the sample, wherever the audio clock's ticks fall."""
    pauses = Pauses(fixed(DELAY), Fraction(1, 5))
    pauses.origin = 100.0
    tick = float(AUDIO_TICK)
    assert pauses.unheard(101.0, tick) is None, "no pause"
    pauses.pause(101.0)  # the instant is 101.14, the span 101.2 on
    assert pauses.unheard(101.11, tick) is None
    assert pauses.unheard(101.13, tick) == pytest.approx((0.01, tick))
    assert pauses.unheard(101.5, tick) == pytest.approx((0.0, tick)), "open until resumed"
    pauses.resume(102.0)  # the span ends at 102.2
    assert pauses.unheard(102.187, tick) == pytest.approx((0.0, 0.013))
    assert pauses.unheard(102.2, tick) is None
    pauses.pause(103.0)  # the instant is 103.14
    assert pauses.unheard(102.19, tick) == pytest.approx((0.0, 0.01)), "the one before"
    assert pauses.unheard(103.125, tick) == pytest.approx((0.015, tick))
