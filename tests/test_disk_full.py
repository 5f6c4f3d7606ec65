"""A recording that runs into a full disk: that output ends with 902 and stays
playable; the other output of the same mixer goes on. A real tmpfs, as root."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ServerFactory
from tests.helpers import BLUE, CFG_360P15, RED, EventLog, side_by_side, synthetic_participant
from tests.media import decode

TMPFS_SIZE = "1m"
# Left free on the tmpfs: about three seconds of this test's 640x360 stream.
HEADROOM_BYTES = 48 * 1024


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "recordings" / "small"
    mount_point.mkdir(parents=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(mount_point)], check=True
    )
    try:
        filler = mount_point / ".filler"
        free = os.statvfs(mount_point).f_bavail * os.statvfs(mount_point).f_frsize
        filler.write_bytes(b"\0" * (free - HEADROOM_BYTES))
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


async def test_full_disk_ends_one_output_and_keeps_it_playable(
    make_server: ServerFactory, small_disk: Path
) -> None:
    server = await make_server(min_free_disk_mb=0)
    alice = await synthetic_participant(server.base_url, "full", "alice", RED[0], RED[2])
    bob = await synthetic_participant(server.base_url, "full", "bob", BLUE[0], BLUE[2])
    log = EventLog()
    log.attach(alice)
    outputs = [
        {
            "id": "1",
            "output": [
                {"type": 0, "filename": "/small/a.mp4"},
                {"type": 0, "filename": "/big/b.mp4"},
            ],
        }
    ]
    try:
        await alice.start_svr_mixer(CFG_360P15, side_by_side("alice", "bob"), outputs)
        failed = await log.wait_output("/small/a.mp4", state=4, timeout=60)
        assert failed.data["errCode"] == 902
        await log.wait_output("/big/b.mp4", duration=failed.data["duration"] + 1500)
        assert int(await alice.get_svr_mixer_state()) == 2, "the recording goes on"
        await alice.stop_svr_mixer()
        await log.wait_state(0)
    finally:
        await alice.leave()
        await bob.leave()

    infos = {e.data["fileName"]: e.data for e in log.named("svrMixerOutputInfo")}
    assert infos["/big/b.mp4"]["state"] == 3 and infos["/big/b.mp4"]["errCode"] == 0
    assert infos["/small/a.mp4"]["state"] == 4
    partial = decode(small_disk / "a.mp4")
    assert len(partial.frames) >= 5, "what was written before the disk filled plays"
    full = decode(server.config.recordings_dir / "big" / "b.mp4")
    assert len(full.frames) > len(partial.frames) + 15
    rows = {r.file_name: r for r in server.recordings.index.all()}
    assert (rows["/small/a.mp4"].state, rows["/small/a.mp4"].error) == ("failed", 902)
    assert rows["/big/b.mp4"].state == "finished"
