"""``cloudrec worker``: runs recording bots for any control node that shares
its Redis.

It heartbeats what it measured (its own CPU and its bots', cores free, jobs
running, draining or not), takes the jobs placed on it from its queue, and
starts each as a bot process that dials the control node named in the job. The
job comes without a credential; the worker signs one with the API secret it
shares with the control nodes, so a process without it cannot record.

SIGTERM drains: no new jobs, and the worker ends once its recordings have.
A second SIGTERM (or SIGINT) ends it at once; its recordings then move to
other workers as after a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, replace

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge
from redis.asyncio import Redis
from redis.exceptions import RedisError

from cloudrec.auth import recorder_key
from cloudrec.bots import BotProcesses
from cloudrec.cluster.cpu import CpuMeter
from cloudrec.cluster.store import HEARTBEAT_S, ClusterStore, WorkerStatus
from cloudrec.config import Config, ConfigError
from cloudrec.contract import RecordJob
from cloudrec.health import health_routes
from cloudrec.storage.objects import ObjectStore, StoreError, open_store
from cloudrec.storage.uploading import UploadCounters, sweep

log = logging.getLogger(__name__)

# A job's reservation is dropped once the worker's measurement has covered it
# this long: the bot has joined and its mixers run by then.
SETTLE_S = 4.0
# Weight of the newest reading in the reported CPU: a 1 s reading of a bot
# swings by a tenth of a core with the frames it happens to cover.
SMOOTHING = 0.5
REDIS_RETRY_S = 1.0
# How often files that failed to go up to the store are tried again.
SWEEP_S = 30.0


@dataclass
class _Running:
    job: RecordJob
    since: float
    settled: bool = False


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.running = Gauge(
            "cloudrec_recordings_running", "recordings this worker runs", registry=self.registry
        )
        self.cores = Gauge(
            "cloudrec_worker_cores",
            "cores of this worker: its capacity, used (measured), reserved, free",
            ["worker", "kind"],
            registry=self.registry,
        )
        self.jobs = Counter(
            "cloudrec_worker_jobs", "jobs taken from the queue", registry=self.registry
        )
        self.bot_failures = Counter(
            "cloudrec_worker_bot_failures", "bots that exited with an error", registry=self.registry
        )


class WorkerNode:
    def __init__(self, config: Config, node_id: str, capacity_cores: float) -> None:
        if not config.redis:
            raise ConfigError("a worker needs --redis (or CLOUDREC_REDIS), the control node's")
        if not (config.api_key and config.api_secret):
            raise ConfigError(
                "a worker needs CLOUDREC_API_KEY and CLOUDREC_API_SECRET, the control node's"
            )
        if capacity_cores <= 0:
            raise ConfigError(f"--capacity-cores must be positive, not {capacity_cores}")
        self.config = config
        self.node_id = node_id
        self.capacity = capacity_cores
        self.store = ClusterStore(Redis.from_url(config.redis))
        self.bots = BotProcesses(on_exit=self._ended)
        self.metrics = WorkerMetrics()
        self.address = ""
        self._running: dict[str, _Running] = {}
        self._meter = CpuMeter()
        self._used = 0.0
        self._draining = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self, drain: asyncio.Event, stop: asyncio.Event) -> None:
        """Works until ``stop``; from ``drain`` on, takes no job and returns
        once its bots have ended."""
        store = await open_store(self.config)
        runner = await self._serve_http()
        await self.bots.start()
        await self._heartbeat()
        beat = asyncio.create_task(self._heartbeats())
        take = asyncio.create_task(self._take_jobs())
        log.info("worker %s: %.1f cores for recordings", self.node_id, self.capacity)
        drained = asyncio.create_task(self._drained(drain))
        stopped = asyncio.create_task(stop.wait())
        tasks = [beat, take, drained, stopped]
        if store is not None:
            tasks.append(asyncio.create_task(self._sweep(store)))
        try:
            await asyncio.wait({drained, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if store is not None:
                await store.close()
            with contextlib.suppress(RedisError, OSError):
                await self.store.leave(self.node_id)
            await self.bots.close()
            await runner.cleanup()
            await self.store.redis.aclose()
            log.info("worker %s: stopped", self.node_id)

    # -- draining ----------------------------------------------------------------

    async def _drained(self, drain: asyncio.Event) -> None:
        await drain.wait()
        self._draining = True
        log.info("worker %s: draining, %d recording(s) to finish", self.node_id, len(self._running))
        with contextlib.suppress(RedisError, OSError):
            await self._heartbeat()  # at once: no placement may pick us from now on
        await self.bots.wait_all()

    # -- jobs --------------------------------------------------------------------

    async def _take_jobs(self) -> None:
        while not self._draining:
            try:
                job = await self.store.take_job(self.node_id, HEARTBEAT_S)
            except (RedisError, OSError) as exc:
                log.warning("worker %s: Redis: %s", self.node_id, exc)
                await asyncio.sleep(REDIS_RETRY_S)
                continue
            if job is not None:
                await self._start(job)

    async def _start(self, job: RecordJob) -> None:
        self.metrics.jobs.inc()
        # Where files go is this machine's to say: its disk, its store settings.
        own = self.config
        job = replace(
            job,
            config=replace(
                job.config,
                data_dir=own.data_dir,
                s3_endpoint=own.s3_endpoint,
                s3_bucket=own.s3_bucket,
                s3_prefix=own.s3_prefix,
                s3_region=own.s3_region,
                keep_local=own.keep_local,
            ),
            key=recorder_key(self.config.api_secret, job.room, job.job_id),
        )
        try:
            await self.bots.launch(job)
        except Exception:
            log.exception("worker %s: the bot of room %s could not start", self.node_id, job.room)
            self._forget(job)
            return
        self._running[job.job_id] = _Running(job, time.monotonic())
        log.info("worker %s: recording room %s (job %s)", self.node_id, job.room, job.job_id)

    def _ended(self, job: RecordJob, code: int) -> None:
        if code != 0:
            self.metrics.bot_failures.inc()
        self._running.pop(job.job_id, None)
        self._forget(job)

    def _forget(self, job: RecordJob) -> None:
        task = asyncio.create_task(self._settle(job.job_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _settle(self, job_id: str) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self.store.settled(self.node_id, job_id)

    async def _sweep(self, store: ObjectStore) -> None:
        """Files of this disk that failed to go up, tried again."""
        counters = UploadCounters()
        while True:
            await asyncio.sleep(SWEEP_S)
            try:
                await sweep(store, self.config.recordings_dir, self.config.keep_local, counters)
            except StoreError as exc:
                log.warning("worker %s: the store sweep stopped: %s", self.node_id, exc)

    # -- heartbeats ----------------------------------------------------------------

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            try:
                await self._heartbeat()
            except (RedisError, OSError) as exc:
                log.warning("worker %s: heartbeat failed: %s", self.node_id, exc)

    def status(self) -> WorkerStatus:
        return WorkerStatus(
            self.node_id,
            self.capacity,
            round(self._used, 3),
            0.0,  # reservations are the control nodes' to add
            len(self._running),
            self._draining,
            self.address,
        )

    async def _heartbeat(self) -> None:
        reading = self._meter.cores(self.bots.pids)
        self._used = SMOOTHING * reading + (1 - SMOOTHING) * self._used
        status = self.status()
        await self.store.heartbeat(status)
        now = time.monotonic()
        for job_id, running in self._running.items():
            if not running.settled and now - running.since >= SETTLE_S:
                running.settled = True
                await self.store.settled(self.node_id, job_id)
        self.metrics.running.set(status.running)
        for kind, value in (
            ("capacity", status.cores),
            ("used", status.used),
            ("free", status.cores - status.used),
        ):
            self.metrics.cores.labels(self.node_id, kind).set(value)

    # -- HTTP ----------------------------------------------------------------------

    async def _serve_http(self) -> web.AppRunner:
        app = web.Application()

        async def ready() -> list[str]:
            problems = []
            try:
                await self.store.redis.ping()
            except (RedisError, OSError) as exc:
                problems.append(f"Redis unreachable: {exc}")
            if self._draining:
                problems.append("draining")
            return problems

        app.router.add_routes(health_routes(self.metrics.registry, ready))
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.config.host, self.config.port).start()
        except OSError as exc:
            await runner.cleanup()
            raise ConfigError(
                f"cannot listen on {self.config.host}:{self.config.port}: {exc.strerror or exc}"
            ) from None
        port = runner.addresses[0][1]
        self.address = f"http://{self.config.host}:{port}"
        return runner
