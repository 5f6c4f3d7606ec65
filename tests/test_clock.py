from __future__ import annotations

import asyncio
import time
from fractions import Fraction

from recorder.clock import ClockStats, ticks

STALL_S = 0.2


async def test_ticks_never_skip_after_a_stall() -> None:
    loop = asyncio.get_running_loop()
    stats = ClockStats()
    seen: list[int] = []
    start = loop.time()
    async for n in ticks(start, Fraction(1, 50), stats, loop):
        seen.append(n)
        if n == 2:
            time.sleep(STALL_S)  # block the loop on purpose: the clock must catch up
        if n == 20:
            break
    assert seen == list(range(21))
    assert stats.late_ticks >= 5
    assert loop.time() - start >= 20 / 50
