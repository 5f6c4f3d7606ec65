"""Starts each room's recording bot in a process of its own (recorder/worker.py),
handing it its job as the typed message a worker on another machine would get.

A bot in its own process has its own interpreter lock and event loop: one
busy room's packets do not delay another room's clock, recordings use every
core, and a crash in one ends that recording, not the server. Bots still dial
the server's WebSocket like any other peer, so nothing else changes.

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

from cloudrec.config import Config
from cloudrec.contract import RecordJob
from cloudrec.errors import CloudrecError, ErrorCode

log = logging.getLogger(__name__)

# A bot told to stop leaves within this once its files are closed; past it, it is killed.
EXIT_TIMEOUT_S = 30.0


class ProcessLauncher:
    def __init__(self, config: Config) -> None:
        self._config = config
        self.ws_url = ""  # set once the server listens
        self._spare: asyncio.subprocess.Process | None = None
        # Each running bot, with the task that waits for it to exit.
        self._bots: dict[asyncio.subprocess.Process, asyncio.Task[None]] = {}
        self._lock = asyncio.Lock()  # one launch at a time takes and refills the spare

    async def start(self) -> None:
        self._spare = await self._spawn()

    async def launch(self, room: str) -> None:
        job = RecordJob(self.ws_url, room, self._config, logging.getLogger().getEffectiveLevel())
        async with self._lock:
            spare, self._spare = self._spare, None
            proc = spare if spare is not None and await _hand(spare, job) else None
            if proc is None:  # no spare, or it died: a cold start
                proc = await self._spawn()
                if not await _hand(proc, job):
                    raise CloudrecError(ErrorCode.NOMORE_MCU, "the recording bot could not start")
            self._bots[proc] = asyncio.create_task(self._reap(proc, room))
            self._spare = await self._spawn()

    async def close(self) -> None:
        """Ends the spare and waits for every bot to leave (the server has told
        them to by now); a bot that does not is killed."""
        spare, self._spare = self._spare, None
        if spare is not None and spare.stdin is not None:
            spare.stdin.close()
            await spare.wait()
        if self._bots:
            await asyncio.wait(self._bots.values(), timeout=EXIT_TIMEOUT_S)
            for proc in list(self._bots):  # those still there
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
            await asyncio.gather(*self._bots.values(), return_exceptions=True)

    async def _spawn(self) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "recorder.worker",
            "--parent",
            str(os.getpid()),
            stdin=asyncio.subprocess.PIPE,
            # Its own session: a Ctrl-C meant for the server must not cut the
            # bots off before the server has had them close their files.
            start_new_session=True,
        )

    async def _reap(self, proc: asyncio.subprocess.Process, room: str) -> None:
        code = await proc.wait()
        del self._bots[proc]
        if code != 0:
            log.error("recording bot of room %s exited with %s", room, code)


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
