"""Runs signaling, REST and the in-process recorder together on one port."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web

from cloudrec.config import Config
from recorder.launcher import InProcessLauncher
from signaling.app import CONTROL_KEY, make_app

log = logging.getLogger(__name__)


@dataclass
class RunningServer:
    config: Config
    runner: web.AppRunner
    launcher: InProcessLauncher
    base_url: str

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http", "ws", 1) + "/ws"

    async def close(self) -> None:
        """Finalises every running recording first, while the bots can still reach
        the server, then shuts the server down."""
        app = self.runner.app
        if app is not None:
            await app[CONTROL_KEY].close()
        await self.runner.cleanup()
        await self.launcher.close()


async def start_server(config: Config) -> RunningServer:
    """Listens on config.host:config.port (port 0 picks a free one)."""
    config.recordings_dir.mkdir(parents=True, exist_ok=True)
    launcher = InProcessLauncher(config)
    runner = web.AppRunner(make_app(config, launcher), handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, config.host, config.port).start()
    port = runner.addresses[0][1]  # the real one when config.port is 0
    base_url = f"http://{config.host}:{port}"
    launcher.ws_url = base_url.replace("http", "ws", 1) + "/ws"
    log.info("cloudrec listening on %s (recordings in %s)", base_url, config.recordings_dir)
    return RunningServer(config, runner, launcher, base_url)
