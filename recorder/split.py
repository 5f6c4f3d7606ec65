"""A file output split into parts at ``maxFileSeconds`` or ``maxFileBytes``.

Each part is a whole file (``demo.mp4``, then ``demo.part2.mp4``, ...) that
starts with a keyframe (its encoder is new) at the frame where the last one
ended: every frame is in exactly one part, and every sample of sound too.

The sound of a part ends on a whole frame of its codec (AAC's 1024 samples)
at or just after the cut, so no part ends in padding; the next part's sound
starts with the following sample, at most one codec frame (21 ms) after its
first picture, where it belongs on its timeline. A cut by length is known
ahead, so whichever of picture and sound reaches it first opens the next
part; a cut by size is decided by the picture, and sound written past it by
then (up to one audio job, 100 ms) stays in the part it is in. The previous
part stays open until both have passed the cut."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from cloudrec.contract import OutputInfo
from cloudrec.wire import OutputSpec, OutputState, VideoCfg, first_part_name, part_name, part_of
from recorder.outputs import AUDIO_RATE, FileOutput

# Opens the file of a part, reserved as any output's file (OSError when it
# cannot: the output then fails as a full disk would fail it).
OpenPart = Callable[[OutputSpec], FileOutput]


class SplitFile:
    """Not thread-safe; one writer thread (the mixer's)."""

    def __init__(
        self,
        first: FileOutput,
        open_part: OpenPart,
        video: VideoCfg | None,
        on_part: Callable[[OutputInfo], None],
    ) -> None:
        """``first``: the first part, opened; ``on_part`` hears of each later
        part's opening, and of each part's closing but the last's (the mixer
        reports that one as any output's)."""
        self.spec = first.spec
        self._open_part = open_part
        self._video = video
        self._on_part = on_part
        self._part = part_of(first.spec.filename)
        self._current = first
        # Where the current part begins on the whole timelines, and the first
        # sample of sound it was given.
        self._start_frame = 0
        self._start_sample = 0
        self._first_sample: int | None = None
        # The previous part, open until picture and sound have passed the cut.
        self._previous: FileOutput | None = None
        self._previous_start_frame = 0
        self._previous_start_sample = 0
        self._previous_end_sample = 0  # its sound ends here
        self._picture_past = True
        self._sound_past = True
        self._written_sample = 0  # the end of the sound written so far

    @property
    def mixer_id(self) -> str:
        return self._current.mixer_id

    @property
    def path(self) -> Path:
        return self._current.path

    @property
    def state(self) -> OutputState:
        return self._current.state

    def write_video(self, frame: av.VideoFrame) -> None:
        """``frame.pts`` counts the whole file's frames."""
        assert self._video is not None
        pts = frame.pts or 0
        length = Fraction(pts - self._start_frame, self._video.frame_rate)
        if self._previous is None and length > 0 and self._over(length):
            self._cut(pts, self._sample_of(pts))
        if self._previous is not None and pts < self._start_frame:
            frame.pts = pts - self._previous_start_frame
            self._previous.write_video(frame)
            return
        frame.pts = pts - self._start_frame
        self._current.write_video(frame)
        if self._previous is not None:
            self._picture_past = True
            self._close_previous_if_past()

    def write_audio(self, frame: av.AudioFrame) -> None:
        """``frame.pts`` counts the whole file's samples."""
        origin = start = frame.pts or 0
        end = start + frame.samples
        if self._previous is None:
            self._cut_by_sound(start, end)
        if self._previous is not None:
            boundary = self._previous_end_sample
            if start < boundary:
                pts = start - self._previous_start_sample
                self._previous.write_audio(_samples(frame, 0, min(end, boundary) - start, pts))
            if end >= boundary:
                self._sound_past = True
                self._close_previous_if_past()
            start = max(start, boundary)
        if start < end:
            piece = _samples(frame, start - origin, frame.samples, start - self._start_sample)
            if self._first_sample is None:
                self._first_sample = start
            self._current.write_audio(piece)
        self._written_sample = end

    def close(self) -> None:
        if self._previous is not None:
            self._close_previous()
        self._current.close()

    def fail(self, code: int) -> None:
        if self._previous is not None:
            self._previous.fail(code)
            self._on_part(self._previous.info())
            self._previous = None
        self._current.fail(code)

    def info(self) -> OutputInfo:
        """The current part's."""
        return self._current.info()

    # -- cutting ---------------------------------------------------------------------

    def _sample_of(self, frame: int) -> int:
        assert self._video is not None
        return frame * AUDIO_RATE // self._video.frame_rate

    def _over(self, seconds: Fraction) -> bool:
        too_long = bool(self.spec.max_seconds) and seconds >= self.spec.max_seconds
        return too_long or self._too_big()

    def _too_big(self) -> bool:
        return bool(self.spec.max_bytes) and self._current.size >= self.spec.max_bytes

    def _cut_by_sound(self, start: int, end: int) -> None:
        """Sound that reaches a cut by length before the picture does makes it;
        sound alone is also cut by size, where a block begins."""
        if self._video is not None:
            if self.spec.max_seconds:
                frame = self._start_frame + self.spec.max_seconds * self._video.frame_rate
                if end > self._sample_of(frame):
                    self._cut(frame, self._sample_of(frame))
            return
        planned = self._start_sample + self.spec.max_seconds * AUDIO_RATE
        if self.spec.max_seconds and end > planned:
            self._cut(0, self._aligned(planned))
        elif start > self._start_sample and self._too_big():
            self._cut(0, self._aligned(start))

    def _aligned(self, sample: int) -> int:
        """The first sample at or after ``sample`` that ends a whole codec frame
        of the current part's sound (its encoder open, so it knows its frame):
        the part's sound then ends without padding."""
        first = self._first_sample
        size = self._current.audio_frame_size
        if first is None or size <= 1 or sample <= first:
            return sample
        return first + -(-(sample - first) // size) * size

    def _cut(self, frame: int, sample: int) -> None:
        """The next part begins with ``frame`` and, at the same instant, ``sample``."""
        # What was written past the cut already stays where it is.
        self._previous_end_sample = max(self._aligned(sample), self._written_sample)
        self._part += 1
        name = part_name(first_part_name(self.spec.filename), self._part)
        following = self._open_part(replace(self.spec, filename=name))
        self._previous, self._current = self._current, following
        self._previous_start_frame, self._previous_start_sample = (
            self._start_frame,
            self._start_sample,
        )
        self._start_frame, self._start_sample = frame, sample
        self._first_sample = None
        self._picture_past = self._video is None
        self._sound_past = (
            not self._previous.has_audio or self._written_sample >= self._previous_end_sample
        )
        self._on_part(following.info())
        self._close_previous_if_past()

    def _close_previous_if_past(self) -> None:
        if self._previous is not None and self._picture_past and self._sound_past:
            self._close_previous()

    def _close_previous(self) -> None:
        assert self._previous is not None
        self._previous.close()
        self._on_part(self._previous.info())
        self._previous = None


def _samples(frame: av.AudioFrame, start: int, end: int, pts: int) -> av.AudioFrame:
    """Samples ``start`` to ``end`` of the planar float ``frame``, at ``pts``."""
    if start == 0 and end == frame.samples:
        frame.pts = pts
        return frame
    samples = np.ascontiguousarray(frame.to_ndarray()[:, start:end], np.float32)
    piece = av.AudioFrame.from_ndarray(samples, format=frame.format.name, layout=frame.layout.name)
    piece.sample_rate = frame.sample_rate
    piece.pts = pts
    return piece
