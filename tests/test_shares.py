"""Screen shares and shared media: shown where the layout says, black while
nobody shares, following shares that start, stop and change hands."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
from aiortc.contrib.media import MediaPlayer

from cloudrec.client import Participant
from cloudrec.synthetic import ColorVideoTrack, ScreenTrack, ToneAudioTrack
from tests.helpers import BLUE, RED, EventLog, participant, synthetic_participant, write_media_file
from tests.media import decode, region_mean, shows_color, tone_present

# From a renegotiated connection to its first frames in the mix.
SHARE_SETTLE_S = 1.0
CONNECT_TIMEOUT_S = 20.0
LEFT, RIGHT = (40, 115, 240, 50), (360, 115, 240, 50)  # inside each tile's slide, under its bar


def luma(frame: np.ndarray, rect: tuple[int, int, int, int]) -> float:
    return float(region_mean(frame, *rect).mean())


async def _share(participant: Participant, color: str, tone: float, log: EventLog) -> float:
    """Starts a screen share; returns the file time from which it is in the mix."""
    running = await log.wait_state(2)
    await participant.publish(
        video=ColorVideoTrack(color, 320, 240, 15),
        audio=ToneAudioTrack(tone),
        screen=ScreenTrack(640, 360, 5),
    )
    await asyncio.wait_for(participant.connected_to_recorder.wait(), CONNECT_TIMEOUT_S)
    return asyncio.get_running_loop().time() - running.at + SHARE_SETTLE_S


async def test_screen_shares_start_and_change_hands(server) -> None:  # type: ignore[no-untyped-def]
    alice = await synthetic_participant(server.base_url, "share", "alice", RED[0], RED[2])
    bob = await synthetic_participant(server.base_url, "share", "bob", BLUE[0], BLUE[2])
    log = EventLog()
    log.attach(alice)
    cfgs = [{"id": "1", "cfg": {"width": 640, "height": 360, "frameRate": 15}}]
    contents = [
        {
            "id": "1",
            "content": [
                {"type": 5, "left": 0, "top": 0, "width": 320, "height": 360, "keepAspectRatio": 1},
                {
                    "type": 2,
                    "left": 320,
                    "top": 0,
                    "width": 320,
                    "height": 360,
                    "keepAspectRatio": 1,
                    "param": {"userid": "bob"},
                },
            ],
        }
    ]
    try:
        await alice.start_svr_mixer(
            cfgs, contents, [{"id": "1", "output": [{"type": 0, "filename": "/s/share.mp4"}]}]
        )
        await log.wait_duration(1000)
        alice_from = await _share(alice, RED[0], RED[2], log)
        await log.wait_duration(int((alice_from + 1.0) * 1000))
        bob_from = await _share(bob, BLUE[0], BLUE[2], log)
        await log.wait_duration(int((bob_from + 1.0) * 1000))
        await alice.stop_svr_mixer()
        await log.wait_state(0)
    finally:
        await alice.leave()
        await bob.leave()

    media = decode(server.config.recordings_dir / "s" / "share.mp4")
    before = media.frame_at(0.5)
    assert luma(before, LEFT) < 30 and luma(before, RIGHT) < 30, "black while nobody shares"
    alice_only = media.frame_at(alice_from + 0.3)
    assert luma(alice_only, LEFT) > 180, "whoever shares: alice"
    assert luma(alice_only, RIGHT) < 30, "bob is not sharing yet"
    both = media.frame_at(media.duration - 0.2)
    assert luma(both, LEFT) > 180 and luma(both, RIGHT) > 180
    assert not shows_color(both, LEFT, RED[1]) and not shows_color(both, RIGHT, BLUE[1])


async def test_shared_media_is_shown_and_heard(server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    movie = tmp_path / "movie.mp4"
    write_media_file(movie)
    carol = participant(server.base_url, "movie", "carol")
    await carol.join()
    player = MediaPlayer(str(movie), loop=True)
    await carol.publish(media=(player.video, player.audio))
    log = EventLog()
    log.attach(carol)
    cfgs = [{"id": "1", "cfg": {"width": 640, "height": 360, "frameRate": 15}}]
    contents = [
        {
            "id": "1",
            "content": [
                {"type": 3, "left": 0, "top": 0, "width": 640, "height": 360, "keepAspectRatio": 2}
            ],
        }
    ]
    try:
        await carol.start_svr_mixer(
            cfgs, contents, [{"id": "1", "output": [{"type": 0, "filename": "/s/movie.mp4"}]}]
        )
        await asyncio.wait_for(carol.connected_to_recorder.wait(), CONNECT_TIMEOUT_S)
        await log.wait_duration(3000)
        await carol.stop_svr_mixer()
        await log.wait_state(0)
    finally:
        await carol.leave()
    media = decode(server.config.recordings_dir / "s" / "movie.mp4")
    assert shows_color(media.frame_at(media.duration - 0.3), (0, 0, 640, 360), (0, 220, 0))
    assert tone_present(media.audio, media.audio_rate, 880.0)
