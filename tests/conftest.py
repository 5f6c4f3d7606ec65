from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cloudrec.config import Config
from cloudrec.server import RunningServer, start_server


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    running = await start_server(Config(host="127.0.0.1", port=0, data_dir=tmp_path))
    try:
        yield running
    finally:
        await running.close()
