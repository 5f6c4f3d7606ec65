"""Cluster mode: each recording is placed on a worker (``cloudrec worker``)
through Redis; its bot dials this control node's WebSocket as a local one
would."""

from __future__ import annotations

import logging
from dataclasses import replace
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import Redis
from redis.exceptions import RedisError

from cloudrec.cluster.store import ClusterStore, Placed, WorkerStatus
from cloudrec.config import Config, ConfigError
from cloudrec.contract import RecordJob, RunningRecording
from cloudrec.errors import CloudrecError, ErrorCode
from signaling.metrics import ControlMetrics

log = logging.getLogger(__name__)

# A control node gives up on Redis after this; a call then fails with 8.
REDIS_TIMEOUT_S = 2.0
# A bot cut off from its control node records on this long, for a restarted
# one (or another at the same address) to take it back.
BOT_RECONNECT_S = 120.0


def redacted(url: str) -> str:
    """A Redis URL fit for messages and logs: without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" if parts.username else f":***@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


class ClusterLauncher:
    def __init__(self, config: Config, metrics: ControlMetrics) -> None:
        self._config = config
        self._metrics = metrics
        self.where = redacted(config.redis)
        self.store = ClusterStore(
            Redis.from_url(
                config.redis,
                socket_timeout=REDIS_TIMEOUT_S,
                socket_connect_timeout=REDIS_TIMEOUT_S,
            )
        )
        self.ws_url = ""  # set once the server listens

    async def start(self) -> None:
        try:
            await self.store.redis.ping()
        except (RedisError, OSError) as exc:
            raise ConfigError(f"Redis at {self.where} is unreachable: {exc}") from None

    def unreachable(self, exc: Exception) -> CloudrecError:
        self._metrics.placements.labels("redis_unreachable").inc()
        return CloudrecError(
            ErrorCode.SERVER_EXCEPTION,
            f"Redis at {self.where} is unreachable ({exc}): recordings cannot be placed",
        )

    async def launch(self, room: str, job_id: str, cost: float, avoid: str = "") -> str:
        # What travels through Redis holds no secret: the worker signs the
        # credential itself, and a stolen job admits nobody.
        config = replace(self._config, api_key="", api_secret="", bot_key="")
        level = logging.getLogger().getEffectiveLevel()
        job = RecordJob(self.ws_url, room, config, level, job_id, "", cost, BOT_RECONNECT_S)
        try:
            placed = await self.store.place(job, avoid)
            if placed.worker is None and avoid:
                placed = await self.store.place(job)  # the one to avoid is all there is
        except (RedisError, OSError) as exc:
            raise self.unreachable(exc) from None
        return self._placed(placed, cost, room)

    def _placed(self, placed: Placed, cost: float, room: str) -> str:
        if placed.worker is None:
            self._metrics.placements.labels("no_capacity").inc()
            raise CloudrecError(
                ErrorCode.NOMORE_MCU,
                f"no worker has {cost:.2f} cores free for this recording: "
                f"{placed.alive} worker(s) alive and taking jobs, the most free "
                f"{max(placed.most_free, 0.0):.2f} cores",
            )
        self._metrics.placements.labels("placed").inc()
        log.info("room %s: placed on worker %s (%.2f cores)", room, placed.worker, cost)
        return placed.worker

    async def alive(self, worker: str) -> bool:
        return await self.store.alive(worker)

    # What runs where, for a control node that starts while recordings run.

    async def remember(self, room: str, running: RunningRecording) -> None:
        await self.store.remember(room, running)

    async def forget(self, room: str) -> None:
        await self.store.forget(room)

    async def remembered(self) -> dict[str, RunningRecording]:
        return await self.store.remembered()

    async def workers(self) -> list[WorkerStatus]:
        return await self.store.workers()

    async def close(self) -> None:
        await self.store.redis.aclose()
