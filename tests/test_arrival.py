"""When media arrived, read from its RTP timestamp whatever batch it was
handled in: timestamps across their wrap, and the least delay."""

from __future__ import annotations

import itertools
import random

from recorder.arrival import RESTART_HOLD_S, RESTART_S, RISE_S_PER_S, LeastDelay, Unwrapper
from recorder.capture import VIDEO_CLOCK_RATE

FRAME_S = 1 / 30
BATCH_S = 0.040
TRANSIT_S = 0.005


class ArrivalClock:
    """A stream read on our clock by its own least delayed media."""

    def __init__(self) -> None:
        self._unwrap, self._least = Unwrapper(), LeastDelay()

    def arrival(self, timestamp: int, handled: float) -> float:
        sent = self._unwrap.extend(timestamp) / VIDEO_CLOCK_RATE
        return sent + self._least.observe(sent, handled)


# What the estimate may be off by: a float rounding at 90 kHz, and what it rose
# by between the least delayed frames (a few hundred ms at RISE_S_PER_S).
TOLERANCE_S = 0.001


def batched(sent: float) -> float:
    """When a frame sent at ``sent`` is handled: the first batch after it came."""
    came = sent + TRANSIT_S
    return (came // BATCH_S + 1) * BATCH_S


def test_frames_handled_in_batches_arrive_on_their_own_times() -> None:
    clock = ArrivalClock()
    base = 1000.0
    arrivals = []
    for n in range(300):
        sent = n * FRAME_S
        ts = (123_456 + round(sent * VIDEO_CLOCK_RATE)) % (1 << 32)
        arrivals.append(clock.arrival(ts, base + batched(sent)))
    # Once a frame has passed with next to no wait, every arrival sits where
    # it came, one frame period after the previous one, never after it was handled.
    settled = arrivals[30:]
    steps = [b - a for a, b in itertools.pairwise(settled)]
    assert all(abs(step - FRAME_S) < TOLERANCE_S for step in steps)
    for n in range(30, 300):
        assert arrivals[n] <= base + batched(n * FRAME_S) + 1e-9
        assert abs(arrivals[n] - (base + n * FRAME_S + TRANSIT_S)) < BATCH_S / 6


def test_timestamps_wrap_and_reorder() -> None:
    clock = ArrivalClock()
    near_wrap = (1 << 32) - 3000
    first = clock.arrival(near_wrap, 50.0)
    after_wrap = clock.arrival((near_wrap + 6000) % (1 << 32), 50.0 + 6000 / VIDEO_CLOCK_RATE)
    assert abs(after_wrap - first - 6000 / VIDEO_CLOCK_RATE) < 1e-6
    # An older frame, handled late; the estimate may have risen meanwhile.
    late = clock.arrival((near_wrap + 3000) % (1 << 32), 50.2)
    assert abs(late - first - 3000 / VIDEO_CLOCK_RATE) <= RISE_S_PER_S * 0.2 + 1e-6


def test_a_longer_path_is_followed_and_a_new_timeline_restarts() -> None:
    clock = ArrivalClock()
    rng = random.Random(1)
    now = 10.0
    for n in range(100):
        now = 10.0 + n * FRAME_S
        clock.arrival(n * 3000, now)
    # The path grows 20 ms longer for good: followed at RISE_S_PER_S.
    settle_s = 0.020 / RISE_S_PER_S
    for n in range(100, 100 + round(settle_s / FRAME_S) + 30):
        now = 10.0 + n * FRAME_S + 0.020 + rng.uniform(0, 0.001)
        got = clock.arrival(n * 3000, now)
    assert abs(got - (now - 0.001)) < 0.002
    # The sender starts over from a timestamp far back: late media, until
    # its frames have kept to the new timeline for RESTART_HOLD_S.
    restarted = now + FRAME_S
    for n in range(round(RESTART_HOLD_S / FRAME_S) + 2):
        now = restarted + n * FRAME_S
        got = clock.arrival(7 + n * 3000, now)
        if now - restarted < RESTART_HOLD_S:
            assert now - got > RESTART_S, "read on the old timeline while held"
    assert got == now, "taken from the new timeline as it comes"
    assert RESTART_S > BATCH_S


def test_a_stream_far_behind_the_others_of_its_sender_leaves_their_estimate() -> None:
    """Sound on time and video 1.5 s behind it, as from a page whose encoder
    is short of CPU: the video is late, and the sound's estimate stands."""
    sender = LeastDelay()
    video_lag_s = 1.5
    assert video_lag_s > RESTART_S
    sound = [(100.0 + n * 0.020 + TRANSIT_S, n * 0.020) for n in range(300)]  # 6 s
    video = [(100.0 + n * 0.040 + video_lag_s, n * 0.040) for n in range(150)]
    for handled, sent in sorted(sound + video):
        if handled > sound[-1][0]:
            break  # video alone from here: for all it shows, a new timeline
        assert abs(sender.observe(sent, handled) - 100.0 - TRANSIT_S) < 1e-9
