"""Auto-record: the room records itself and re-lays itself out as people come,
share and go."""

from __future__ import annotations

import asyncio

from cloudrec.layouts import adaptive, grid, screen_focus
from cloudrec.synthetic import ColorVideoTrack, ScreenTrack, ToneAudioTrack
from tests.conftest import ServerFactory
from tests.helpers import BLUE, RED, EventLog, synthetic_participant
from tests.media import decode, region_mean, shows_color

SIZE = (640, 360)
# From a layout change to media on screen: renegotiation, decode, a tick.
SETTLE_S = 1.2


def overlaps(a: dict, b: dict) -> bool:  # type: ignore[type-arg]
    return not (
        a["left"] + a["width"] <= b["left"]
        or b["left"] + b["width"] <= a["left"]
        or a["top"] + a["height"] <= b["top"]
        or b["top"] + b["height"] <= a["top"]
    )


def test_grid_reflows_without_overlap() -> None:
    for count in range(1, 17):
        tiles = grid([f"u{i}" for i in range(count)], 1280, 720)
        assert len(tiles) == count
        for i, tile in enumerate(tiles):
            assert tile["left"] >= 0 and tile["left"] + tile["width"] <= 1280
            assert tile["top"] >= 0 and tile["top"] + tile["height"] <= 720
            assert not any(overlaps(tile, other) for other in tiles[i + 1 :]), count
    assert grid(["a"], 640, 360)[0] | {"param": None} == {
        "type": 0,
        "left": 0,
        "top": 0,
        "width": 640,
        "height": 360,
        "keepAspectRatio": 1,
        "param": None,
    }


def test_screen_takes_the_stage() -> None:
    stage, *cams = screen_focus("bob", ["alice", "bob"], 1280, 720)
    assert stage["type"] == 2 and stage["param"]["userid"] == "bob" and stage["width"] == 960
    assert all(c["left"] == 960 and c["width"] == 320 for c in cams)
    assert adaptive([], "bob", 1280, 720)[-1]["type"] == 4


async def test_room_records_itself(make_server: ServerFactory) -> None:
    server = await make_server(auto_record="auto-*", auto_record_size=SIZE)
    alice = await synthetic_participant(server.base_url, "auto-1", "alice", RED[0], RED[2])
    log = EventLog()
    log.attach(alice)
    # alice joined before she listened: the start may precede the log, so ask.
    running_at = asyncio.get_running_loop().time()
    await log.wait_duration(1500)
    bob = await synthetic_participant(server.base_url, "auto-1", "bob", BLUE[0], BLUE[2])
    two = await log.wait_for(lambda e: e.name == "svrMixerCfgChanged")
    await log.wait_duration(int((two.at - running_at + SETTLE_S + 1) * 1000))
    await bob.publish(
        video=ColorVideoTrack(BLUE[0], 320, 240, 15),
        audio=ToneAudioTrack(BLUE[2]),
        screen=ScreenTrack(640, 360, 5),
    )
    share = await log.wait_for(lambda e: e.name == "svrMixerCfgChanged" and e.at > two.at)
    await log.wait_duration(int((share.at - running_at + SETTLE_S + 1) * 1000))
    await bob.leave()
    await alice.leave()

    async def stopped() -> None:
        while (rec := server.recordings.index.all()) == [] or rec[0].state != "finished":
            await asyncio.sleep(0.1)  # the index has no event to wait on from here

    await asyncio.wait_for(stopped(), 20)
    (rec,) = server.recordings.index.all()
    assert rec.room == "auto-1" and rec.file_name.startswith("/auto/auto-1/")
    media = decode(server.config.recordings_dir / rec.file_name.lstrip("/"))
    alone = media.frame_at(1.0)
    assert shows_color(alone, (0, 0, 640, 360), RED[1]), "one person fills the canvas"
    pair = media.frame_at(two.at - running_at + SETTLE_S)
    assert shows_color(pair, (0, 60, 320, 240), RED[1]) and shows_color(
        pair, (320, 60, 320, 240), BLUE[1]
    )
    staged = media.frame_at(share.at - running_at + SETTLE_S)
    assert region_mean(staged, 60, 120, 360, 60).mean() > 180, "the share on the stage"
