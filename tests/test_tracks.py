from __future__ import annotations

import av
import numpy as np

from recorder.tracks import STALL_SECONDS, FrameRef, TrackRegistry

DELAY = 0.05


def push(reg: TrackRegistry, user: str, name: str, frame: av.VideoFrame, now: float) -> None:
    """A frame of a source, as its decoding thread stores it."""
    slot = reg.resolve(f"{user}.{name}") or reg.add(user, name)
    slot.push(now, frame)


def frame() -> av.VideoFrame:
    return av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="bgr24")


def test_default_camera_and_video_delay() -> None:
    reg = TrackRegistry(video_delay=DELAY)
    first, second = frame(), frame()
    push(reg, "alice", "2", first, 10.0)
    push(reg, "alice", "2", second, 10.04)
    # -1 is the user's first camera; the newest frame at least DELAY old is shown.
    assert reg.snapshot({"alice.-1"}, 10.06)["alice.-1"].frame is first
    assert reg.snapshot({"alice.2"}, 10.10)["alice.2"].frame is second
    # Before any frame is old enough, the oldest stands in rather than nothing.
    assert reg.snapshot({"alice.2"}, 10.01)["alice.2"].frame is first


def test_unknown_stalled_and_gone_cameras_show_a_placeholder() -> None:
    reg = TrackRegistry(video_delay=DELAY)
    assert reg.snapshot({"nobody.-1"}, 0.0)["nobody.-1"].frame is None
    assert reg.snapshot({"nobody.-1"}, 0.0)["nobody.-1"].label == "nobody"
    push(reg, "bob", "0", frame(), 1.0)
    assert reg.snapshot({"bob.0"}, 1.0 + STALL_SECONDS - 0.1)["bob.0"].frame is not None
    assert reg.snapshot({"bob.0"}, 1.0 + STALL_SECONDS + 0.1)["bob.0"].frame is None
    push(reg, "bob", "0", frame(), 5.0)
    reg.user_left("bob")
    assert reg.snapshot({"bob.0"}, 5.1)["bob.0"].frame is None
    push(reg, "carol", "0", frame(), 1.0)
    reg.ended("carol", "0")
    assert reg.snapshot({"carol.0"}, 1.1)["carol.0"].frame is None


def test_current_share_is_the_latest_sharer() -> None:
    reg = TrackRegistry(video_delay=0.0)
    assert reg.snapshot({"*.screen"}, 0.0)["*.screen"].frame is None
    alice, bob = frame(), frame()
    push(reg, "alice", "screen", alice, 1.0)
    assert reg.snapshot({"*.screen"}, 1.1)["*.screen"].frame is alice
    push(reg, "bob", "screen", bob, 2.0)
    assert reg.snapshot({"*.screen"}, 2.1)["*.screen"].frame is bob, "changing hands"
    reg.ended("bob", "screen")
    assert reg.snapshot({"*.screen"}, 2.2)["*.screen"].frame is alice
    reg.user_left("alice")
    assert reg.snapshot({"*.screen", "alice.screen"}, 2.3) == {
        "*.screen": FrameRef(None, "*"),
        "alice.screen": FrameRef(None, "alice"),
    }
