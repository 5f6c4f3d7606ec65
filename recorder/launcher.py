"""Starts recording bots inside the server process; the protocol boundary stays
real: each bot dials the server's own WebSocket like any other peer."""

from __future__ import annotations

import asyncio
import logging

from cloudrec.config import Config
from recorder.bot import RecorderBot

log = logging.getLogger(__name__)


class InProcessLauncher:
    def __init__(self, config: Config) -> None:
        self._config = config
        self.ws_url = ""  # set once the server listens
        self._bots: set[asyncio.Task[None]] = set()

    async def launch(self, room: str) -> None:
        bot = RecorderBot(self.ws_url, room, self._config)
        task = asyncio.create_task(self._run(bot))
        self._bots.add(task)
        task.add_done_callback(self._bots.discard)

    @staticmethod
    async def _run(bot: RecorderBot) -> None:
        try:
            await bot.run()
        except Exception:
            log.exception("recording bot of room %s failed", bot.room)

    async def close(self) -> None:
        await asyncio.gather(*self._bots, return_exceptions=True)
