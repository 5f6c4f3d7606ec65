"""When a received video frame arrived, read from its RTP timestamp.

The recorder handles packets in batches (recorder/receive.py), so a frame is
handled up to a batch after it came, and at 30 fps with 40 ms batches two
frames can be handled at once. Frames picked by when they were handled were
shown a tick early or late at random: bench.avsync saw the offset within one
recording jump by a frame and back. A frame carries its capture time on the
sender's clock (its RTP timestamp). The least delayed of recent frames gives
the offset between that clock and ours, and a frame's arrival is its timestamp
plus that offset: when it would have been handled had it not waited for its
batch. The batches' phase against the frames' drifts, so some frame waits
almost nothing every few hundred milliseconds.
"""

from __future__ import annotations

# RTP video payloads (VP8, H.264) are timestamped at 90 kHz (RFC 3551).
VIDEO_CLOCK_RATE = 90_000
_WRAP = 1 << 32
# How fast the offset may rise while no frame confirms it. Far above a sender
# clock's drift (~0.1 ms/s), so a slow clock or a longer network path is
# followed within seconds; far below a batch's spread, which the minimum
# would otherwise follow back up between the least delayed frames.
RISE_S_PER_S = 0.002
# A timestamp this far from the estimate is a new timeline (the sender
# restarted or skipped), not delay: the estimate starts again from it.
RESTART_S = 1.0


class ArrivalClock:
    """One stream's sender clock, mapped onto ours (``time.monotonic()``)."""

    def __init__(self, rate: int = VIDEO_CLOCK_RATE) -> None:
        self._rate = rate
        self._last: int | None = None  # the previous timestamp, as sent
        self._extended = 0  # the previous timestamp, counted across wraps
        self._offset = 0.0  # ours minus theirs, for the least delayed frame
        self._at = 0.0  # when the offset was last updated

    def arrival(self, timestamp: int, handled: float) -> float:
        """When the frame stamped ``timestamp`` arrived; ``handled``: when it
        was handled, which is that or later."""
        last = self._last
        if last is None:
            self._extended = timestamp
        else:
            # Signed distance from the previous one: reordered frames go back.
            step = (timestamp - last) % _WRAP
            self._extended += step - _WRAP if step >= _WRAP // 2 else step
        self._last = timestamp
        sent = self._extended / self._rate
        offset = handled - sent
        risen = self._offset + RISE_S_PER_S * (handled - self._at)
        if last is None or abs(offset - self._offset) > RESTART_S:
            self._offset = offset
        else:
            self._offset = min(offset, risen)
        self._at = handled
        return sent + self._offset
