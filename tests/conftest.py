from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cloudrec.config import Config
from cloudrec.server import RunningServer, start_server
from tests.helpers import API_KEY, API_SECRET


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    config = Config(
        host="127.0.0.1", port=0, data_dir=tmp_path, api_key=API_KEY, api_secret=API_SECRET
    )
    running = await start_server(config)
    try:
        yield running
    finally:
        await running.close()
