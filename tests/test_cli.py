"""The command line as an operator runs it: real processes."""

from __future__ import annotations

import asyncio
import sys

import aiohttp
import pytest

from cloudrec.server import RunningServer
from tests.helpers import API_AUTH, token

PEER_TIMEOUT_S = 60.0


@pytest.mark.parametrize("extra", [[], ["--replay"], ["--screen", "--flash"]])
async def test_peer_joins_and_publishes(server: RunningServer, extra: list[str]) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cloudrec.cli",
        "peer",
        "--server",
        server.base_url,
        "--room",
        "cli",
        "--user",
        "zed",
        "--token",
        token("cli", "zed"),
        "--seconds",
        "30",
        *extra,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), PEER_TIMEOUT_S)
        assert b"zed joined cli" in line
        async with (
            aiohttp.ClientSession(headers=API_AUTH) as http,
            http.get(f"{server.base_url}/api/v1/rooms/cli") as resp,
        ):
            (zed,) = (await resp.json())["participants"]
        sources = sorted(t["source"] for t in zed["tracks"])
        expected = ["camera", "mic", "screen"] if "--screen" in extra else ["camera", "mic"]
        assert sources == expected
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), PEER_TIMEOUT_S) == 0
