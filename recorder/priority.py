"""Thread priorities inside a recording bot.

The event loop keeps the clocks and receives every packet; the mixer and
decoder threads have slack (a mixer's queue holds 2 s of video jobs; a decoder
only runs behind). When the machine is full, a tick that wakes late is the loop
waiting for a core behind encoders, its own and other rooms'. Worker threads
therefore run at a lower priority than the loop, so the scheduler wakes the
loop first and gives the workers what is left.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading

# Linux weighs nice 0 against nice 5 about 3 to 1: a worker still gets most of
# a core when the loop sleeps, which it does between batches and ticks.
WORKER_NICE = 5


def lower_this_thread(increment: int = WORKER_NICE) -> None:
    """Raises the calling thread's nice value by ``increment`` (Linux only:
    elsewhere the call would change the whole process, and is skipped)."""
    if sys.platform != "linux":
        return
    tid = threading.get_native_id()
    # A priority is an optimisation: where it cannot be set the thread runs as it is.
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + increment)
