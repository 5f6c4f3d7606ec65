from __future__ import annotations

import math

import av
import numpy as np

from cloudrec.sources import SoundId, SourceId
from recorder.capture import Playout
from recorder.tracks import PICTURE_LAG_S, STALL_SECONDS, FrameRef, TrackRegistry

DELAY = 0.05
S = SourceId.parse


def push(reg: TrackRegistry, source: str, frame: av.VideoFrame, captured: float) -> None:
    """A frame of a source, captured at ``captured``, as its decoding thread
    stores it at once."""
    slot = reg.resolve(S(source)) or reg.add(S(source))
    slot.push(captured, frame, captured)


def frame() -> av.VideoFrame:
    return av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="bgr24")


def test_default_camera_and_video_delay() -> None:
    reg = TrackRegistry(Playout(DELAY))
    first, second = frame(), frame()
    push(reg, "alice.2", first, 10.0)
    push(reg, "alice.2", second, 10.04)
    # -1 is the user's first camera; the frame captured nearest DELAY before is shown.
    assert reg.snapshot({S("alice.-1")}, 10.069)[S("alice.-1")].frame is first
    assert reg.snapshot({S("alice.-1")}, 10.071)[S("alice.-1")].frame is second
    assert reg.snapshot({S("alice.2")}, 10.10)[S("alice.2")].frame is second
    # Before any frame is that old, the oldest stands in rather than nothing.
    assert reg.snapshot({S("alice.2")}, 10.01)[S("alice.2")].frame is first
    # Next to a pause: nothing captured in it, where another frame is kept.
    assert reg.snapshot({S("alice.2")}, 10.10, (10.02, 11.0))[S("alice.2")].frame is first
    assert reg.snapshot({S("alice.2")}, 10.069, (9.0, 10.02))[S("alice.2")].frame is second
    assert reg.snapshot({S("alice.2")}, 10.10, (9.0, 11.0))[S("alice.2")].frame is second


def test_unknown_stalled_and_gone_cameras_show_a_placeholder() -> None:
    reg = TrackRegistry(Playout(DELAY))
    assert reg.snapshot({S("nobody.-1")}, 0.0)[S("nobody.-1")].frame is None
    assert reg.snapshot({S("nobody.-1")}, 0.0)[S("nobody.-1")].label == "nobody"
    push(reg, "bob.0", frame(), 1.0)
    assert reg.snapshot({S("bob.0")}, 1.0 + STALL_SECONDS - 0.1)[S("bob.0")].frame is not None
    assert reg.snapshot({S("bob.0")}, 1.0 + STALL_SECONDS + 0.1)[S("bob.0")].frame is None
    push(reg, "bob.0", frame(), 5.0)
    reg.user_left("bob")
    assert reg.snapshot({S("bob.0")}, 5.1)[S("bob.0")].frame is None
    push(reg, "carol.0", frame(), 1.0)
    reg.ended(S("carol.0"))
    assert reg.snapshot({S("carol.0")}, 1.1)[S("carol.0")].frame is None


def test_current_share_is_the_latest_sharer() -> None:
    reg = TrackRegistry(Playout(0.0))
    assert reg.snapshot({S("*.screen")}, 0.0)[S("*.screen")].frame is None
    alice, bob = frame(), frame()
    push(reg, "alice.screen", alice, 1.0)
    assert reg.snapshot({S("*.screen")}, 1.1)[S("*.screen")].frame is alice
    push(reg, "bob.screen", bob, 2.0)
    assert reg.snapshot({S("*.screen")}, 2.1)[S("*.screen")].frame is bob, "changing hands"
    reg.ended(S("bob.screen"))
    assert reg.snapshot({S("*.screen")}, 2.2)[S("*.screen")].frame is alice
    reg.user_left("alice")
    assert reg.snapshot({S("*.screen"), S("alice.screen")}, 2.3) == {
        S("*.screen"): FrameRef(None, "*"),
        S("alice.screen"): FrameRef(None, "alice"),
    }


TICK_S = 1 / 30
# After six PICTURE_LAG_S the average is within e^-6 (0.25 %) of the lag.
LAG_WITHIN_S = 0.0001
# The first tick of a stalled frame, 21 ms off, weighs 1/150 (a tick of
# PICTURE_LAG_S): 0.2 ms; the next, 54 ms off, is no rounding. A stall
# followed for its two seconds would move it 12 ms and more.
STALL_MOVES_WITHIN_S = 0.0005


def test_sound_follows_the_lag_its_picture_is_shown_at() -> None:
    """Frames captured 12 ms after each tick's moment (the phase of the
    sender's frames against our ticks) are shown 12 ms early: their sender's
    sound is played as much earlier, eased in over PICTURE_LAG_S rather than
    jumped. A picture that stalls is no rounding: its last frame counts only
    while it is within half a tick (and ROUNDING_SLACK_S) of the moment."""
    reg = TrackRegistry(Playout(DELAY))
    phase = 0.012
    ticks = round(6 * PICTURE_LAG_S / TICK_S)
    for n in range(ticks):
        moment = 100.0 + n * TICK_S
        push(reg, "alice.0", frame(), moment + phase)
        reg.snapshot({S("alice.-1")}, moment + DELAY)
        if n == round(PICTURE_LAG_S / TICK_S):
            lag = reg.picture_lag(SoundId("alice"))
            # A time constant in: 1 - 1/e of the way.
            assert abs(lag - (-phase) * (1 - math.exp(-1))) < 0.001, lag
    assert abs(reg.picture_lag(SoundId("alice")) - (-phase)) < LAG_WITHIN_S
    assert reg.picture_lag(SoundId("alice", shared_file=True)) == 0.0
    assert reg.picture_lag(SoundId("nobody")) == 0.0
    settled = reg.picture_lag(SoundId("alice"))
    end = 100.0 + ticks * TICK_S
    for n in range(round(2 / TICK_S)):  # no new frame for two seconds
        reg.snapshot({S("alice.-1")}, end + n * TICK_S + DELAY)
    assert abs(reg.picture_lag(SoundId("alice")) - settled) < STALL_MOVES_WITHIN_S
