"""Real parts of a cluster for tests: a redis-server on a private socket,
started and stopped by the test, and workers as processes of their own."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from redis.asyncio import Redis

from cloudrec.cluster.store import ClusterStore, WorkerStatus
from tests.helpers import API_KEY, API_SECRET

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
# A redis-server answers within this of being started; a worker registers
# within this of being started (Python, aiortc and the spare bot loaded).
REDIS_START_S = 10.0
WORKER_START_S = 30.0
POLL_S = 0.05

needs_redis = pytest.mark.skipif(
    not os.path.exists(REDIS_SERVER), reason="redis-server is not installed (scripts/setup --test)"
)


class RedisProcess:
    """One redis-server on a Unix socket only (no TCP port), nothing saved."""

    def __init__(self, folder: Path) -> None:
        self.socket = folder / "redis.sock"
        self.url = f"unix://{self.socket}"
        self._proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self._proc = await asyncio.create_subprocess_exec(
            REDIS_SERVER, "--port", "0", "--unixsocket", str(self.socket),
            "--save", "", "--appendonly", "no", "--loglevel", "warning",
            stdout=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        client = Redis.from_url(self.url)
        try:
            async with asyncio.timeout(REDIS_START_S):
                while True:
                    with contextlib.suppress(OSError, ConnectionError, Exception):
                        if await client.ping():
                            return
                    await asyncio.sleep(POLL_S)
        finally:
            await client.aclose()

    async def stop(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            self._proc.terminate()
            await self._proc.wait()
        self._proc = None


@contextlib.asynccontextmanager
async def running_redis(folder: Path) -> AsyncIterator[RedisProcess]:
    redis = RedisProcess(folder)
    await redis.start()
    try:
        yield redis
    finally:
        await redis.stop()


@contextlib.asynccontextmanager
async def cluster_store(url: str) -> AsyncIterator[ClusterStore]:
    store = ClusterStore(Redis.from_url(url))
    try:
        yield store
    finally:
        await store.redis.aclose()


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    """Polls ``check`` (a cheap Redis or HTTP read) until it holds."""
    try:
        async with asyncio.timeout(timeout):
            while not await check():
                await asyncio.sleep(POLL_S)
    except TimeoutError:
        raise AssertionError(f"not within {timeout} s: {what}") from None


class WorkerProcess:
    """``cloudrec worker`` as an operator starts it."""

    def __init__(self, node_id: str, proc: asyncio.subprocess.Process) -> None:
        self.node_id = node_id
        self.proc = proc

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    async def wait(self, timeout: float) -> int:
        return await asyncio.wait_for(self.proc.wait(), timeout)


async def start_worker(
    redis_url: str,
    node_id: str,
    data_dir: Path,
    cores: float,
    *,
    secret: str = API_SECRET,
    store: dict[str, str] | None = None,
) -> WorkerProcess:
    """``store``: the s3_* settings, as Config names them."""
    env = {**os.environ, "CLOUDREC_API_KEY": API_KEY, "CLOUDREC_API_SECRET": secret}
    flags = [f"--{name.replace('_', '-')}={value}" for name, value in (store or {}).items()]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "signaling.cli", "--log-level", "WARNING", "worker",
        "--redis", redis_url, "--node-id", node_id, "--data-dir", str(data_dir),
        "--capacity-cores", str(cores), "--host", "127.0.0.1", "--port", "0", *flags,
        env=env,
    )  # fmt: skip
    return WorkerProcess(node_id, proc)


async def registered(store: ClusterStore, *node_ids: str) -> list[WorkerStatus]:
    """Waits until every one of ``node_ids`` heartbeats; their statuses."""

    async def all_there() -> bool:
        return set(node_ids) <= {w.node_id for w in await store.workers()}

    await wait_until(all_there, WORKER_START_S, f"workers {node_ids} registered")
    return [w for w in await store.workers() if w.node_id in node_ids]


@contextlib.asynccontextmanager
async def workers(
    redis_url: str,
    data_dir: Path | dict[str, Path],
    cores: dict[str, float],
    *,
    store: dict[str, str] | None = None,
) -> AsyncIterator[dict[str, WorkerProcess]]:
    """Workers named and sized by ``cores``, registered; all gone afterwards.
    ``data_dir``: one they share, or each its own by name; ``store``: the s3_*
    settings they record to."""
    started = {
        node: await start_worker(
            redis_url,
            node,
            data_dir[node] if isinstance(data_dir, dict) else data_dir,
            n,
            store=store,
        )
        for node, n in cores.items()
    }
    try:
        async with cluster_store(redis_url) as cluster:
            await registered(cluster, *cores)
        yield started
    finally:
        for worker in started.values():
            if worker.proc.returncode is None:
                worker.signal(signal.SIGINT)
        for worker in started.values():
            try:
                await worker.wait(30)
            except TimeoutError:
                worker.proc.kill()
                await worker.proc.wait()
