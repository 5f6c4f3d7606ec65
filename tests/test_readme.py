"""The README's "Try it", run as it is written: its shell blocks, in a folder
of their own, against `cloudrec serve` on its embedded defaults."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp

from cloudrec.auth import basic_header
from tests.media import decode

CHECKOUT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "http://127.0.0.1:8080"  # where the README's commands look
SERVE_TIMEOUT_S = 30
BLOCK_TIMEOUT_S = 120
# The peers join in their own time; their joining is polled, with a bound.
PEERS_TIMEOUT_S = 60
POLL_S = 0.2


def _try_it_blocks() -> list[str]:
    readme = (CHECKOUT / "README.md").read_text()
    section = readme.split("## Try it", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.DOTALL)


def _answers(out: str) -> list[Any]:
    """The JSON documents a block printed, one after another."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while (at := out.find("{", at)) >= 0:
        value, at = decoder.raw_decode(out, at)
        found.append(value)
    return found


async def _wait_for_peers(key: str) -> None:
    headers = {"Authorization": basic_header(*key.split(":", 1))}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with asyncio.timeout(PEERS_TIMEOUT_S):
            while True:
                async with http.get(f"{DEFAULT_URL}/api/v1/rooms/demo") as resp:
                    room = await resp.json() if resp.status == 200 else {}
                cameras = [p for p in room.get("participants", []) if p["tracks"]]
                if len(cameras) == 2:
                    return
                await asyncio.sleep(POLL_S)


async def test_try_it_as_written(tmp_path: Path) -> None:
    peers_block, record_block = _try_it_blocks()
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parent.parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDREC_")}
    server = await asyncio.create_subprocess_exec(
        ".venv/bin/cloudrec", "--log-level", "ERROR", "serve",
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    peers: subprocess.Popen[bytes] | None = None
    try:
        assert server.stdout is not None
        banner = await asyncio.wait_for(server.stdout.readline(), SERVE_TIMEOUT_S)
        assert banner.decode().split()[-1] == DEFAULT_URL
        peers = subprocess.Popen(
            ["bash", "-c", peers_block], cwd=tmp_path, env=env, start_new_session=True
        )
        credentials = json.loads((tmp_path / "data" / "credentials.json").read_text())
        await _wait_for_peers(f"{credentials['api_key']}:{credentials['api_secret']}")
        done = await asyncio.to_thread(
            subprocess.run,
            ["bash", "-c", record_block],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        started, state, updated, paused, resumed, stopped, listed = _answers(done.stdout)
        assert started["state"] == 2 and state["state"] == 2, done.stdout
        assert "err" not in updated and updated["state"] == 2, updated
        assert paused["state"] == 3 and resumed["state"] == 2, (paused, resumed)
        assert stopped["state"] == 0
        (recording,) = listed["recordings"]
        assert recording["fileName"] == "/2026-11-25/demo.mp4"
        assert recording["state"] == "finished"
    finally:
        if peers is not None:
            with contextlib.suppress(ProcessLookupError):  # the peers, in bash's group
                os.killpg(peers.pid, signal.SIGTERM)
            await asyncio.to_thread(peers.wait)
        server.terminate()
        await server.wait()
    media = decode(tmp_path / "data" / "recordings" / "2026-11-25" / "demo.mp4")
    assert media.video_codec == "h264" and media.frames
