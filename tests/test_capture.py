"""Capture time from RTCP sender reports, with hand-built reports and clocks."""

from __future__ import annotations

import random

import pytest

from recorder.arrival import LeastDelay
from recorder.capture import (
    BASE_DELAY_S,
    FALL_S_PER_S,
    MARGIN_S,
    MIN_RATE_SPAN_S,
    RISE_S,
    Playout,
    ReportedClock,
    StreamClock,
)

AUDIO_RATE = 48_000
VIDEO_RATE = 90_000
WRAP = 1 << 32
# The sender's wall clock (NTP seconds) against ours: another epoch entirely.
THEIR_EPOCH = 3_900_000_000.0
OUR_EPOCH = 5_000.0
# Packets are handled in batches about this far apart (recorder/receive.py):
# off the packets' 10 ms grid, so that the phase between the two drifts, as
# it does between real senders and a recorder.
BATCH_S = 0.0413
TRANSIT_S = 0.004
# What placements may be off by, against the capture times and so against
# each other: the least delayed packet still waited a little for its batch,
# and the shared estimate rises by RISE_S_PER_S between the least delayed
# packets (the phase comes round every 0.6 s or so here) before one of either
# stream brings it down.
PLACED_WITHIN_S = 0.005
# Reports count from the second one (the first comes before any media here),
# and the least delay of both streams is known a few batches after.
SETTLED_S = 2.0
# A sender report's own jitter (aiortc stamps it when it last sent a packet).
REPORT_JITTER_S = 0.003
# How close the fitted rate comes with that jitter over a minute of reports.
RATE_WITHIN = 50e-6


def batched(came: float) -> float:
    return (came // BATCH_S + 1) * BATCH_S


class Sender:
    """A publisher: its wall clock, and a stream's RTP clock at ``rate`` x
    (1 + skew) against it, starting at a random timestamp."""

    def __init__(self, rate: int, origin: int, skew: float = 0.0) -> None:
        self.rate, self.origin, self.skew = rate, origin, skew

    def timestamp(self, captured: float) -> int:
        """The timestamp of media captured at our ``captured`` (seconds from OUR_EPOCH)."""
        return (self.origin + round(captured * self.rate * (1 + self.skew))) % WRAP

    def report(self, at: float) -> tuple[int, float]:
        return self.timestamp(at), THEIR_EPOCH + at


def test_one_publishers_audio_and_video_meet_at_their_capture_time_whatever_delays_one() -> None:
    """Audio comes 150 ms later than video (a jitter buffer upstream, a slower
    path): placed by arrival it would be heard 150 ms late; placed through the
    sender reports, both are where they were captured."""
    playout, sender = Playout(), LeastDelay()
    audio = StreamClock(AUDIO_RATE, sender, playout)
    video = StreamClock(VIDEO_RATE, sender, playout)
    their_audio, their_video = Sender(AUDIO_RATE, WRAP - 48_000), Sender(VIDEO_RATE, 77)
    audio_extra = 0.150
    errors: dict[str, dict[int, float]] = {"audio": {}, "video": {}}
    for ms in range(0, 10_000, 10):
        t = ms / 1000
        if ms % 1000 == 0:  # a report of each stream once a second
            audio.report(*their_audio.report(t))
            video.report(*their_video.report(t))
        if ms % 20 == 0:
            handled = OUR_EPOCH + batched(t + TRANSIT_S + audio_extra)
            _, placed = audio.place(their_audio.timestamp(t), handled)
            if t > SETTLED_S:
                errors["audio"][ms] = placed - (OUR_EPOCH + t + TRANSIT_S)
        if ms % 30 == 0:
            handled = OUR_EPOCH + batched(t + TRANSIT_S)
            _, placed = video.place(their_video.timestamp(t), handled)
            if t > SETTLED_S:
                errors["video"][ms] = placed - (OUR_EPOCH + t + TRANSIT_S)
    # Both on one line: when each was captured (plus the path's least delay).
    both = errors["audio"].keys() & errors["video"].keys()
    assert len(both) > 100
    assert all(abs(errors["audio"][ms] - errors["video"][ms]) < PLACED_WITHIN_S for ms in both)
    every = [*errors["audio"].values(), *errors["video"].values()]
    assert min(every) > -1e-3 and max(every) < PLACED_WITHIN_S
    # The playout delay covers the later stream.
    delay = playout.delay(OUR_EPOCH + 10)
    assert audio_extra + BATCH_S < delay <= audio_extra + BATCH_S + TRANSIT_S + MARGIN_S


def test_before_its_first_report_a_stream_is_placed_by_its_own_least_delay() -> None:
    playout, sender = Playout(), LeastDelay()
    audio = StreamClock(AUDIO_RATE, sender, playout)
    theirs = Sender(AUDIO_RATE, 1000)
    assert audio.extended_at(OUR_EPOCH) is None
    for n in range(100):
        t = n * 0.020
        _, placed = audio.place(theirs.timestamp(t), OUR_EPOCH + batched(t + TRANSIT_S))
    assert 0 <= placed - (OUR_EPOCH + t + TRANSIT_S) < PLACED_WITHIN_S
    # And read back: the timestamp captured at a time of ours.
    at = audio.extended_at(placed)
    assert at is not None and abs(at - (1000 + t * AUDIO_RATE)) < 1e-3
    # A report only counts once the stream's timestamps are known.
    early = StreamClock(AUDIO_RATE, LeastDelay(), playout)
    early.report(*theirs.report(0.0))
    assert early.extended_at(OUR_EPOCH) is None


def test_the_rate_is_fitted_through_jittered_reports_of_a_skewed_clock() -> None:
    """A sound card 0.1 % fast against its sender's wall clock: reported
    timestamps run 0.1 % fast, each report stamped a few ms off."""
    rng = random.Random(7)
    skew = 0.001
    theirs = Sender(AUDIO_RATE, 5, skew)
    clock = ReportedClock(AUDIO_RATE)
    extended = 5
    for second in range(64):
        extended = theirs.origin + round(second * AUDIO_RATE * (1 + skew))
        clock.report(extended, THEIR_EPOCH + second + rng.uniform(-1, 1) * REPORT_JITTER_S)
        if second < MIN_RATE_SPAN_S:
            assert clock.rate == AUDIO_RATE, "too short a span: the nominal rate"
    assert abs(clock.rate / (AUDIO_RATE * (1 + skew)) - 1) < RATE_WITHIN
    # Between reports the line is read at that rate: a second on, within a ms.
    ahead = clock.wall(extended + AUDIO_RATE * (1 + skew))
    assert abs(ahead - (THEIR_EPOCH + 64)) < REPORT_JITTER_S


def test_a_sender_that_restarts_its_clocks_is_followed_at_once() -> None:
    clock = ReportedClock(VIDEO_RATE)
    for second in range(10):
        clock.report(second * VIDEO_RATE, THEIR_EPOCH + second)
    clock.report(123, THEIR_EPOCH + 10)  # a new timeline
    assert clock.wall(123 + VIDEO_RATE) == THEIR_EPOCH + 11


def test_timestamps_wrap_within_a_stream() -> None:
    playout = Playout()
    clock = StreamClock(AUDIO_RATE, LeastDelay(), playout)
    first, _ = clock.place(WRAP - 960, 1.0)
    after, _ = clock.place(960, 1.04)
    assert after - first == 1920
    reordered, _ = clock.place(WRAP - 960 + 960, 1.05)
    assert reordered == first + 960


def test_a_rise_is_waited_from_where_sound_had_been_played() -> None:
    """Sound played through 10.02 s of capture time when a stream comes
    late: the delay rises, and what was captured by then is not to wait
    (recorder/tracks.py). Its slow fall, and a rise within RISE_S (the fall
    read at moments apart), are no rise."""
    playout = Playout()
    assert playout.rose_from == (float("-inf"), BASE_DELAY_S)
    playout.played(10.02)
    playout.late("camera", 0.300, 10.1)
    assert playout.delay(10.1) == 0.300 + MARGIN_S
    assert playout.rose_from == (10.02, BASE_DELAY_S) and playout.rises == 1
    playout.played(10.5)
    fallen = playout.delay(20.0)
    assert fallen < 0.300 + MARGIN_S
    playout.late("camera", fallen - MARGIN_S + RISE_S / 2, 20.0)
    assert playout.delay(20.0) == pytest.approx(fallen + RISE_S / 2)
    assert playout.rose_from == (10.02, BASE_DELAY_S) and playout.rises == 1


def test_the_playout_delay_rises_at_once_and_falls_back_slowly() -> None:
    playout = Playout()
    stream = object()
    assert playout.delay(0.0) == BASE_DELAY_S
    playout.late(stream, 0.300, 10.0)
    assert playout.delay(10.0) == 0.300 + MARGIN_S
    # Media comes on time again: the delay falls at FALL_S_PER_S.
    playout.late(stream, 0.010, 20.0)
    assert abs(playout.delay(20.0) - (0.300 - 10 * FALL_S_PER_S + MARGIN_S)) < 1e-9
    # Down to the base, where the stream is forgotten.
    assert playout.delay(1000.0) == BASE_DELAY_S
    playout.forget(stream)
    assert playout.delay(1000.0) == BASE_DELAY_S


def test_a_stream_is_read_anew_whenever_a_stream_of_its_sender_joins() -> None:
    """Video comes 30 ms later than sound (encoding, pacing). Read through
    its reports alone, its capture times take that wait for the path's; once
    the sound's first report comes, its less delayed packets move every one
    of them 30 ms earlier, at once: a new reading, which what follows the
    picture's rounding onto the ticks starts over on (recorder/tracks.py)."""
    playout, sender = Playout(), LeastDelay()
    audio = StreamClock(AUDIO_RATE, sender, playout)
    video = StreamClock(VIDEO_RATE, sender, playout)
    their_audio, their_video = Sender(AUDIO_RATE, 5), Sender(VIDEO_RATE, 77)
    video_extra = 0.030
    placed: dict[int, tuple[int, float]] = {}  # ms -> (reading, error)
    for ms in range(0, 3000, 10):
        t = ms / 1000
        if ms == 500:
            video.report(*their_video.report(t))
        if ms == 1490:
            audio.report(*their_audio.report(t))
        # At 1500 a frame is placed after the sound's first report and before
        # its next packet: read as before, in both reading and capture time.
        if ms % 30 == 0:
            _, at = video.place(their_video.timestamp(t), OUR_EPOCH + t + TRANSIT_S + video_extra)
            placed[ms] = (video.reading, at - (OUR_EPOCH + t + TRANSIT_S))
        if ms % 20 == 0:
            audio.place(their_audio.timestamp(t), OUR_EPOCH + t + TRANSIT_S)
    assert {reading for ms, (reading, _) in placed.items() if ms < 500} == {0}
    assert {reading for ms, (reading, _) in placed.items() if 500 < ms <= 1500} == {1}
    assert {reading for ms, (reading, _) in placed.items() if ms > 1500} == {2}
    assert audio.reading == 2
    assert all(abs(e - video_extra) < 1e-3 for ms, (_, e) in placed.items() if 500 < ms <= 1500)
    assert all(abs(e) < 1e-3 for ms, (_, e) in placed.items() if ms > 1500)
    video.report(*their_video.report(3.0))
    assert video.reading == audio.reading == 2, "a stream joins once"
