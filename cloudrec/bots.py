"""Runs recording bots, each in a process of its own (recorder/worker.py),
handed its job as one typed message: by the server for its own rooms, and by
a cluster worker for any control node's.

A bot in its own process has its own interpreter lock and event loop: one
busy room's packets do not delay another room's clock, recordings use every
core, and a crash in one ends that recording, not its parent. Bots dial the
control node's WebSocket like any other peer.

One spare process waits with everything loaded for the next room, so a start
does not pay for Python's start-up (about half a second here).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable

from cloudrec.contract import RecordJob
from cloudrec.errors import CloudrecError, ErrorCode

log = logging.getLogger(__name__)

# A bot told to stop leaves within this once its files are closed; past it, it is killed.
EXIT_TIMEOUT_S = 30.0


class BotProcesses:
    """``on_exit(job, code)`` hears of every bot that ends, however it ends."""

    def __init__(self, on_exit: Callable[[RecordJob, int], None] = lambda _j, _c: None) -> None:
        self._on_exit = on_exit
        self._spare: asyncio.subprocess.Process | None = None
        # Each running bot, with its job and the task that waits for it to exit.
        self._bots: dict[asyncio.subprocess.Process, tuple[RecordJob, asyncio.Task[None]]] = {}
        self._lock = asyncio.Lock()  # one launch at a time takes and refills the spare

    async def start(self) -> None:
        self._spare = await self._spawn()

    @property
    def pids(self) -> list[int]:
        """The running bots' process ids (the spare's not among them)."""
        return [proc.pid for proc in self._bots]

    async def launch(self, job: RecordJob) -> None:
        async with self._lock:
            spare, self._spare = self._spare, None
            proc = spare if spare is not None and await _hand(spare, job) else None
            if proc is None:  # no spare, or it died: a cold start
                proc = await self._spawn()
                if not await _hand(proc, job):
                    raise CloudrecError(ErrorCode.NOMORE_MCU, "the recording bot could not start")
            self._bots[proc] = (job, asyncio.create_task(self._reap(proc, job)))
            self._spare = await self._spawn()

    async def wait_all(self, timeout: float | None = None) -> None:
        """Until every running bot has ended (or ``timeout`` has passed)."""
        tasks = [task for _, task in self._bots.values()]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    async def close(self) -> None:
        """Ends the spare and waits for every bot to leave (their control node
        has told them to by now); a bot that does not is killed."""
        spare, self._spare = self._spare, None
        if spare is not None and spare.stdin is not None:
            spare.stdin.close()
            await spare.wait()
        if self._bots:
            await self.wait_all(EXIT_TIMEOUT_S)
            for proc in list(self._bots):  # those still there
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
            await asyncio.gather(*(task for _, task in self._bots.values()), return_exceptions=True)

    async def _spawn(self) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "recorder.worker",
            "--parent",
            str(os.getpid()),
            stdin=asyncio.subprocess.PIPE,
            # Its own session: a Ctrl-C meant for the parent must not cut the
            # bots off before the control node has had them close their files.
            start_new_session=True,
        )

    async def _reap(self, proc: asyncio.subprocess.Process, job: RecordJob) -> None:
        code = await proc.wait()
        del self._bots[proc]
        if code != 0:
            log.error("recording bot of room %s exited with %s", job.room, code)
        self._on_exit(job, code)


async def _hand(proc: asyncio.subprocess.Process, job: RecordJob) -> bool:
    """Gives a waiting bot process its job (one JSON line); False if it is no
    longer there."""
    assert proc.stdin is not None
    try:
        proc.stdin.write(json.dumps(job.to_wire()).encode() + b"\n")
        await proc.stdin.drain()
        proc.stdin.close()
    except (BrokenPipeError, ConnectionResetError):
        return False
    return True
