from __future__ import annotations

import av
import numpy as np

from cloudrec.sources import SourceId
from recorder.capture import Playout
from recorder.tracks import STALL_SECONDS, FrameRef, TrackRegistry

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
