from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from cloudrec.config import Config
from signaling.server import RunningServer, start_server
from tests.helpers import API_KEY, API_SECRET

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
