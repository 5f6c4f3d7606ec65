"""A server killed mid-recording leaves a file that plays."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from cloudrec.config import Config
from signaling.server import start_server
from tests.helpers import (
    API_AUTH,
    API_KEY,
    API_SECRET,
    BLUE,
    CFG_360P15,
    RED,
    file_output,
    side_by_side,
    synthetic_participant,
)
from tests.media import decode

# SPEC: the file plays up to within a second of the kill.
MAX_LOSS_S = 1.0
RECORD_BEFORE_KILL_MS = 3000
# A clean stop writes every tick up to the signal; allow for the signal's delivery.
CLEAN_STOP_LOSS_S = 0.2
SERVER_START_TIMEOUT_S = 30.0
SERVER_STOP_TIMEOUT_S = 30.0
POLL_S = 0.1


async def _wait_for_duration(http: aiohttp.ClientSession, url: str, ms: int) -> None:
    """Polls the REST state: this test's client is a server-side caller, not a peer."""
    while True:
        async with http.get(url) as resp:
            outputs = (await resp.json())["outputs"]
        if outputs and outputs[0]["duration"] >= ms:
            return
        await asyncio.sleep(POLL_S)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
async def test_killed_server_leaves_a_playable_file(tmp_path: Path, sig: signal.Signals) -> None:
    """SIGKILL: the file plays to within a second of the kill. SIGTERM: the
    server finalises the file (every frame recorded) and exits cleanly."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "signaling.cli",
        "serve",
        "--port",
        "0",
        "--data-dir",
        str(tmp_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "CLOUDREC_API_KEY": API_KEY, "CLOUDREC_API_SECRET": API_SECRET},
    )
    peers = []
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), SERVER_START_TIMEOUT_S)
        base_url = line.decode().split()[-1]
        peers = [
            await synthetic_participant(base_url, "crash", "alice", RED[0], RED[2]),
            await synthetic_participant(base_url, "crash", "bob", BLUE[0], BLUE[2]),
        ]
        loop = asyncio.get_running_loop()
        async with aiohttp.ClientSession(headers=API_AUTH) as http:
            mixer = f"{base_url}/api/v1/rooms/crash/mixer"
            body = {
                "cfgs": CFG_360P15,
                "contents": side_by_side("alice", "bob"),
                "outputs": file_output("/crash/k.mp4"),
            }
            async with http.post(mixer, json=body) as resp:
                assert resp.status == 200
            started = loop.time()
            await asyncio.wait_for(_wait_for_duration(http, mixer, RECORD_BEFORE_KILL_MS), 30)
        os.kill(proc.pid, sig)
        recorded = loop.time() - started
        returncode = await asyncio.wait_for(proc.wait(), SERVER_STOP_TIMEOUT_S)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        for peer in peers:
            await peer.leave()

    media = decode(tmp_path / "recordings" / "crash" / "k.mp4")
    loss = MAX_LOSS_S if sig is signal.SIGKILL else CLEAN_STOP_LOSS_S
    assert media.times[-1] >= recorded - loss, (media.times[-1], recorded)
    assert len(media.audio) / media.audio_rate >= recorded - loss
    if sig is signal.SIGTERM:
        assert returncode == 0

    # Restarted on the same data dir, the server lists the file and serves it.
    restarted = await start_server(
        Config(port=0, data_dir=tmp_path, api_key=API_KEY, api_secret=API_SECRET)
    )
    try:
        rec = restarted.recordings.index.by_name("/crash/k.mp4")
        assert rec is not None
        assert rec.state == ("interrupted" if sig is signal.SIGKILL else "finished")
        assert abs(rec.duration_ms - len(media.frames) * 1000 / 15) <= 100
        async with (
            aiohttp.ClientSession(headers=API_AUTH) as http,
            http.get(f"{restarted.base_url}/api/v1/recordings/{rec.id}/download") as resp,
        ):
            assert await resp.read() == (tmp_path / "recordings" / "crash" / "k.mp4").read_bytes()
    finally:
        await restarted.close()
