"""When a recording is paused, on the output clocks' timeline (loop seconds)."""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from fractions import Fraction

# Ticks and boundaries are sums of float seconds: within this they are one instant.
ON_GRID_S = 1e-6


def common_grid(frame_rates: list[int], audio_tick: Fraction) -> Fraction:
    """The shortest span that is a whole number of every clock's ticks: the
    video clocks' (1 / frame rate) and the audio clock's."""
    rates = [*frame_rates, int(1 / audio_tick)]
    return Fraction(1, math.gcd(*rates))


class Pauses:
    """The paused spans of one session. A span starts ``delay(now)`` after the
    pause call and ends ``delay(now)`` after the resume call (the clocks play
    media that much after its capture, so what is captured while paused is
    what is left out), each boundary on a point of ``grid`` from the clocks'
    start: every clock then skips the same whole number of its ticks, so sound
    and picture leave out exactly the same time and stay in sync to the sample.
    A start is put off to the next grid point, an end likewise; between the
    start's own instant and its grid point the recording goes on but shows
    nothing new (:meth:`hidden_from`: the picture as it was; :meth:`unheard`:
    silence), so that nothing captured after the pause call reaches a
    recording."""

    def __init__(self, delay: Callable[[float], float], grid: Fraction) -> None:
        self._delay = delay
        self._grid = float(grid)
        self.origin = 0.0  # when the clocks started (their tick 0)
        self._starts: list[float] = []
        self._ends: list[float] = []  # one fewer than starts while paused
        self._instants: list[float] = []  # each start's own instant, before its grid point
        # When each pause and resume was called: media captured between the two
        # is left out, and a tick outside the spans shows nothing of it.
        self._paused_at: list[float] = []
        self._resumed_at: list[float] = []

    @property
    def paused(self) -> bool:
        return len(self._ends) < len(self._starts)

    def pause(self, now: float) -> None:
        if self.paused:
            raise ValueError("already paused")
        instant = now + self._delay(now)
        self._starts.append(self._on_grid(instant))
        self._instants.append(instant)
        self._paused_at.append(now)

    def pause_from(self, when: float) -> None:
        """Paused from output time ``when`` on, with nothing before it to play out
        (a recording that starts paused)."""
        if self.paused:
            raise ValueError("already paused")
        self._starts.append(when)
        self._instants.append(when)
        self._paused_at.append(when)

    def resume(self, now: float) -> None:
        if not self.paused:
            raise ValueError("not paused")
        self._ends.append(self._on_grid(now + self._delay(now)))
        self._resumed_at.append(now)

    def covers(self, when: float) -> bool:
        """Whether output time ``when`` falls in a paused span."""
        when += ON_GRID_S  # a tick on a boundary, computed a hair before it, is on it
        i = bisect.bisect_right(self._starts, when) - 1
        return i >= 0 and (i >= len(self._ends) or when < self._ends[i])

    def hidden_from(self, when: float) -> float | None:
        """Where output time ``when`` is between a pause's own instant and its
        span's start: that instant, from which nothing new is shown."""
        i = bisect.bisect_right(self._starts, when + ON_GRID_S)
        if i < len(self._starts) and self._instants[i] <= when < self._starts[i]:
            return self._instants[i]
        return None

    def unheard(self, when: float, length: float) -> tuple[float, float] | None:
        """The part (from, to), in seconds into the ``length`` seconds of sound
        played from output time ``when``, that falls from a pause's own
        instant to its span's end: captured after its call and before its
        resume's, it is silence. None where none does. Sound is played as
        much later as its picture is shown (recorder/tracks.py), so its
        blocks are told apart by its time rather than by the ticks'."""
        until = when + length
        parts = []
        # The pauses whose instant is before the block ends, the last two: a
        # block is shorter than a pause and the time between two.
        last = bisect.bisect_left(self._instants, until)
        for i in range(max(0, last - 2), last):
            end = self._ends[i] if i < len(self._ends) else math.inf
            start, stop = max(when, self._instants[i]), min(until, end)
            if start < stop - ON_GRID_S:
                parts.append((start - when, stop - when))
        if not parts:
            return None
        return min(p[0] for p in parts), max(p[1] for p in parts)

    def left_out(self, when: float) -> tuple[float, float] | None:
        """The capture times (from, to) a tick at output time ``when`` must
        not show, next to a span: after the call of a pause still to come, or
        between the calls of the last one. A picture is shown by the frame
        captured nearest its time, up to half a frame either side, which
        would otherwise reach into the paused time. None where none is near."""
        i = bisect.bisect_right(self._starts, when + ON_GRID_S)
        if i < len(self._starts):
            return self._paused_at[i], math.inf
        if 0 < i <= len(self._ends):
            return self._paused_at[i - 1], self._resumed_at[i - 1]
        return None

    def _on_grid(self, when: float) -> float:
        steps = math.ceil(round((when - self.origin) / self._grid, 9))
        return self.origin + steps * self._grid
