from __future__ import annotations

import math

import av
import numpy as np
import pytest

from cloudrec.sources import SoundId, SourceId
from recorder.capture import MARGIN_S, Playout
from recorder.tracks import NO_LAG, PICTURE_LAG_S, STALL_SECONDS, FrameRef, TrackRegistry

DELAY = 0.05
S = SourceId.parse


def push(
    reg: TrackRegistry,
    source: str,
    frame: av.VideoFrame,
    captured: float,
    reading: int = 0,
) -> None:
    """A frame of a source, captured at ``captured`` by the ``reading`` of its
    timestamps, as its decoding thread stores it at once."""
    slot = reg.resolve(S(source)) or reg.add(S(source))
    slot.push(captured, frame, captured, reading)


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
# A sender's frames come this much either side of their rate, in turn.
JITTER_S = 0.002
# The first tick's lag is a frame's, jitter and all; ten ticks in, their
# average is within a tenth of it.
SETTLED_WITHIN_S = JITTER_S / 10 + 1e-9
# How far a time constant follows a turn of the phase: 1 - (1 - 1/150)^150
# against 1 - 1/e, 0.1 % apart, and the frames' jitter, averaged in turn.
FOLLOWED_WITHIN = 0.02
# Frames still shown from before a stall count for half a tick and 5 ms:
# two at most, each weighing a tick of PICTURE_LAG_S (1/150).
STALL_MOVES_WITHIN_S = 0.0005


def show(reg: TrackRegistry, ticks: range, phase: float, reading: int = 0) -> None:
    """Ticks of a 30 fps clock from 100 s, each with a frame captured
    ``phase`` after its moment (give or take JITTER_S), shown on it."""
    for n in ticks:
        moment = 100.0 + n * TICK_S
        jitter = JITTER_S if n % 2 else -JITTER_S
        push(reg, "alice.0", frame(), moment + phase + jitter, reading)
        reg.snapshot({S("alice.-1")}, moment + DELAY, spacing=TICK_S)


def test_sound_follows_how_late_its_picture_is_shown() -> None:
    """Frames captured 12 ms after each tick's moment (the phase of the
    sender's frames against our ticks) are shown 12 ms early: their sender's
    sound is to be played as much earlier. The estimate starts at the first
    tick that shows the camera and averages the ticks since; once its capture
    times are read anew (sender reports) a new estimate starts. A
    phase that moves is followed over PICTURE_LAG_S; a picture that stalls
    is no rounding."""
    reg = TrackRegistry(Playout(DELAY))
    alice = SoundId("alice")
    assert reg.picture_lag(alice) == NO_LAG
    push(reg, "alice.0", frame(), 99.0)
    reg.snapshot({S("alice.-1")}, 99.0 + DELAY)
    assert reg.picture_lag(alice) == NO_LAG, "not a tick of a video clock"

    show(reg, range(1), 0.012)
    first = reg.picture_lag(alice)
    assert first.estimate != 0 and first.seconds == pytest.approx(-0.012 + JITTER_S)
    show(reg, range(1, 10), 0.012)
    assert abs(reg.picture_lag(alice).seconds + 0.012) < SETTLED_WITHIN_S
    assert reg.picture_lag(alice).estimate == first.estimate

    # Read through sender reports, every capture time is 8 ms earlier; the
    # first frame so read comes before the tick that shows it, and the ticks
    # until then still show frames read as before.
    push(reg, "alice.0", frame(), 100.0 + 12 * TICK_S + 0.004, 1)
    show(reg, range(10, 11), 0.012)
    assert reg.picture_lag(alice).estimate == first.estimate
    show(reg, range(11, 12), 0.004, 1)
    anew = reg.picture_lag(alice)
    assert anew.estimate not in (0, first.estimate)
    assert anew.seconds == pytest.approx(-0.004 - JITTER_S)

    # The phase turns by 10 ms: a time constant on, 1 - 1/e of the way.
    settled = range(12, 12 + round(PICTURE_LAG_S / TICK_S))
    show(reg, settled, 0.004, 1)
    turn = range(settled.stop, settled.stop + round(PICTURE_LAG_S / TICK_S))
    show(reg, turn, 0.014, 1)
    followed = (reg.picture_lag(alice).seconds + 0.004) / -0.010
    assert followed == pytest.approx(1 - math.exp(-1), abs=FOLLOWED_WITHIN)
    assert reg.picture_lag(alice).estimate == anew.estimate

    held = reg.picture_lag(alice).seconds
    end = 100.0 + turn.stop * TICK_S
    for n in range(round(2 / TICK_S)):  # no new frame for two seconds
        reg.snapshot({S("alice.-1")}, end + n * TICK_S + DELAY, spacing=TICK_S)
    assert abs(reg.picture_lag(alice).seconds - held) < STALL_MOVES_WITHIN_S
    assert reg.picture_lag(SoundId("alice", shared_file=True)) == NO_LAG
    assert reg.picture_lag(SoundId("nobody")) == NO_LAG


def test_a_picture_waits_on_its_frame_when_the_playout_delay_rises() -> None:
    """Another stream comes 100 ms late: the room's playout delay rises by
    as much, and each tick's moment moves 100 ms back. The picture waits on
    the frame it shows until its frames are due again, as sound waits (a
    flash shown twice, before and after the rise, was seen in a recording),
    and how late it is shown is estimated anew, its phase against the ticks
    having moved with the rise."""
    playout = Playout(DELAY)
    reg = TrackRegistry(playout)
    alice = SoundId("alice")
    shown = []

    def tick(n: int) -> None:
        moment = 100.0 + n * TICK_S
        pushed = frame()
        push(reg, "alice.0", pushed, moment + 0.012)
        ref = reg.snapshot({S("alice.-1")}, moment + DELAY, spacing=TICK_S)
        shown.append(ref[S("alice.-1")].frame)

    for n in range(30):
        tick(n)
    before = reg.picture_lag(alice)
    last = shown[-1]
    playout.late("camera", DELAY + 0.100 - MARGIN_S, 100.0 + 30 * TICK_S)
    for n in range(30, 60):
        tick(n)
    # Each tick's moment moved 100 ms back; a frame is pushed per tick.
    held = round(0.100 / TICK_S)
    assert shown[30 : 30 + held] == [last] * held
    assert len(set(map(id, shown[30 + held :]))) == len(shown[30 + held :])
    assert shown[30 + held] is not last
    after = reg.picture_lag(alice)
    assert after.estimate not in (0, before.estimate)


def test_a_picture_shows_what_its_sound_was_heard_with_before_it_waits() -> None:
    """Sound is played up to two frames ahead of the picture here (its
    blocks reach 20 ms past their tick, and the two clocks' ticks fall
    apart). When the playout delay rises, the frames whose sound was heard
    before the rise are shown before the picture waits, each on its own tick
    as before the rise, as their sound was: left for after the wait, a flash
    came out a whole rise after its beep (-274 ms, seen); shown at once, a
    frame early (+46 ms)."""
    playout = Playout(DELAY)
    reg = TrackRegistry(playout)
    pushed: list[av.VideoFrame] = []
    shown = []

    def arrives(n: int) -> None:
        pushed.append(frame())
        push(reg, "alice.0", pushed[-1], 100.0 + n * TICK_S + 0.012)

    def tick(n: int) -> None:
        moment = 100.0 + n * TICK_S
        arrives(n + 2)  # frames come ahead of their ticks, by the delay
        ref = reg.snapshot({S("alice.-1")}, moment + DELAY, spacing=TICK_S)
        shown.append(ref[S("alice.-1")].frame)
        # Sound played through the capture of the frame after next.
        playout.played(moment + 2 * TICK_S + 0.012 - reg.picture_lag(SoundId("alice")).seconds)

    arrives(0)
    arrives(1)

    for n in range(30):
        tick(n)
    assert shown[29] is pushed[29]
    playout.late("camera", DELAY + 0.100 - MARGIN_S, 100.0 + 30 * TICK_S)
    for n in range(30, 60):
        tick(n)
    # Frames 30 and 31 on their own ticks, 31 on the three the rise waits;
    # then on in order.
    assert shown[30:32] == pushed[30:32]
    held = 1 + round(0.100 / TICK_S)
    assert shown[31 : 31 + held] == [pushed[31]] * held
    assert shown[31 + held :] == pushed[32 : 60 - held + 1]
