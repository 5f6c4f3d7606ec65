"""Runs signaling, REST and the files APIs on one port, and starts a recording
bot process per recorded room."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web

from cloudrec.config import X264_PRESETS, Config, with_credentials
from cloudrec.storage.index import RecordingIndex
from cloudrec.storage.reconcile import reconcile
from cloudrec.storage.webhook import Webhook
from signaling.app import CONTROL_KEY, make_app
from signaling.launcher import ProcessLauncher
from signaling.recordings import Recordings

log = logging.getLogger(__name__)


class ConfigError(Exception):
    """A configuration the server refuses to run with."""


@dataclass
class RunningServer:
    config: Config
    runner: web.AppRunner
    launcher: ProcessLauncher
    recordings: Recordings
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
        await self.recordings.webhook.close()
        self.recordings.index.close()


async def start_server(config: Config) -> RunningServer:
    """Listens on config.host:config.port (port 0 picks a free one)."""
    if config.dev and not config.is_loopback:
        raise ConfigError(
            f"--dev serves without any access control: loopback only, not {config.host}"
        )
    if config.x264_preset not in X264_PRESETS:
        raise ConfigError(
            f"--x264-preset must be one of {', '.join(X264_PRESETS)}, not {config.x264_preset!r}"
        )
    config = with_credentials(config)
    config.recordings_dir.mkdir(parents=True, exist_ok=True)
    index = RecordingIndex(config.index_path)
    found = reconcile(index, config.recordings_dir)
    log.info(
        "index: %d imported, %d interrupted by a crash, %d missing, %d unplayable",
        found.imported,
        found.interrupted,
        found.missing,
        found.unplayable,
    )
    recordings = Recordings(
        config, index, Webhook(config.webhook_url, config.api_key, config.api_secret)
    )
    launcher = ProcessLauncher(config)
    runner = web.AppRunner(make_app(config, launcher, recordings), handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, config.host, config.port).start()
    port = runner.addresses[0][1]  # the real one when config.port is 0
    base_url = f"http://{config.host}:{port}"
    launcher.ws_url = base_url.replace("http", "ws", 1) + "/ws"
    await launcher.start()
    if config.dev:
        log.warning(
            "DEV MODE: no API key or token is checked; anyone who reaches %s can "
            "record, download and delete",
            base_url,
        )
    log.info("cloudrec listening on %s (recordings in %s)", base_url, config.recordings_dir)
    return RunningServer(config, runner, launcher, recordings, base_url)
