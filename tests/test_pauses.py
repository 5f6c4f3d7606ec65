"""The paused spans of a session, on the output clocks' timeline."""

from __future__ import annotations

import pytest

from recorder.pauses import Pauses

DELAY = 0.14


def test_a_span_runs_from_each_call_plus_the_delay() -> None:
    pauses = Pauses(DELAY)
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


def test_several_spans_and_a_late_tick_between_them() -> None:
    pauses = Pauses(0.0)
    for start, end in ((1.0, 2.0), (4.0, 4.5), (9.0, 12.0)):
        pauses.pause(start)
        pauses.resume(end)
    covered = [t for t in (0.5, 1.0, 1.9, 2.0, 3.0, 4.2, 4.5, 8.9, 11.99, 12.0) if pauses.covers(t)]
    assert covered == [1.0, 1.9, 4.2, 11.99]


def test_pausing_twice_or_resuming_running_is_a_bug() -> None:
    pauses = Pauses(DELAY)
    with pytest.raises(ValueError):
        pauses.resume(1.0)
    pauses.pause(1.0)
    with pytest.raises(ValueError):
        pauses.pause(2.0)


def test_a_recording_that_starts_paused_records_nothing_from_its_first_tick() -> None:
    pauses = Pauses(DELAY)
    pauses.pause_from(100.0)
    assert pauses.covers(100.0) and pauses.covers(100.0 + DELAY / 2)
    pauses.resume(102.0)
    assert not pauses.covers(102.0 + DELAY)
