from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from cloudrec.config import Config
from signaling.server import RunningServer, start_server
from tests.helpers import API_KEY, API_SECRET
from tests.receiver import Receiver, ReceiverFactory

ServerFactory = Callable[..., Awaitable[RunningServer]]


@pytest.fixture
async def make_server(tmp_path: Path) -> AsyncIterator[ServerFactory]:
    """Starts servers on free loopback ports with test credentials; config fields
    may be overridden. All are closed after the test."""
    started: list[RunningServer] = []

    async def make(**overrides: Any) -> RunningServer:
        fields: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": 0,
            "data_dir": tmp_path,
            "api_key": API_KEY,
            "api_secret": API_SECRET,
            **overrides,
        }
        running = await start_server(Config(**fields))
        started.append(running)
        return running

    try:
        yield make
    finally:
        for running in reversed(started):
            await running.close()


@pytest.fixture
async def server(make_server: ServerFactory) -> RunningServer:
    return await make_server()


@pytest.fixture
async def receiver_factory() -> AsyncIterator[ReceiverFactory]:
    runners: list[web.AppRunner] = []

    async def start(failures: int = 0) -> tuple[Receiver, str]:
        receiver = Receiver(failures)
        app = web.Application()
        app.router.add_post("/hook", receiver.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        return receiver, f"http://127.0.0.1:{runner.addresses[0][1]}/hook"

    yield start
    for runner in runners:
        await runner.cleanup()
