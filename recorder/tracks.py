"""The recent video frames of every video source in the room (cameras, screen
shares, shared media), and who is still there."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import NamedTuple

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
# A tick shows the frame captured nearest its moment: up to half a frame early
# or late, by the phase of the sender's frames against our ticks, and that
# phase holds for as long as their clocks and the playout delay do. The sound
# of whoever is shown follows how late their picture is (CameraSlot.lag):
# the average of the first ticks that show it, then of about this long, so
# that a sender's frames that come a few ms either side of their rate are not
# heard, and a phase that turns (a sender's clock a little fast, a playout
# delay falling back) is followed through its turn rather than jumped with.
PICTURE_LAG_S = 5.0
# A frame shown further from its tick's moment than half the ticks' spacing
# and this (a sender's frames come a few ms either side of their rate) is no
# rounding: a picture frozen, late or still to come, which sound does not
# follow.
ROUNDING_SLACK_S = 0.005
# Numbers each estimate of a picture's lag, never the same twice: 0 is none.
_estimates = itertools.count(1)


@dataclass(frozen=True)
class PictureLag:
    """How much later than its capture a person's picture is shown, on
    average, and which estimate that is (0 while there is none): a new one
    starts when their camera is first shown and when its capture times are
    read anew (recorder/capture.py, StreamClock.reading), and sound jumps to
    it at once."""

    seconds: float = 0.0
    estimate: int = 0


# Sound that has no picture to follow: played as captured.
NO_LAG = PictureLag()


class Kept(NamedTuple):
    """A frame kept to be shown, captured at ``captured`` by the ``reading``
    of its stream's timestamps (StreamClock.reading)."""

    captured: float
    frame: av.VideoFrame
    reading: int


@dataclass
class CameraSlot:
    """Filled by the source's decoding thread, read on the event loop; times are
    capture times on ``time.monotonic()``, the clock of the loop's ``time()``
    (recorder/capture.py)."""

    user: str
    playout: Playout
    frames: deque[Kept] = field(default_factory=lambda: deque(maxlen=HISTORY_FRAMES))
    gone: bool = False
    # Whether a layout shows it: an unshown source is not decoded (recorder/ingest.py).
    shown: bool = True
    # How much older than its tick's moment the frame shown is; the ticks
    # and the reading of capture times it is averaged over (the loop's alone).
    lag: PictureLag = NO_LAG
    _lags: int = field(default=0, repr=False)
    _reading: int = field(default=0, repr=False)
    # The newest frame a tick has shown (the loop's alone).
    _shown: Kept | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def push(self, captured: float, frame: av.VideoFrame, now: float, reading: int = 0) -> None:
        """A frame captured at ``captured`` by the ``reading`` of its stream's
        timestamps, handled at ``now``."""
        # A late tick of the video clock may still look this far back.
        shown_from = now - self.playout.delay(now) - LATE_TICK_S
        with self._lock:
            self.frames.append(Kept(captured, frame, reading))
            # Older than the one shown now, a frame is never shown again.
            while len(self.frames) > 2 and self.frames[1].captured <= shown_from:
                self.frames.popleft()

    def shown_lagging(self, lag: float, spacing: float, reading: int) -> None:
        """A tick of a video clock whose ticks are ``spacing`` apart showed a
        frame captured ``lag`` before its moment, by the ``reading`` of its
        stream's timestamps."""
        if abs(lag) > spacing / 2 + ROUNDING_SLACK_S:
            return
        if reading != self._reading:
            # Every capture time moved with the reading: so did the lag.
            self._reading, self._lags = reading, 0
        lags = self._lags
        self._lags += 1
        if not lags:
            self.lag = PictureLag(lag, next(_estimates))
            return
        seconds = self.lag.seconds
        seconds += (lag - seconds) * max(1 / (lags + 1), spacing / PICTURE_LAG_S)
        self.lag = PictureLag(seconds, self.lag.estimate)

    def rephased(self) -> None:
        """Its frames moved against the ticks at once (a playout delay that
        rose): how late they are shown is estimated anew from the next tick."""
        self._lags = 0

    def frame_at(
        self,
        when: float,
        left_out: tuple[float, float] | None = None,
        onward: bool = False,
        heard: tuple[float, float] | None = None,
    ) -> Kept | None:
        """The frame captured nearest to ``when``, but not in the ``left_out``
        span of capture times where another is kept. The newest captured by then
        would show every frame up to a frame period after the sound captured
        with it (at 30 fps, 0 to 33 ms, by the phase of the sender's frames
        against our ticks); the nearest is within half a period either way.
        ``onward``: for a tick of a video clock, which never shows a frame
        older than one a tick showed before: when the playout delay rises the
        picture waits on the frame it shows, as sound waits on what it plays
        (recorder/stretch.py), rather than showing again what it just showed.
        ``heard``: the capture time its sound had been played to when the
        delay rose, and the moment ``when`` would be at the delay before the
        rise: the frames captured by then are shown at that delay, as their
        sound was heard, before the picture waits."""
        with self._lock:
            frames = list(self.frames)
        if onward and self._shown is not None:
            # The newest shown, found by identity: capture times may have been
            # read anew since, and a frame pruned is older than all kept.
            for n in range(len(frames) - 1, -1, -1):
                if frames[n] is self._shown:
                    frames = frames[n:]
                    break
        if left_out is not None:
            start, end = left_out
            frames = [f for f in frames if not start < f.captured < end] or frames
        kept = min(frames, key=lambda kept: abs(kept.captured - when), default=None)
        if kept is not None and heard is not None and kept.captured <= heard[0]:
            upto, before = heard
            frames = [f for f in frames if f.captured <= upto]
            kept = min(frames, key=lambda kept: abs(kept.captured - before))
        if onward and kept is not None:
            self._shown = kept
        return kept


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
        # The playout delay's rises as of the last tick of a video clock.
        self._rises = 0

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

    def picture_lag(self, sound: SoundId) -> PictureLag:
        """How much later than its capture the picture of whoever makes
        ``sound`` is shown (CameraSlot.lag): their camera's, or the shared
        file's. Played as much later, sound stays with it."""
        if sound.shared_file:
            source = SourceId.share(sound.user, "media")
        else:
            source = SourceId.camera(sound.user)
        slot = self.resolve(source)
        return slot.lag if slot is not None else NO_LAG

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
        self,
        sources: set[SourceId],
        now: float,
        left_out: tuple[float, float] | None = None,
        spacing: float | None = None,
    ) -> dict[SourceId, FrameRef]:
        """What each source shows at output time ``now``: what was captured
        the playout delay before (not in the ``left_out`` capture times, where
        another frame is kept). ``spacing``: where ``now`` is a tick of a
        video clock, its ticks' spacing; how late each picture is shown on
        them is then kept (CameraSlot.lag), and no picture goes back to a
        frame older than one a tick showed."""
        refs: dict[SourceId, FrameRef] = {}
        shown_from = now - self.playout.delay(now)
        rose_from, before = self.playout.rose_from
        if spacing is not None and self.playout.rises != self._rises:
            # A rise moves every sender's frames against the ticks (by the
            # rise, modulo a frame): how late each is shown is estimated anew.
            self._rises = self.playout.rises
            for each in self._slots.values():
                each.rephased()
        for source in sources:
            slot = self.resolve(source)
            label = source.user
            shown, age = None, 0.0
            if slot is not None and not slot.gone:
                if spacing is None:
                    kept = slot.frame_at(shown_from, left_out)
                else:
                    heard = (rose_from - slot.lag.seconds, now - before)
                    kept = slot.frame_at(shown_from, left_out, onward=True, heard=heard)
                if kept is not None and shown_from - kept.captured <= STALL_SECONDS:
                    shown, age = kept.frame, max(0.0, shown_from - kept.captured)
                    if spacing is not None:
                        slot.shown_lagging(shown_from - kept.captured, spacing, kept.reading)
            refs[source] = FrameRef(shown, label, age)
        return refs
