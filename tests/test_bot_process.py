"""Each recording's bot runs in a process of its own: a spare waits loaded, a
bot that dies ends its own recording only (its file settled as interrupted),
and none outlives the server."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from pathlib import Path

from cloudrec.config import Config
from cloudrec.errors import ErrorCode
from signaling.server import start_server
from tests.helpers import (
    API_KEY,
    API_SECRET,
    BLUE,
    CFG_360P15,
    EVENT_TIMEOUT_S,
    RED,
    EventLog,
    file_output,
    side_by_side,
    synthetic_participant,
)
from tests.media import decode

RECORD_MS = 1000
POLL_S = 0.05
FPS = 15  # CFG_360P15
# The index's length comes from the last packet, audio's or video's: audio may
# run past the last frame by up to a frame.
DURATION_TOLERANCE_MS = 100


def bot_processes() -> list[int]:
    """This process's ``recorder.worker`` children, oldest first."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue  # gone meanwhile
        if int(stat[1]) == os.getpid() and b"recorder.worker" in cmdline:
            found.append((int(stat[19]), int(entry.name)))  # (start time, pid)
    return [pid for _start, pid in sorted(found)]


async def test_a_dead_bot_ends_its_recording_only(tmp_path: Path) -> None:
    server = await start_server(
        Config(port=0, data_dir=tmp_path, api_key=API_KEY, api_secret=API_SECRET)
    )
    assert len(bot_processes()) == 1, "a spare bot waits, loaded, for the first room"
    alice = await synthetic_participant(server.base_url, "a", "alice", RED[0], RED[2])
    bob = await synthetic_participant(server.base_url, "b", "bob", BLUE[0], BLUE[2])
    log_a, log_b = EventLog(), EventLog()
    log_a.attach(alice)
    log_b.attach(bob)
    try:
        await alice.start_svr_mixer(
            CFG_360P15, side_by_side("alice", "alice"), file_output("/a/a.mp4")
        )
        await bob.start_svr_mixer(CFG_360P15, side_by_side("bob", "bob"), file_output("/b/b.mp4"))
        await log_a.wait_duration(RECORD_MS)
        await log_b.wait_duration(RECORD_MS)
        # Room a's bot was the first spare, room b's the next; a new spare waits.
        bot_a, _bot_b, _spare = bot_processes()
        os.kill(bot_a, signal.SIGKILL)

        ended = await log_a.wait_state(0)
        assert ended.data["err"] == int(ErrorCode.SERVER_EXCEPTION)
        # Room b records on, past what it had when a's bot died.
        so_far = log_b.named("svrMixerOutputInfo")[-1].data["duration"]
        await log_b.wait_duration(so_far + RECORD_MS)
        await bob.stop_svr_mixer()
        await log_b.wait_state(0)
    finally:
        await alice.leave()
        await bob.leave()

    index = server.recordings.index
    # The dead bot's files are settled just after its room's state event.
    await _until(lambda: getattr(index.by_name("/a/a.mp4"), "state", "") != "recording")
    lost, kept = index.by_name("/a/a.mp4"), index.by_name("/b/b.mp4")
    assert lost is not None and kept is not None
    assert (lost.state, kept.state) == ("interrupted", "finished")
    # The dead bot's file plays up to its last fragment, and the index says how long.
    media = decode(Path(lost.path))
    assert len(media.frames) > 0
    assert abs(lost.duration_ms - len(media.frames) * 1000 / FPS) <= DURATION_TOLERANCE_MS
    await server.close()
    assert bot_processes() == [], "the bots and the spare end with the server"


async def test_a_dead_spare_is_replaced_at_the_next_start(tmp_path: Path) -> None:
    server = await start_server(
        Config(port=0, data_dir=tmp_path, api_key=API_KEY, api_secret=API_SECRET)
    )
    alice = await synthetic_participant(server.base_url, "c", "alice", RED[0], RED[2])
    log = EventLog()
    log.attach(alice)
    try:
        (spare,) = bot_processes()
        os.kill(spare, signal.SIGKILL)
        # Gone from /proc once reaped, and its files (the spare's pipe) are
        # closed before that; a zombie's empty command line comes sooner than
        # its files close, and a job written meanwhile would sit in the pipe.
        await _until(lambda: not Path(f"/proc/{spare}").exists())
        await alice.start_svr_mixer(
            CFG_360P15, side_by_side("alice", "alice"), file_output("/c.mp4")
        )
        await log.wait_duration(RECORD_MS)
    finally:
        await alice.leave()
        await server.close()


async def _until(condition: Callable[[], bool]) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(POLL_S)

    await asyncio.wait_for(poll(), EVENT_TIMEOUT_S)
