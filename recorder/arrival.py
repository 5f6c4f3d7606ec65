"""The two pieces of reading a stream's timing from its packets: RTP timestamps
counted across their wrap, and the least delay a stream's media has come with.

The recorder handles packets in batches (recorder/receive.py), so media is
handled up to a batch after it came, and the network adds its own jitter. What
was handled soonest after it was sent is the best guide to the offset between
the sender's clock and ours: the offset the least delayed of recent media gives
is taken, and let rise slowly while nothing confirms it (a slow sender clock,
a longer path). The batches' phase against the senders' packets drifts, so some
packet waits almost nothing every few hundred milliseconds.
"""

from __future__ import annotations

_WRAP = 1 << 32
# How fast the offset may rise while no media confirms it. Far above a sender
# clock's drift (~0.1 ms/s), so a slow clock or a longer network path is
# followed within seconds; far below a batch's spread, which the minimum
# would otherwise follow back up between the least delayed packets.
RISE_S_PER_S = 0.002
# An offset this far above the estimate is a new timeline (the sender restarted
# or stepped its clock back), not delay, once media has kept to it for
# RESTART_HOLD_S: the estimate then starts again from it.
RESTART_S = 1.0
# Until then it is media come late. A sender's streams share one estimate, and
# one of them can lag the others by more than RESTART_S while they confirm it
# (Chromium's video, its encoder short of CPU, over a second behind its sound):
# taken at once, each late frame moved the estimate up and the next packet of
# sound moved it back, and every frame was read as captured when it came.
RESTART_HOLD_S = 0.5


class Unwrapper:
    """A stream's 32-bit RTP timestamps as one count that never wraps."""

    def __init__(self) -> None:
        self._last: int | None = None  # the previous timestamp, as sent
        self._extended = 0  # the previous timestamp, counted across wraps

    @property
    def started(self) -> bool:
        return self._last is not None

    def extend(self, timestamp: int) -> int:
        """``timestamp`` counted across wraps; a reordered one counts back."""
        self._extended = self.near(timestamp)
        self._last = timestamp
        return self._extended

    def near(self, timestamp: int) -> int:
        """``timestamp`` extended to the count nearest the previous one, which
        it leaves as it is (a sender report's timestamp, say)."""
        if self._last is None:
            return timestamp
        step = (timestamp - self._last) % _WRAP
        return self._extended + (step - _WRAP if step >= _WRAP // 2 else step)


class LeastDelay:
    """Ours minus theirs for the least delayed of recent media."""

    def __init__(self) -> None:
        self.offset: float | None = None
        self._at = 0.0  # when the offset was last updated
        # When media began to come RESTART_S and more above the estimate, with
        # none nearer since; None while media keeps to it.
        self._above_since: float | None = None
        # The streams whose media it has taken, so far: one that joins may
        # come with less delay than the others and move the offset at once.
        self.streams = 0

    def observe(self, sent: float, handled: float) -> float:
        """The offset after media sent at ``sent`` (their clock) was handled at
        ``handled`` (ours)."""
        offset = handled - sent
        if self.offset is not None and offset - self.offset > RESTART_S:
            if self._above_since is None:
                self._above_since = handled
            if handled - self._above_since < RESTART_HOLD_S:
                return self.offset
            self.offset = None
        self._above_since = None
        if self.offset is None:
            self.offset = offset
        else:
            # Far below is the least delay yet, taken as any lower one is.
            self.offset = min(offset, self.offset + RISE_S_PER_S * (handled - self._at))
        self._at = handled
        return self.offset
