"""Runs signaling, REST and the files APIs on one port, and starts a recording
bot process per recorded room."""

from __future__ import annotations

import errno
import logging
import sqlite3
from dataclasses import dataclass

from aiohttp import web

from cloudrec.auth import valid_webhook_secret
from cloudrec.config import X264_PRESETS, Config, ConfigError, with_credentials
from cloudrec.storage.index import RecordingIndex
from cloudrec.storage.objects import open_store
from cloudrec.storage.outbox import Outbox
from cloudrec.storage.reconcile import reconcile
from cloudrec.storage.stored import reconcile_store
from cloudrec.storage.webhook import Webhook
from signaling.app import CONTROL_KEY, make_app
from signaling.cluster_launcher import ClusterLauncher
from signaling.launcher import LocalLauncher
from signaling.metrics import ControlMetrics
from signaling.recordings import Recordings

log = logging.getLogger(__name__)


@dataclass
class RunningServer:
    config: Config
    runner: web.AppRunner
    launcher: LocalLauncher | ClusterLauncher
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
        await self.recordings.close()


async def start_server(config: Config) -> RunningServer:
    """Listens on config.host:config.port (port 0 picks a free one)."""
    if config.dev and not config.is_loopback:
        raise ConfigError(
            f"--dev serves without any access control: loopback only, not {config.host}"
        )
    if config.webhook_secret and not valid_webhook_secret(config.webhook_secret):
        raise ConfigError("--webhook-secret must be whsec_ followed by base64 of 24 to 64 bytes")
    if config.retention_days < 0:
        raise ConfigError("--retention-days must be 0 (keep) or more")
    if config.x264_preset not in X264_PRESETS:
        raise ConfigError(
            f"--x264-preset must be one of {', '.join(X264_PRESETS)}, not {config.x264_preset!r}"
        )
    try:
        config.data_dir.mkdir(parents=True, exist_ok=True)
        config.recordings_dir.mkdir(exist_ok=True)
        probe = config.data_dir / ".writable"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(
            f"data dir {config.data_dir} cannot be written: {exc.strerror or exc} "
            "(choose another with --data-dir)"
        ) from None
    config = with_credentials(config)
    metrics = ControlMetrics()
    launcher = ClusterLauncher(config, metrics) if config.redis else LocalLauncher(config)
    recording: frozenset[str] = frozenset()  # rooms that workers record now
    try:
        if isinstance(launcher, ClusterLauncher):
            await launcher.start()  # Redis must answer before anyone is let in
            recording = frozenset(await launcher.remembered())
        store = await open_store(config)
    except ConfigError:
        if isinstance(launcher, ClusterLauncher):
            await launcher.close()
        raise
    try:
        index = RecordingIndex(config.index_path)
    except sqlite3.Error as exc:
        raise ConfigError(f"index {config.index_path} cannot be opened: {exc}") from None
    found = reconcile(index, config.recordings_dir, recording)
    log.info(
        "index: %d imported, %d interrupted by a crash, %d missing, %d unplayable",
        found.imported,
        found.interrupted,
        found.missing,
        found.unplayable,
    )
    webhook = Webhook(config, Outbox(config.index_path) if config.webhook_url else None)
    recordings = Recordings(config, index, webhook, store)
    if store is not None:
        settled = await reconcile_store(index, store, recordings.scratch, recording)
        log.info("index: %d settled from bucket %s", settled, config.s3_bucket)
    recordings.start()
    webhook.start()
    app = make_app(config, launcher, recordings, metrics)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, config.host, config.port).start()
    except OSError as exc:
        await runner.cleanup()
        await webhook.close()
        await recordings.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"port {config.port} on {config.host} is in use (another cloudrec?): "
                "stop that, or choose another with --port"
            ) from None
        raise ConfigError(
            f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}"
        ) from None
    port = runner.addresses[0][1]  # the real one when config.port is 0
    base_url = f"http://{config.host}:{port}"
    launcher.ws_url = (config.advertise_url or base_url).replace("http", "ws", 1) + "/ws"
    if isinstance(launcher, LocalLauncher):
        await launcher.start()
    else:
        control = app[CONTROL_KEY]
        taken = await control.take_back()
        if taken:
            log.info("taking back %d recording(s) running on workers", len(taken))
        control.watch_workers()
    if config.dev:
        log.warning(
            "DEV MODE: no API key or token is checked; anyone who reaches %s can "
            "record, download and delete",
            base_url,
        )
    log.info("cloudrec listening on %s (recordings in %s)", base_url, config.recordings_dir)
    return RunningServer(config, runner, launcher, recordings, base_url)
