"""Capture time: when a publisher's media was captured, on the recorder's clock.

A sender stamps each stream with RTP timestamps on a clock of that stream's
own, and relates each stream's clock to its own wall clock in RTCP sender
reports (an NTP time and the RTP timestamp of that instant, RFC 3550 6.4.1).
Through them a publisher's audio and video are read on that one wall clock,
and that clock onto ours by the least delayed of all its media
(recorder/arrival.py): the two streams of a publisher then stay together
whatever delays one of them on the way, and audio is placed by when it was
captured, as video is. Until a stream's first report (aiortc and browsers send
one within a second or two) its timestamps are read onto our clock by its own
least delayed media, as a stream apart.

Media captured at our time c is recorded at c + the room's playout delay
(:class:`Playout`): what the latest of its streams has come after its capture
of late, so that everything is there by its time, and the same for every
publisher, so that publishers are aligned by when they were captured.
"""

from __future__ import annotations

import math
from collections import deque

from recorder.arrival import RESTART_S, LeastDelay, Unwrapper

# RTP video payloads (VP8, H.264) are timestamped at 90 kHz (RFC 3551).
VIDEO_CLOCK_RATE = 90_000
# Video frames a stream's lateness is the median of: a second at 30 fps.
VIDEO_STEADY_FRAMES = 31
# The sender reports a stream's clock is fitted over: a minute and more at one
# a second, long enough that a report's own jitter (a sender that stamps it
# when it last sent, as aiortc does, is a few ms off) is averaged away, short
# enough to follow a clock that changes rate.
REPORTS_KEPT = 64
# Reports spanning less than this give no rate: the nominal one is used.
MIN_RATE_SPAN_S = 5.0
# A measured rate further than this from the nominal one is not a clock's
# drift (a crystal is off by well under 0.1 %) but a broken sender: ignored.
MAX_RATE_ERROR = 0.01

# The least playout delay: it covers a receive batch (recorder/receive.py), a
# tick of the audio clock and a video frame's decoding, with room to spare
# for a sender's usual jitter, so that a recording on a quiet network never
# has to change its delay.
BASE_DELAY_S = 0.140
# Added to the largest lateness measured: the next audio packet (which may
# carry the lost one's forward error correction) and a tick of the clocks.
MARGIN_S = 0.040
# Media later than this is dropped rather than the recording held further back.
MAX_DELAY_S = 1.0
# How fast a lateness peak is forgotten, so that the delay falls back when the
# network calms; audio follows the fall by playing a little faster, so this
# stays well inside what recorder/audio.py may change its rate by.
FALL_S_PER_S = 0.002
# Media this close to the peak lateness keeps the peak where it is.
KEEP_WITHIN_S = 0.010
# A delay that rises by more than this between two readings of it rose:
# sound and picture each wait out the rise from where sound had been played
# to (Playout.rose_from). Smaller moves are the slow fall read at moments a
# few ms apart (a decoding thread's, the loop's).
RISE_S = 0.005


class Playout:
    """The room's playout delay: media captured at our time c is recorded at
    c + ``delay(now)``. It rises at once to cover the latest media of any stream
    (plus a margin) and falls back slowly once media comes sooner again."""

    def __init__(self, base: float = BASE_DELAY_S) -> None:
        self._base = base
        self._peaks: dict[object, tuple[float, float]] = {}  # stream -> (peak, when)
        self._last = base  # the delay last read
        # The capture time sound has been played up to, and where it had got
        # to when the delay last rose.
        self._played = -math.inf
        self._rose_from = -math.inf
        self._before = base  # the delay before the last rise
        # How many times the delay has risen: each moves every sender's
        # frames against the video ticks (recorder/tracks.py).
        self.rises = 0

    def played(self, upto: float) -> None:
        """Sound captured up to ``upto`` (by the room's delay, before each
        person's picture lag, recorder/tracks.py) has been played."""
        self._played = max(self._played, upto)

    @property
    def rose_from(self) -> tuple[float, float]:
        """Where sound had been played up to when the delay last rose, and
        the delay before that rise: what was captured before that point was
        heard at that delay, and is shown at it too (recorder/tracks.py).
        Sound's blocks reach 20 ms past their tick, so a frame whose sound
        was heard may not have been shown yet; shown after the rise, it
        comes a whole rise after its sound."""
        return self._rose_from, self._before

    def late(self, stream: object, lateness: float, now: float) -> None:
        """Media of ``stream`` was handled ``lateness`` after its capture time."""
        held = self._held(stream, now)
        if lateness > held - KEEP_WITHIN_S:
            # A new peak, or one still reached: kept from falling, so that a
            # steady jitter keeps a steady delay (every rise is a wait heard).
            self._peaks[stream] = (min(max(lateness, held), MAX_DELAY_S), now)

    def forget(self, stream: object) -> None:
        self._peaks.pop(stream, None)

    def delay(self, now: float) -> float:
        # A copy: video decoding threads add streams while the loop reads.
        held = [(stream, self._held(stream, now)) for stream in tuple(self._peaks)]
        for stream, peak in held:
            if peak <= 0:  # forgotten: gone, or long on time
                self._peaks.pop(stream, None)
        need = max((peak for _, peak in held), default=0.0) + MARGIN_S
        delay = min(MAX_DELAY_S, max(self._base, need))
        if delay > self._last + RISE_S:
            self._rose_from, self._before = self._played, self._last
            self.rises += 1
        self._last = delay
        return delay

    def _held(self, stream: object, now: float) -> float:
        peak, at = self._peaks.get(stream, (0.0, now))
        return peak - FALL_S_PER_S * max(0.0, now - at)


class ReportedClock:
    """A stream's clock against its sender's wall clock, from sender reports:
    ``wall(ext)`` is when the sender captured timestamp ``ext`` (extended) on
    its wall clock. The line is fitted through the reports kept (least
    squares): a report's own jitter is averaged out, and a media clock that
    runs fast or slow against the wall clock (a sound card's crystal) is read
    at its measured rate."""

    def __init__(self, nominal_rate: int) -> None:
        self._nominal = nominal_rate
        self._reports: deque[tuple[int, float]] = deque(maxlen=REPORTS_KEPT)
        # The fitted line: through (ext, wall), the reports' means, at rate
        # ticks a second; one tuple, as a video decoding thread reads it.
        self._line = (0.0, 0.0, float(nominal_rate))

    @property
    def anchored(self) -> bool:
        return bool(self._reports)

    def report(self, extended: int, ntp_s: float) -> None:
        if self._reports and abs(self.wall(extended) - ntp_s) > RESTART_S:
            self._reports.clear()  # the sender started its clocks over
        self._reports.append((extended, ntp_s))
        self._fit()

    def _fit(self) -> None:
        # Relative to the first report: NTP seconds since 1900 leave a double
        # microseconds, and their squares would leave it nothing.
        ext0, wall0 = self._reports[0]
        exts = [ext - ext0 for ext, _ in self._reports]
        walls = [wall - wall0 for _, wall in self._reports]
        n = len(exts)
        mean_ext, mean_wall = sum(exts) / n, sum(walls) / n
        rate = float(self._nominal)
        if walls[-1] - walls[0] >= MIN_RATE_SPAN_S:
            var = sum((w - mean_wall) ** 2 for w in walls)
            cov = sum((w - mean_wall) * (e - mean_ext) for w, e in zip(walls, exts, strict=True))
            if abs(cov / var / self._nominal - 1) <= MAX_RATE_ERROR:
                rate = cov / var
        self._line = (ext0 + mean_ext, wall0 + mean_wall, rate)

    @property
    def rate(self) -> float:
        return self._line[2]

    def wall(self, extended: float) -> float:
        ext, wall, rate = self._line
        return wall + (extended - ext) / rate

    def extended_at(self, wall: float) -> float:
        ext, at, rate = self._line
        return ext + (wall - at) * rate


class StreamClock:
    """One received stream's timestamps on our clock: by its sender reports and
    ``sender``, the least delay of all its publisher's reported media (shared
    with the publisher's other streams), once it has one; by its own least
    delayed media before. Every placement tells ``playout`` how late it came;
    ``steady``: as the median of that many placements, for video, whose frames
    come late by themselves (a retransmission, a keyframe asked for) with the
    frames around them on time: a picture shown a little late is better than a
    playout delay raised for everyone, which sound pays for by waiting as long.
    A path that grows longer makes most frames late, and still counts."""

    def __init__(self, rate: int, sender: LeastDelay, playout: Playout, *, steady: int = 1) -> None:
        self._nominal = rate
        # How late it comes is the median of this many (1: each as it is).
        self._lateness: deque[float] = deque(maxlen=steady)
        self._sender = sender
        self._playout = playout
        self._unwrap = Unwrapper()
        self._reported = ReportedClock(rate)
        self._own = LeastDelay()
        # Whether its media have been read through its reports yet.
        self._joined = False

    @property
    def reading(self) -> int:
        """Which reading of its timestamps the stream's media get: 0 by its
        own least delayed media; then one more each time media of a stream of
        its sender are first read through reports (if less delayed, they move
        every capture time read through the sender's least delay)."""
        return self._sender.streams if self._joined else 0

    @property
    def rate(self) -> float:
        """Timestamps a second: as measured against the sender's wall clock
        once reports span long enough, else the nominal rate."""
        return self._reported.rate if self._reported.anchored else float(self._nominal)

    def report(self, rtp_timestamp: int, ntp_s: float) -> None:
        """A sender report: the sender's wall clock read ``ntp_s`` at
        ``rtp_timestamp``. Ignored before the stream's first media, whose
        timestamps it is read against."""
        if self._unwrap.started:
            self._reported.report(self._unwrap.near(rtp_timestamp), ntp_s)

    def place(self, timestamp: int, handled: float) -> tuple[int, float]:
        """The media stamped ``timestamp``, handled at ``handled``: its
        timestamp extended across wraps, and when it was captured on our clock."""
        extended = self._unwrap.extend(timestamp)
        if self._reported.anchored:
            wall = self._reported.wall(extended)
            captured = wall + self._sender.observe(wall, handled)
            if not self._joined:
                # The new reading begins with the first media that may move
                # the sender's least delay, not with the report: the sender's
                # media placed between the two are read as before, and are
                # counted so (a Chromium frame placed between its sound's
                # first report and next packet was counted new, 21 ms off).
                self._joined = True
                self._sender.streams += 1
        else:
            sent = extended / self._nominal
            captured = sent + self._own.observe(sent, handled)
        self._lateness.append(handled - captured)
        late = sorted(self._lateness)[len(self._lateness) // 2]
        self._playout.late(self, late, handled)
        return extended, captured

    def extended_at(self, when: float) -> float | None:
        """The (extended, fractional) timestamp captured at our time ``when``;
        None before the stream's first media."""
        if self._joined and self._sender.offset is not None:
            return self._reported.extended_at(when - self._sender.offset)
        if self._own.offset is None:
            return None
        return (when - self._own.offset) * self._nominal

    def close(self) -> None:
        self._playout.forget(self)
