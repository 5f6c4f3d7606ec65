"""The recent video frames of every video source in the room (cameras, screen
shares, shared media), and who is still there."""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from dataclasses import dataclass, field

import av

from cloudrec.sources import DEFAULT_CAMERA, SHARE_KINDS, SourceId

# A camera silent this long shows the placeholder instead of its frozen frame.
STALL_SECONDS = 3.0
# The audio path holds more than the video path: aiortc prefetches 4 audio
# packets (80 ms) and the audio buffers play a fixed delay after a batch
# (recorder/audio.py); a video frame counts from when it arrived
# (recorder/arrival.py). Video is shown this much late to match, as
# bench/avsync.py measured with publishers whose flash and beep leave them in
# sync: with the audio played 80 ms after a batch, 67 ms left sound 34, 42 and
# 48 ms late and 100 ms +4.8, +0.7, -8.1 and +3.6 ms; with 120 ms (now), 140 ms
# leaves it +5.2, +8.9 and +0.8 ms (the last a frame either side of its flash
# as the two clocks' phases met). It must also exceed a batch
# (recorder/receive.py), so that a frame is there by its time.
VIDEO_DELAY_S = 0.140
# Frames kept per camera: enough to look VIDEO_DELAY_S back at 60 fps.
HISTORY_FRAMES = 16


@dataclass
class CameraSlot:
    """Filled by the source's decoding thread, read on the event loop; times are
    ``time.monotonic()``, the clock of the loop's ``time()``."""

    user: str
    frames: deque[tuple[float, av.VideoFrame]] = field(
        default_factory=lambda: deque(maxlen=HISTORY_FRAMES)
    )
    gone: bool = False
    # Whether a layout shows it: an unshown source is not decoded (recorder/ingest.py).
    shown: bool = True
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def push(self, now: float, frame: av.VideoFrame) -> None:
        with self._lock:
            self.frames.append((now, frame))

    def frame_at(self, when: float) -> tuple[float, av.VideoFrame] | None:
        """The newest frame that arrived by ``when``, else the oldest kept."""
        chosen = None
        with self._lock:
            for item in self.frames:
                if item[0] > when:
                    break
                chosen = item
            if chosen is None and self.frames:
                chosen = self.frames[0]
        return chosen


@dataclass(frozen=True)
class FrameRef:
    """What a video content shows at one tick: a frame, or a placeholder label;
    ``age``: how long before the tick's media time the frame arrived."""

    frame: av.VideoFrame | None
    label: str
    age: float = 0.0


class TrackRegistry:
    """A slot per video source a publisher sends (a camera, a screen share, a
    shared file), found by what layouts name: a camera, a user's default
    camera, or whoever shares a kind now. Keeps a few recent frames per
    source: the mixer samples, it never queues."""

    def __init__(self, video_delay: float = VIDEO_DELAY_S) -> None:
        self._slots: dict[SourceId, CameraSlot] = {}
        self._default_cam: dict[str, int] = {}
        # Sharers of each kind in the order they started; the last one is shown.
        self._sharers: dict[str, list[str]] = {kind: [] for kind in SHARE_KINDS}
        self._delay = video_delay
        # Set whenever a source appears or ends: mode-1 recordings follow it.
        self.changed = asyncio.Event()

    def add(self, source: SourceId) -> CameraSlot:
        """``source``: one user's camera (by number) or share."""
        slot = self._slots[source] = CameraSlot(source.user)
        self.changed.set()
        if source.kind in SHARE_KINDS:
            sharers = self._sharers[source.kind]
            if source.user in sharers:
                sharers.remove(source.user)
            sharers.append(source.user)
        else:
            self._default_cam.setdefault(source.user, source.cam)
        return slot

    def ended(self, source: SourceId) -> None:
        slot = self._slots.get(source)
        if slot is not None:
            slot.gone = True
            self.changed.set()
        sharers = self._sharers.get(source.kind, [])
        if source.user in sharers:
            sharers.remove(source.user)

    def user_left(self, user: str) -> None:
        self.changed.set()
        for slot in self._slots.values():
            if slot.user == user:
                slot.gone = True
        self._default_cam.pop(user, None)
        for sharers in self._sharers.values():
            if user in sharers:
                sharers.remove(user)

    def present_users(self) -> set[str]:
        """Users with a video source that has not ended."""
        return {slot.user for slot in self._slots.values() if not slot.gone}

    def resolve(self, source: SourceId) -> CameraSlot | None:
        key = self.key_of(source)
        return self._slots[key] if key is not None else None

    def key_of(self, source: SourceId) -> SourceId | None:
        """The slot a layout's source (a default camera, whoever shares) shows now."""
        key = source
        if source.anyone:
            sharers = self._sharers.get(source.kind) or []
            if not sharers:
                return None
            key = SourceId.share(sharers[-1], source.kind)
        elif source.kind == "camera" and source.cam == DEFAULT_CAMERA:
            default = self._default_cam.get(source.user)
            if default is None:
                return None
            key = SourceId.camera(source.user, default)
        return key if key in self._slots else None

    def snapshot(self, sources: set[SourceId], now: float) -> dict[SourceId, FrameRef]:
        refs: dict[SourceId, FrameRef] = {}
        for source in sources:
            slot = self.resolve(source)
            label = source.user
            shown, age = None, 0.0
            if slot is not None and not slot.gone:
                item = slot.frame_at(now - self._delay)
                if item is not None and now - item[0] <= STALL_SECONDS:
                    shown, age = item[1], max(0.0, now - self._delay - item[0])
            refs[source] = FrameRef(shown, label, age)
        return refs
