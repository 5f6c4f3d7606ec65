"""The command line as an operator runs it: real processes."""

from __future__ import annotations

import asyncio
import sys

import aiohttp
import pytest

from signaling.server import RunningServer
from tests.helpers import API_AUTH, token

PEER_TIMEOUT_S = 60.0
# Long enough for the checks; the peers are stopped when they are done.
PEER_SECONDS = "30"


async def start_peer(
    server_url: str, room: str, *options: str, **pipes: int
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "signaling.cli", "peer", "--server", server_url],
        *["--room", room, "--seconds", PEER_SECONDS, *options],
        **pipes,
    )


@pytest.mark.parametrize("extra", [[], ["--replay"], ["--screen", "--flash"]])
async def test_peer_joins_and_publishes(server: RunningServer, extra: list[str]) -> None:
    proc = await start_peer(
        server.base_url,
        "cli",
        *["--user", "zed", "--token", token("cli", "zed"), *extra],
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


async def test_several_peers_share_one_process(server: RunningServer) -> None:
    users = ["ann", "ben", "cas"]
    options: list[str] = []
    for i, user in enumerate(users):
        options += ["--user", user, "--token", token("many", user), "--tone", str(300 + 100 * i)]
    proc = await start_peer(
        server.base_url, "many", "--replay", *options, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        for user in users:
            line = await asyncio.wait_for(proc.stdout.readline(), PEER_TIMEOUT_S)
            assert f"{user} joined many".encode() in line
        async with (
            aiohttp.ClientSession(headers=API_AUTH) as http,
            http.get(f"{server.base_url}/api/v1/rooms/many") as resp,
        ):
            participants = (await resp.json())["participants"]
        assert sorted(p["userID"] for p in participants) == users
        for participant in participants:
            assert sorted(t["source"] for t in participant["tracks"]) == ["camera", "mic"]
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), PEER_TIMEOUT_S) == 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--user", "b", "--tone", "300"], b"--tone must be given once per --user (2)"),
        (["--user", "b", "--screen"], b"--screen and --media are for one --user"),
    ],
)
async def test_peer_options_that_do_not_fit_the_users_are_refused(
    extra: list[str], message: bytes
) -> None:
    proc = await start_peer(
        "http://127.0.0.1:9", "r", "--user", "a", *extra, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(proc.communicate(), PEER_TIMEOUT_S)
    assert proc.returncode != 0
    assert message in stderr
