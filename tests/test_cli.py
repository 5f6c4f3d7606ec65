"""The command line as an operator runs it: real processes."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from signaling.server import RunningServer
from tests.helpers import API_AUTH, token

PEER_TIMEOUT_S = 60.0
# Long enough for the checks; the peers are stopped when they are done.
PEER_SECONDS = "30"

# Start-up failures come before anything slow is loaded; a hang is the failure.
SERVE_FAILURE_TIMEOUT_S = 60


async def start_peer(
    server_url: str,
    room: str,
    *options: str,
    stdout: int | None = None,
    stderr: int | None = None,
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "signaling.cli", "peer", "--server", server_url],
        *["--room", room, "--seconds", PEER_SECONDS, *options],
        stdout=stdout,
        stderr=stderr,
    )


@pytest.mark.parametrize(
    "extra",
    [[], ["--replay", "--clock-skew", "-500"], ["--screen", "--flash", "--clock-skew", "1000"]],
)
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


def _serve_fails(args: list[str], env: dict[str, str] | None = None) -> str:
    """`cloudrec serve` that cannot start: its exit code and its last words."""
    done = subprocess.run(
        [sys.executable, "-m", "signaling.cli", "--log-level", "ERROR", "serve", *args],
        capture_output=True,
        text=True,
        timeout=SERVE_FAILURE_TIMEOUT_S,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode == 1, done
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    return done.stderr


def test_a_busy_port_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        said = _serve_fails(["--port", str(port), "--data-dir", str(tmp_path)])
    assert f"port {port} on 127.0.0.1 is in use" in said and "--port" in said


def test_start_up_failures_are_one_line_each(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    said = _serve_fails(["--port", "0", "--data-dir", str(blocker / "data")])
    assert f"data dir {blocker / 'data'} cannot be written" in said
    said = _serve_fails(["--data-dir", str(tmp_path / "d")], {"CLOUDREC_PORT": "eighty"})
    assert "CLOUDREC_PORT='eighty' is not a valid int" in said
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "credentials.json").write_text("{not json")
    said = _serve_fails(["--port", "0", "--data-dir", str(tmp_path / "bad")])
    assert "credentials.json cannot be read" in said and "delete it" in said
