"""The recent video frames of every camera in the room, and who is still there."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import av

# A camera silent this long shows the placeholder instead of its frozen frame.
STALL_SECONDS = 3.0
# The audio path holds more than the video path: aiortc prefetches 4 audio
# packets (80 ms) and the mixer's buffer keeps its pre-roll; video goes to the
# mix as soon as it is decoded. Video is shown this much late to match;
# bench/avsync.py measures what is left (see bench/README.md).
VIDEO_DELAY_S = 0.045
# Frames kept per camera: enough to look VIDEO_DELAY_S back at 60 fps.
HISTORY_FRAMES = 16


@dataclass
class CameraSlot:
    user: str
    frames: deque[tuple[float, av.VideoFrame]] = field(
        default_factory=lambda: deque(maxlen=HISTORY_FRAMES)
    )
    gone: bool = False

    def frame_at(self, when: float) -> tuple[float, av.VideoFrame] | None:
        """The newest frame that arrived by ``when``, else the oldest kept."""
        chosen = None
        for item in self.frames:
            if item[0] > when:
                break
            chosen = item
        if chosen is None and self.frames:
            chosen = self.frames[0]
        return chosen


@dataclass(frozen=True)
class FrameRef:
    """What a video content shows at one tick: a frame, or a placeholder label."""

    frame: av.VideoFrame | None
    label: str


class TrackRegistry:
    """Keyed by camid (``"alice.-1"`` and ``"alice.0"`` both name alice's default
    camera). Keeps a few recent frames per camera: the mixer samples, it never
    queues."""

    def __init__(self, video_delay: float = VIDEO_DELAY_S) -> None:
        self._slots: dict[str, CameraSlot] = {}
        self._default_cam: dict[str, int] = {}
        self._delay = video_delay

    def add_camera(self, user: str, cam_id: int) -> CameraSlot:
        slot = self._slots[f"{user}.{cam_id}"] = CameraSlot(user)
        self._default_cam.setdefault(user, cam_id)
        return slot

    def update(self, user: str, cam_id: int, frame: av.VideoFrame, now: float) -> None:
        slot = self._slots.get(f"{user}.{cam_id}") or self.add_camera(user, cam_id)
        slot.frames.append((now, frame))
        slot.gone = False

    def camera_ended(self, user: str, cam_id: int) -> None:
        slot = self._slots.get(f"{user}.{cam_id}")
        if slot is not None:
            slot.gone = True

    def user_left(self, user: str) -> None:
        for slot in self._slots.values():
            if slot.user == user:
                slot.gone = True
        self._default_cam.pop(user, None)

    def resolve(self, camid: str) -> CameraSlot | None:
        user, _, cam = camid.rpartition(".")
        if cam == "-1":
            default = self._default_cam.get(user)
            if default is None:
                return None
            cam = str(default)
        return self._slots.get(f"{user}.{cam}")

    def snapshot(self, camids: set[str], now: float) -> dict[str, FrameRef]:
        refs: dict[str, FrameRef] = {}
        for camid in camids:
            slot = self.resolve(camid)
            label = camid.rpartition(".")[0]
            shown = None
            if slot is not None and not slot.gone:
                item = slot.frame_at(now - self._delay)
                if item is not None and now - item[0] <= STALL_SECONDS:
                    shown = item[1]
            refs[camid] = FrameRef(shown, label)
        return refs
