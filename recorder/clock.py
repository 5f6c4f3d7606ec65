"""The fixed-rate output clock: tick n is due at start + n / rate, never skipped."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from fractions import Fraction

# A tick that starts this late counts as late in the stats (half a 30 fps frame).
LATE_TOLERANCE_S = 0.016


@dataclass
class ClockStats:
    ticks: int = 0
    late_ticks: int = 0


async def ticks(
    start: float, period: Fraction, stats: ClockStats, loop: asyncio.AbstractEventLoop
) -> AsyncIterator[int]:
    """Yields 0, 1, 2, ... each at its due time on ``loop.time()``.

    A tick is never skipped: after a stall the missed ones come at once, so the
    output keeps a constant rate and its duration equals the time recorded.
    """
    n = 0
    while True:
        due = start + float(n * period)
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        elif -delay > LATE_TOLERANCE_S:
            stats.late_ticks += 1
        stats.ticks += 1
        yield n
        n += 1
