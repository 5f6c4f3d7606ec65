"""One recording bot in a process of its own: ``python -m recorder.worker --parent PID``.

Started by the server, or by a cluster worker (cloudrec/bots.py), it loads
everything a bot needs, then waits for its job on stdin: one JSON line, a
:class:`cloudrec.contract.RecordJob`, from the process that started it and
that it dies with. End of input without a job (a
spare that was not needed) ends it quietly.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import json
import logging
import os
import signal
import sys

import cv2

from cloudrec.contract import RecordJob
from recorder.bot import RecorderBot
from recorder.receive import BatchedReceiveLoop

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """A recorder whose server is gone has nobody to report to: it ends with it,
    as it did when it lived in the server's process (its file plays up to the
    last fragment written, as after any crash)."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    # The parent may have died before the request above took effect.
    if os.getppid() != parent:
        raise SystemExit(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parent", type=int, required=True, help="the server's process id")
    args = parser.parse_args()
    die_with_parent(args.parent)
    line = sys.stdin.buffer.readline()
    if not line:
        return  # the spare was not needed: the server closed our stdin
    job = RecordJob.from_wire(json.loads(line))
    logging.basicConfig(
        level=job.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Mixers run in parallel threads already; OpenCV's pool would only spin.
    cv2.setNumThreads(1)
    # What is loaded now lives as long as the process: out of the collector's
    # sight, full collections (which stop the clocks) scan far less.
    gc.collect()
    gc.freeze()
    try:
        with asyncio.Runner(loop_factory=BatchedReceiveLoop) as runner:
            bot = RecorderBot(job.ws_url, job.room, job.config, job.key, job.reconnect_s)
            runner.run(bot.run())
    except Exception:
        log.exception("recording bot of room %s failed", job.room)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
