"""Live push to a real RTMP server (nginx with Debian's RTMP module), read back
and decoded; a push that fails leaves the file output beside it alone."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest

from signaling.server import RunningServer
from tests.helpers import RED, EventLog, full_canvas, synthetic_participant
from tests.media import decode, shows_color

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
RTMP_MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")
READ_FRAMES = 20
READ_TIMEOUT_S = 30.0
# The pause slate is a black canvas with a line of white text on it.
SLATE_MAX_MEAN = 30
SLATE_TEXT_MIN = 200
NGINX_START_TIMEOUT_S = 10.0
CFG = [{"id": "1", "cfg": {"width": 640, "height": 360, "frameRate": 15}}]
CONTENT = [
    {
        "id": "1",
        "content": [full_canvas("alice")],
    }
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + NGINX_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited with {proc.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)  # polling a port nginx opens; there is no event to wait on
    raise TimeoutError("nginx did not listen in time")


@pytest.fixture
def rtmp_server(tmp_path: Path) -> Iterator[str]:
    if not RTMP_MODULE.exists():
        pytest.skip("nginx's RTMP module is not installed (scripts/setup --test installs it)")
    port = free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"""
load_module {RTMP_MODULE};
daemon off;
master_process off;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/nginx-error.log warn;
events {{ worker_connections 64; }}
rtmp {{ server {{ listen 127.0.0.1:{port}; application live {{ live on; record off; }} }} }}
""")
    proc = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(tmp_path)])
    try:
        wait_for_port(port, proc)
        yield f"rtmp://127.0.0.1:{port}/live"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def read_back(url: str) -> np.ndarray:
    """Plays the stream as a viewer would; returns the last of READ_FRAMES frames."""
    with av.open(url, options={"rtmp_live": "live", "rw_timeout": "20000000"}) as player:
        frames = player.decode(video=0)
        last = next(frames)
        for _ in range(READ_FRAMES):
            last = next(frames)
        return last.to_ndarray(format="rgb24")


async def test_live_push_is_readable_and_the_file_beside_it_too(
    server: RunningServer, rtmp_server: str
) -> None:
    alice = await synthetic_participant(server.base_url, "live", "alice", RED[0], RED[2])
    log = EventLog()
    log.attach(alice)
    url = f"{rtmp_server}/room-live"
    outputs = [
        {
            "id": "1",
            "output": [
                {"type": 1, "liveUrl": url, "errRetryTimes": 2},
                {"type": 0, "filename": "/live/side.mp4"},
            ],
        }
    ]
    try:
        await alice.start_svr_mixer(CFG, CONTENT, outputs)
        await log.wait_output(url, state=2)
        await log.wait_duration(1500)
        frame = await asyncio.wait_for(asyncio.to_thread(read_back, url), READ_TIMEOUT_S)
        await alice.stop_svr_mixer()
        await log.wait_state(0)
    finally:
        await alice.leave()
    assert shows_color(frame, (0, 0, 640, 360), RED[1]), "the pushed stream shows the mix"
    pushed = [e.data for e in log.named("svrMixerOutputInfo") if e.data["fileName"] == url]
    assert pushed[-1]["state"] == 3 and pushed[-1]["errCode"] == 0
    assert pushed[-1]["fileSize"] > 10_000 and pushed[-1]["duration"] > 1500
    assert server.recordings.index.by_name(url) is None, "a push is not a recording"
    assert len(decode(server.config.recordings_dir / "live" / "side.mp4").frames) > 20


async def test_a_failing_push_is_reported_and_the_file_goes_on(server: RunningServer) -> None:
    alice = await synthetic_participant(server.base_url, "dead", "alice", RED[0], RED[2])
    log = EventLog()
    log.attach(alice)
    url = f"rtmp://127.0.0.1:{free_port()}/live/nobody-listens"
    outputs = [
        {
            "id": "1",
            "output": [
                {"type": 1, "liveUrl": url, "errRetryTimes": 1},
                {"type": 0, "filename": "/live/kept.mp4"},
            ],
        }
    ]
    try:
        await alice.start_svr_mixer(CFG, CONTENT, outputs)
        failed = await log.wait_output(url, state=4)
        assert failed.data["errCode"] == 905
        await log.wait_output("/live/kept.mp4", duration=3000)
        await alice.stop_svr_mixer()
        await log.wait_state(0)
    finally:
        await alice.leave()
    kept = [
        e.data for e in log.named("svrMixerOutputInfo") if e.data["fileName"] == "/live/kept.mp4"
    ]
    assert kept[-1]["state"] == 3 and kept[-1]["errCode"] == 0
    assert len(decode(server.config.recordings_dir / "live" / "kept.mp4").frames) >= 45


async def test_a_paused_push_shows_the_slate_and_plays_on(
    server: RunningServer, rtmp_server: str
) -> None:
    alice = await synthetic_participant(server.base_url, "hold", "alice", RED[0], RED[2])
    log = EventLog()
    log.attach(alice)
    url = f"{rtmp_server}/room-hold"
    outputs = [{"id": "1", "output": [{"type": 1, "liveUrl": url, "errRetryTimes": 2}]}]
    try:
        await alice.start_svr_mixer(CFG, CONTENT, outputs)
        await log.wait_output(url, state=2)
        await alice.pause_svr_mixer()
        # A viewer who comes while paused gets a stream that plays: the slate.
        frame = await asyncio.wait_for(asyncio.to_thread(read_back, url), READ_TIMEOUT_S)
        await alice.resume_svr_mixer()
        again = await asyncio.wait_for(asyncio.to_thread(read_back, url), READ_TIMEOUT_S)
        await alice.stop_svr_mixer()
        await log.wait_state(0)
    finally:
        await alice.leave()
    assert not shows_color(frame, (0, 0, 640, 360), RED[1]), "nothing of the room while paused"
    assert frame.mean() < SLATE_MAX_MEAN and frame.max() > SLATE_TEXT_MIN, "a dark slate, with text"
    assert shows_color(again, (0, 0, 640, 360), RED[1]), "the room again once resumed"
