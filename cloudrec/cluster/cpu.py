"""The CPU a worker and its bots take, measured from /proc: what a worker
reports in its heartbeat, and what placement weighs jobs against."""

from __future__ import annotations

import os
import time

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds_of_stat(stat: str) -> float:
    """User plus system time from the text of /proc/<pid>/stat (the name in
    parentheses may hold spaces, so fields are counted after its end)."""
    fields = stat[stat.rindex(")") + 2 :].split()
    # utime and stime are the 14th and 15th fields of the whole line.
    return (int(fields[11]) + int(fields[12])) / _TICKS


def process_cpu_seconds(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return cpu_seconds_of_stat(f.read())
    except (OSError, ValueError, IndexError):
        return None  # it has just ended


class CpuMeter:
    """Cores used since the last reading, by this process and ``pids``."""

    def __init__(self) -> None:
        self._at = time.monotonic()
        self._seen: dict[int, float] = {}

    def cores(self, pids: list[int]) -> float:
        now = time.monotonic()
        elapsed = now - self._at
        used = 0.0
        seen: dict[int, float] = {}
        for pid in [os.getpid(), *pids]:
            total = process_cpu_seconds(pid)
            if total is None:
                continue
            # A process first seen counts from now: its start-up was measured
            # by nobody, and is not what it will go on taking.
            used += total - self._seen.get(pid, total)
            seen[pid] = total
        self._at, self._seen = now, seen
        return max(used / elapsed, 0.0) if elapsed > 0 else 0.0
