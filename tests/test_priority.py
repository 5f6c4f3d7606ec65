"""Worker threads of a bot yield to its event loop."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from recorder.priority import WORKER_NICE, lower_this_thread


def _nice(tid: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, tid)


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread priorities are Linux's")
def test_a_worker_thread_runs_below_the_loop_and_leaves_it_alone() -> None:
    loop_tid = threading.get_native_id()
    before = _nice(loop_tid)
    seen: list[int] = []

    def worker() -> None:
        lower_this_thread()
        seen.append(_nice(threading.get_native_id()))

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [min(before + WORKER_NICE, 19)]
    assert _nice(loop_tid) == before
