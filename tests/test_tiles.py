"""Frozen and placeholder time, measured per tile on the mixer's clock."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import av

from cloudrec.client import Participant
from cloudrec.sources import SourceId
from cloudrec.synthetic import ColorVideoTrack, ToneAudioTrack
from recorder.tiles import FROZEN_AFTER_S, TileMeter
from recorder.tracks import FrameRef
from signaling.server import RunningServer
from tests.helpers import (
    BLUE,
    CFG_360P15,
    PEER_FPS,
    PEER_SIZE,
    RED,
    EventLog,
    file_output,
    mixer_state,
    side_by_side,
    synthetic_participant,
    token,
)

FPS = 15
# A held camera is frozen from FROZEN_AFTER_S after its last frame until it
# sends again; what the recorder's playout delay and a tick's phase add.
HOLD_S = 2.0
FREEZE_TOLERANCE_MS = 300


def test_a_tick_counts_as_shown_frozen_or_placeholder() -> None:
    meter = TileMeter("1", FPS)
    alice, bob = SourceId.camera("alice"), SourceId.camera("bob")
    frame = av.VideoFrame(16, 16, "yuv420p")
    for _ in range(FPS):  # a second: alice fresh, bob absent
        meter.count({alice: FrameRef(frame, "alice", 0.05), bob: FrameRef(None, "bob")})
    for _ in range(FPS):  # a second: alice's frame getting old
        meter.count(
            {alice: FrameRef(frame, "alice", FROZEN_AFTER_S + 0.01), bob: FrameRef(None, "bob")}
        )
    tiles = {t.source: t for t in meter.stats()}
    assert (tiles["alice.-1"].shown_ms, tiles["alice.-1"].frozen_ms) == (2000, 1000)
    assert tiles["alice.-1"].placeholder_ms == 0
    assert (tiles["bob.-1"].placeholder_ms, tiles["bob.-1"].frozen_ms) == (2000, 0)


class HeldCamera(ColorVideoTrack):
    """A camera that stops sending while held, as a stalled browser does: the
    frames it would have captured meanwhile never are (they would come in a
    burst afterwards, stamped with the held time)."""

    def __init__(self) -> None:
        super().__init__(BLUE[0], *PEER_SIZE, PEER_FPS)
        self.sending = asyncio.Event()
        self.sending.set()

    async def recv(self) -> av.VideoFrame:
        await self.sending.wait()
        while True:
            n, due = await self._pace.next()
            if due >= time.time() - 1 / PEER_FPS:
                return self.frame(n)


async def test_a_held_camera_is_measured_frozen(server: RunningServer) -> None:
    alice = await synthetic_participant(server.base_url, "held", "alice", RED[0], RED[2])
    bob = Participant(server.base_url, "held", "bob", token("held", "bob"))
    await bob.join()
    camera = HeldCamera()
    await bob.publish(video=camera, audio=ToneAudioTrack(BLUE[2]))
    log = EventLog()
    log.attach(alice)
    name = "/tiles/held.mp4"
    try:
        await alice.start_svr_mixer(CFG_360P15, side_by_side("alice", "bob"), file_output(name))
        await asyncio.wait_for(bob.connected_to_recorder.wait(), 20)
        await log.wait_output(name, duration=1000)
        camera.sending.clear()
        held = (await log.wait_output(name, duration=1000 + int(HOLD_S * 1000))).data
        camera.sending.set()
        await log.wait_output(name, duration=held["duration"] + 1000)
        await alice.stop_svr_mixer()
        await log.wait_state(0)
    finally:
        await alice.leave()
        await bob.leave()
    stats = (await mixer_state(server.base_url, "held"))["stats"]
    tiles = {t["source"]: t for t in stats["tiles"]}
    frozen = tiles["bob.-1"]["frozenMs"]
    expected = (HOLD_S - FROZEN_AFTER_S) * 1000
    assert abs(frozen - expected) <= FREEZE_TOLERANCE_MS, (frozen, tiles)
    assert tiles["bob.-1"]["placeholderMs"] < tiles["bob.-1"]["shownMs"] / 2
    assert tiles["alice.-1"]["frozenMs"] < frozen, "alice went on sending"
    assert stats["frozenMs"] == sum(t["frozenMs"] for t in tiles.values() if t["source"])
    async with aiohttp.ClientSession() as http, http.get(f"{server.base_url}/metrics") as reply:
        metrics = await reply.text()
    assert f"cloudrec_frozen_ms_total {float(stats['frozenMs'])}" in metrics
