"""The latest video frame of every camera in the room, and who is still there."""

from __future__ import annotations

from dataclasses import dataclass

import av

# A camera silent this long shows the placeholder instead of its frozen frame.
STALL_SECONDS = 3.0


@dataclass
class CameraSlot:
    user: str
    frame: av.VideoFrame | None = None
    received_at: float = 0.0
    gone: bool = False


@dataclass(frozen=True)
class FrameRef:
    """What a video content shows at one tick: a frame, or a placeholder label."""

    frame: av.VideoFrame | None
    label: str


class TrackRegistry:
    """Keyed by camid (``"alice.-1"`` and ``"alice.0"`` both name alice's default
    camera). Keeps only the newest frame: the mixer samples, it never queues."""

    def __init__(self) -> None:
        self._slots: dict[str, CameraSlot] = {}
        self._default_cam: dict[str, int] = {}

    def add_camera(self, user: str, cam_id: int) -> None:
        self._slots[f"{user}.{cam_id}"] = CameraSlot(user)
        self._default_cam.setdefault(user, cam_id)

    def update(self, user: str, cam_id: int, frame: av.VideoFrame, now: float) -> None:
        slot = self._slots.get(f"{user}.{cam_id}")
        if slot is None:
            self.add_camera(user, cam_id)
            slot = self._slots[f"{user}.{cam_id}"]
        slot.frame = frame
        slot.received_at = now
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
            live = slot is not None and not slot.gone and now - slot.received_at <= STALL_SECONDS
            refs[camid] = FrameRef(slot.frame if live and slot is not None else None, label)
        return refs
