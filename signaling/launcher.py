"""Embedded mode: each room's recording bot runs on this machine, in a process
of its own, started here."""

from __future__ import annotations

import logging

from cloudrec.auth import recorder_key
from cloudrec.bots import BotProcesses
from cloudrec.config import Config
from cloudrec.contract import RecordJob

LOCAL = ""  # where a job runs when no worker runs it


class LocalLauncher:
    def __init__(self, config: Config) -> None:
        self._config = config
        self.ws_url = ""  # set once the server listens
        self.bots = BotProcesses()

    async def start(self) -> None:
        await self.bots.start()

    async def launch(self, room: str, job_id: str, cost: float, avoid: str = LOCAL) -> str:
        key = recorder_key(self._config.bot_key, room, job_id)
        level = logging.getLogger().getEffectiveLevel()
        await self.bots.launch(RecordJob(self.ws_url, room, self._config, level, job_id, key, cost))
        return LOCAL

    async def alive(self, worker: str) -> bool:
        return True  # this machine: if it were gone, so would we

    async def close(self) -> None:
        await self.bots.close()
