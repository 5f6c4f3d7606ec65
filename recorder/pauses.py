"""When a recording is paused, on the output clocks' timeline (loop seconds)."""

from __future__ import annotations

import bisect


class Pauses:
    """The paused spans of one session. A span starts ``delay`` after the pause
    call and ends ``delay`` after the resume call: the clocks play media that
    much after it arrives, so what arrives while paused is what is left out,
    and audio and video skip the same span, staying in sync."""

    def __init__(self, delay: float) -> None:
        self._delay = delay
        self._starts: list[float] = []
        self._ends: list[float] = []  # one fewer than starts while paused

    @property
    def paused(self) -> bool:
        return len(self._ends) < len(self._starts)

    def pause(self, now: float) -> None:
        if self.paused:
            raise ValueError("already paused")
        self._starts.append(now + self._delay)

    def pause_from(self, when: float) -> None:
        """Paused from output time ``when`` on, with nothing before it to play out
        (a recording that starts paused)."""
        if self.paused:
            raise ValueError("already paused")
        self._starts.append(when)

    def resume(self, now: float) -> None:
        if not self.paused:
            raise ValueError("not paused")
        self._ends.append(now + self._delay)

    def covers(self, when: float) -> bool:
        """Whether output time ``when`` falls in a paused span."""
        i = bisect.bisect_right(self._starts, when) - 1
        return i >= 0 and (i >= len(self._ends) or when < self._ends[i])
