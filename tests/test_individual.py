"""Mode 1: each participant's camera and voice in a file of their own, beside
the mix; files start as people appear and end as they leave."""

from __future__ import annotations

from typing import Any

from signaling.server import RunningServer
from tests.helpers import BLUE, RED, EventLog, side_by_side, synthetic_participant
from tests.media import decode, shows_color, tone_absent, tone_present


async def test_individual_files_beside_the_mix(server: RunningServer) -> None:
    alice = await synthetic_participant(server.base_url, "solo", "alice", RED[0], RED[2])
    bob = await synthetic_participant(server.base_url, "solo", "bob", BLUE[0], BLUE[2])
    log = EventLog()
    log.attach(alice)
    cfgs: list[dict[str, Any]] = [
        {"id": "mix", "cfg": {"width": 640, "height": 360, "frameRate": 15}},
        {"id": "each", "mode": 1, "cfg": {"width": 320, "height": 240, "frameRate": 15}},
    ]
    outputs = [
        {"id": "mix", "output": [{"type": 0, "filename": "/solo/mix.mp4"}]},
        {"id": "each", "output": [{"type": 0, "filename": "/solo/{userid}.mkv"}]},
    ]
    try:
        await alice.start_svr_mixer(
            cfgs, [{"id": "mix", "content": side_by_side("alice", "bob")[0]["content"]}], outputs
        )
        bob_writing = await log.wait_output("/solo/bob.mkv", duration=2500)
        await bob.leave()
        await log.wait_output("/solo/bob.mkv", state=3)
        await log.wait_output("/solo/alice.mkv", duration=bob_writing.data["duration"] + 1500)
        await alice.stop_svr_mixer()
        await log.wait_state(0)
    finally:
        await alice.leave()

    root = server.config.recordings_dir / "solo"
    mine = decode(root / "alice.mkv")
    bobs = decode(root / "bob.mkv")
    assert (mine.width, mine.height) == (320, 240)
    assert shows_color(mine.frame_at(mine.duration - 0.3), (0, 0, 320, 240), RED[1])
    # His file ends when he leaves, not after a stretch of placeholder.
    assert shows_color(bobs.frame_at(bobs.duration - 0.2), (0, 0, 320, 240), BLUE[1])
    assert tone_present(mine.audio, mine.audio_rate, RED[2])
    assert tone_absent(mine.audio, mine.audio_rate, BLUE[2]), "only her own voice"
    assert tone_present(bobs.audio, bobs.audio_rate, BLUE[2])
    assert tone_absent(bobs.audio, bobs.audio_rate, RED[2])
    assert bobs.duration < mine.duration - 1.0, "bob's file ended when he left"
    names = {r.file_name: r for r in server.recordings.index.all()}
    assert {"/solo/mix.mp4", "/solo/alice.mkv", "/solo/bob.mkv"} <= names.keys()
    assert names["/solo/bob.mkv"].state == "finished" and names["/solo/bob.mkv"].mixer_id == "each"
