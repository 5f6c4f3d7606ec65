"""The recent video frames of every video source in the room (cameras, screen
shares, shared media), and who is still there."""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

import av

from cloudrec.sources import DEFAULT_CAMERA, SHARE_KINDS, SoundId, SourceId
from recorder.capture import Playout

# A camera silent this long shows the placeholder instead of its frozen frame.
STALL_SECONDS = 3.0
# Frames kept per source at most: a second's worth at 60 fps, the longest
# playout delay (recorder/capture.py); fewer are kept while it is shorter.
HISTORY_FRAMES = 64
# How late a tick of the video clock may run and still find its frame kept.
LATE_TICK_S = 0.2
# A tick shows the frame captured nearest its moment, up to half a frame
# either side by the phase of the sender's frames against our ticks, and that
# phase holds for as long as their clocks do. The sound of whoever is shown
# follows their picture's lag, averaged over this long: slow enough that
# following it reads sound at most 0.33 % off its rate at 30 fps (half a
# frame, 16.7 ms, in 5 s), under recorder/audio.py's unheard 0.5 % (at 15 fps
# 0.66 % at first, which the reader catches up with in a second), and that a
# phase that turns (a sender's clock a little fast) is followed through its
# turn rather than jumped with.
PICTURE_LAG_S = 5.0
# A frame shown further from its tick's moment than half the ticks' spacing
# and this (a sender's frames come a few ms either side of their rate) is no
# rounding: a picture frozen, late or still to come, which sound does not
# follow.
ROUNDING_SLACK_S = 0.005


@dataclass
class CameraSlot:
    """Filled by the source's decoding thread, read on the event loop; times are
    capture times on ``time.monotonic()``, the clock of the loop's ``time()``
    (recorder/capture.py)."""

    user: str
    playout: Playout
    frames: deque[tuple[float, av.VideoFrame]] = field(
        default_factory=lambda: deque(maxlen=HISTORY_FRAMES)
    )
    gone: bool = False
    # Whether a layout shows it: an unshown source is not decoded (recorder/ingest.py).
    shown: bool = True
    # How much older than its tick's moment the frame shown is, averaged over
    # PICTURE_LAG_S (the loop's alone); and the output time it was last told.
    lag: float = 0.0
    _seen_at: float | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def push(self, captured: float, frame: av.VideoFrame, now: float) -> None:
        """A frame captured at ``captured``, handled at ``now``."""
        # A late tick of the video clock may still look this far back.
        shown_from = now - self.playout.delay(now) - LATE_TICK_S
        with self._lock:
            self.frames.append((captured, frame))
            # Older than the one shown now, a frame is never shown again.
            while len(self.frames) > 2 and self.frames[1][0] <= shown_from:
                self.frames.popleft()

    def shown_lagging(self, lag: float, now: float) -> None:
        """A tick at output time ``now`` showed a frame captured ``lag``
        before its moment."""
        seen, self._seen_at = self._seen_at, now
        if seen is None:
            return
        spacing = now - seen
        if spacing > 0 and abs(lag) <= spacing / 2 + ROUNDING_SLACK_S:
            self.lag += (lag - self.lag) * min(1.0, spacing / PICTURE_LAG_S)

    def frame_at(
        self, when: float, left_out: tuple[float, float] | None = None
    ) -> tuple[float, av.VideoFrame] | None:
        """The frame captured nearest to ``when``, but not in the ``left_out``
        span of capture times where another is kept. The newest captured by then
        would show every frame up to a frame period after the sound captured
        with it (at 30 fps, 0 to 33 ms, by the phase of the sender's frames
        against our ticks); the nearest is within half a period either way."""
        with self._lock:
            frames: Iterable[tuple[float, av.VideoFrame]] = self.frames
            if left_out is not None:
                start, end = left_out
                frames = [f for f in self.frames if not start < f[0] < end] or self.frames
            return min(frames, key=lambda item: abs(item[0] - when), default=None)


@dataclass(frozen=True)
class FrameRef:
    """What a video content shows at one tick: a frame, or a placeholder label;
    ``age``: how long before the tick's media time the frame was captured."""

    frame: av.VideoFrame | None
    label: str
    age: float = 0.0


class TrackRegistry:
    """A slot per video source a publisher sends (a camera, a screen share, a
    shared file), found by what layouts name: a camera, a user's default
    camera, or whoever shares a kind now. Keeps a few recent frames per
    source: the mixer samples, it never queues."""

    def __init__(self, playout: Playout | None = None) -> None:
        self.playout = playout or Playout()
        self._slots: dict[SourceId, CameraSlot] = {}
        self._default_cam: dict[str, int] = {}
        # Sharers of each kind in the order they started; the last one is shown.
        self._sharers: dict[str, list[str]] = {kind: [] for kind in SHARE_KINDS}
        # Set whenever a source appears or ends: mode-1 recordings follow it.
        self.changed = asyncio.Event()

    def add(self, source: SourceId) -> CameraSlot:
        """``source``: one user's camera (by number) or share."""
        slot = self._slots[source] = CameraSlot(source.user, self.playout)
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

    def picture_lag(self, sound: SoundId) -> float:
        """How much later than its capture the picture of whoever makes
        ``sound`` is shown, on average (CameraSlot.lag): their camera's, or
        the shared file's. Played as much later, sound stays with it."""
        if sound.shared_file:
            source = SourceId.share(sound.user, "media")
        else:
            source = SourceId.camera(sound.user)
        slot = self.resolve(source)
        return slot.lag if slot is not None else 0.0

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

    def snapshot(
        self, sources: set[SourceId], now: float, left_out: tuple[float, float] | None = None
    ) -> dict[SourceId, FrameRef]:
        """What each source shows at output time ``now``: what was captured
        the playout delay before (not in the ``left_out`` capture times, where
        another frame is kept)."""
        refs: dict[SourceId, FrameRef] = {}
        shown_from = now - self.playout.delay(now)
        for source in sources:
            slot = self.resolve(source)
            label = source.user
            shown, age = None, 0.0
            if slot is not None and not slot.gone:
                item = slot.frame_at(shown_from, left_out)
                if item is not None and shown_from - item[0] <= STALL_SECONDS:
                    shown, age = item[1], max(0.0, shown_from - item[0])
                    slot.shown_lagging(shown_from - item[0], now)
            refs[source] = FrameRef(shown, label, age)
        return refs
