"""A real S3-compatible server for tests (moto's server mode, in a process of
its own on a free loopback port), and a proxy in front of it that fails the
uploads a test tells it to."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

MOTO_SERVER = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
# moto's server answers within this of being started.
MOTO_START_S = 30.0
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "cloudrec-test", "AWS_SECRET_ACCESS_KEY": "cloudrec-test"}

needs_moto = pytest.mark.skipif(
    not Path(MOTO_SERVER).exists(), reason="moto's server is not installed (scripts/setup --test)"
)


@contextlib.asynccontextmanager
async def moto_server() -> AsyncIterator[str]:
    """Its URL; stopped afterwards."""
    proc = await asyncio.create_subprocess_exec(
        MOTO_SERVER, "-H", "127.0.0.1", "-p", "0",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    try:
        async with asyncio.timeout(MOTO_START_S):
            while True:
                line = (await proc.stderr.readline()).decode()
                if not line:
                    raise AssertionError("moto_server ended before it listened")
                found = re.search(r"Running on (http://127\.0\.0\.1:\d+)", line)
                if found:
                    break
        drain = asyncio.create_task(_drain(proc.stderr))
        yield found.group(1)
    finally:
        proc.terminate()
        await proc.wait()
    drain.cancel()


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass


class FailingProxy:
    """Forwards every request to the store, except the uploads ``fails`` picks
    (method and path), which get a 500 as a broken store would answer."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.fails: Callable[[str, str], bool] = lambda _method, _path: False
        self.failed = 0
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        self._http = aiohttp.ClientSession(auto_decompress=False)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if self.fails(request.method, request.path):
            self.failed += 1
            return web.Response(status=500, text="<Error><Code>InternalError</Code></Error>")
        assert self._http is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "expect")}
        async with self._http.request(
            request.method, self.target + request.path_qs, data=body, headers=headers
        ) as resp:
            payload = await resp.read()
            dropped: tuple[str, ...] = ("transfer-encoding", "connection")
            if request.method != "HEAD":  # a HEAD's length is the object's: keep it
                dropped += ("content-length",)
            out = {k: v for k, v in resp.headers.items() if k.lower() not in dropped}
            return web.Response(status=resp.status, body=payload or None, headers=out)
