"""A room recorded end to end: real aiortc peers over loopback, the file decoded back."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from signaling.server import RunningServer
from tests.helpers import (
    BLUE,
    CFG_360P15,
    EVENT_TIMEOUT_S,
    LEFT_TILE,
    RED,
    RIGHT_TILE,
    TIMESTAMP_RECT,
    Event,
    EventLog,
    file_output,
    participant,
    side_by_side,
    synthetic_participant,
)
from tests.media import decode, shows_color, tone_absent, tone_present

# Frame count may differ from duration x fps by this much (SPEC: within 2 frames).
FRAME_COUNT_TOLERANCE = 2
# The recording's start as the server stamped it, against this test's clock:
# one machine, so only the time the calls took between them.
CLOCK_TOLERANCE_S = 5.0
# Between a connected peer and its first frame in the mix: ICE, decode, one tick.
MEDIA_SETTLE_S = 1.0
# An event's arrival time maps to file time within this (delivery, queueing).
EVENT_TO_FILE_S = 0.4
# Reported duration vs the decoded file: one video frame plus AAC's last frame.
INFO_DURATION_TOLERANCE_MS = 100
# The timestamp text changes every second; a region that changed differs by this.
TIMESTAMP_MIN_DIFF = 1.0


async def _two_party_room(server: RunningServer, room: str):  # type: ignore[no-untyped-def]
    alice = await synthetic_participant(server.base_url, room, "alice", RED[0], RED[2])
    bob = await synthetic_participant(server.base_url, room, "bob", BLUE[0], BLUE[2])
    log = EventLog()
    log.attach(alice)
    return alice, bob, log


async def _wait_media(log: EventLog, *participants) -> float:  # type: ignore[no-untyped-def]
    """Waits until every publisher is connected to the bot; returns the file time
    from which their video is certainly in the mix."""
    await asyncio.wait_for(
        asyncio.gather(*(p.connected_to_recorder.wait() for p in participants)), 20
    )
    running = await log.wait_state(2)
    return asyncio.get_running_loop().time() - running.at + MEDIA_SETTLE_S


async def test_two_participants_side_by_side(server: RunningServer) -> None:
    alice, bob, log = await _two_party_room(server, "two")
    try:
        await alice.start_svr_mixer(
            CFG_360P15, side_by_side("alice", "bob"), file_output("/t/two.mp4")
        )
        settled = await _wait_media(log, alice, bob)
        await log.wait_duration(int((settled + 2.5) * 1000))
        await alice.stop_svr_mixer()
        await log.wait_state(0)
    finally:
        await alice.leave()
        await bob.leave()

    path = server.config.recordings_dir / "t" / "two.mp4"
    media = decode(path)
    assert (media.width, media.height) == (640, 360)
    assert media.fps == 15
    assert media.video_codec == "h264" and media.pix_fmt == "yuv420p"
    assert media.audio_codec == "aac"
    expected_frames = media.times[-1] * 15 + 1
    assert abs(len(media.frames) - expected_frames) <= FRAME_COUNT_TOLERANCE
    steps = np.diff(media.times)
    assert np.allclose(steps, 1 / 15, atol=1e-3), "constant frame rate"

    for t in np.arange(settled, media.duration - 0.2, 0.5):
        frame = media.frame_at(float(t))
        assert shows_color(frame, LEFT_TILE, RED[1]), f"left tile at {t:.1f}s"
        assert shows_color(frame, RIGHT_TILE, BLUE[1]), f"right tile at {t:.1f}s"

    x, y, w, h = TIMESTAMP_RECT
    first = media.frame_at(settled)[y : y + h, x : x + w].astype(np.int16)
    later = media.frame_at(settled + 1.0)[y : y + h, x : x + w].astype(np.int16)
    assert np.abs(first - later).mean() > TIMESTAMP_MIN_DIFF, "timestamp changes each second"
    assert first.max() > 200, "timestamp text is drawn"

    assert tone_present(media.audio, media.audio_rate, RED[2])
    assert tone_present(media.audio, media.audio_rate, BLUE[2])
    assert tone_absent(media.audio, media.audio_rate, 1000.0)


async def test_update_swaps_tiles(server: RunningServer) -> None:
    alice, bob, log = await _two_party_room(server, "swap")
    try:
        await alice.start_svr_mixer(
            CFG_360P15, side_by_side("alice", "bob"), file_output("/t/swap.mp4")
        )
        settled = await _wait_media(log, alice, bob)
        await log.wait_duration(int((settled + 1.0) * 1000))
        swap_at = log.file_time(asyncio.get_running_loop().time())
        await alice.update_svr_mixer_content(side_by_side("bob", "alice"))
        # Confirmed once the recorder has taken the layout: the swap is in the
        # file by then, however long the round trip took.
        changed = await log.wait_for(lambda e: e.name == "svrMixerCfgChanged")
        swapped_by = log.file_time(changed.at)
        await log.wait_duration(int((swapped_by + 2.0) * 1000))
        await alice.stop_svr_mixer()
        await log.wait_state(0)
    finally:
        await alice.leave()
        await bob.leave()

    media = decode(server.config.recordings_dir / "t" / "swap.mp4")
    before = media.frame_at(swap_at - EVENT_TO_FILE_S)
    after = media.frame_at(swapped_by + EVENT_TO_FILE_S)
    assert shows_color(before, LEFT_TILE, RED[1]) and shows_color(before, RIGHT_TILE, BLUE[1])
    assert shows_color(after, LEFT_TILE, BLUE[1]) and shows_color(after, RIGHT_TILE, RED[1])
    end = media.frame_at(media.duration - 0.2)
    assert shows_color(end, LEFT_TILE, BLUE[1]) and shows_color(end, RIGHT_TILE, RED[1])


async def test_participant_leaves_mid_recording(server: RunningServer) -> None:
    alice, bob, log = await _two_party_room(server, "leave")
    try:
        await alice.start_svr_mixer(
            CFG_360P15, side_by_side("alice", "bob"), file_output("/t/leave.mp4")
        )
        settled = await _wait_media(log, alice, bob)
        running = await log.wait_state(2)
        await log.wait_duration(int((settled + 1.0) * 1000))
        left_at = asyncio.get_running_loop().time() - running.at
        await bob.leave()
        await log.wait_duration(int((left_at + 2.0) * 1000))
        await alice.stop_svr_mixer()
        await log.wait_state(0)
    finally:
        await alice.leave()

    media = decode(server.config.recordings_dir / "t" / "leave.mp4")
    steps = np.diff(media.times)
    assert np.allclose(steps, 1 / 15, atol=1e-3), "frame rate holds after a leave"
    assert abs(len(media.frames) - (media.times[-1] * 15 + 1)) <= FRAME_COUNT_TOLERANCE
    before = media.frame_at(left_at - EVENT_TO_FILE_S)
    assert shows_color(before, RIGHT_TILE, BLUE[1])
    for t in (left_at + EVENT_TO_FILE_S + 0.5, media.duration - 0.2):
        frame = media.frame_at(t)
        assert shows_color(frame, LEFT_TILE, RED[1]), "the recording goes on"
        # The placeholder: a dark tile with the user's name in light text.
        tile = frame[0:360, 320:640]
        assert shows_color(frame, (320, 0, 320, 120), (32, 32, 32))
        assert tile.max() > 150, "the placeholder names the user"


async def test_event_sequence_and_output_info(server: RunningServer) -> None:
    alice, bob, log = await _two_party_room(server, "events")
    try:
        await alice.start_svr_mixer(
            CFG_360P15, side_by_side("alice", "bob"), file_output("/t/ev.mp4")
        )
        await log.wait_duration(2500)
        await alice.stop_svr_mixer()
        await log.wait_state(0)
    finally:
        await alice.leave()
        await bob.leave()

    def key(e: Event) -> tuple[object, ...]:
        if e.name == "svrMixerStateChanged":
            return ("state", e.data["state"], e.data["err"], e.data["operatorID"])
        return ("info", e.data["state"])

    sequence = [key(e) for e in log.events]
    # Collapse the periodic WRITING reports into one step.
    collapsed = [k for i, k in enumerate(sequence) if i == 0 or k != sequence[i - 1]]
    assert collapsed == [
        ("state", 1, 0, "alice"),
        ("info", 1),
        ("state", 2, 0, "alice"),
        ("info", 2),
        ("state", 4, 0, "alice"),
        ("info", 3),
        ("state", 0, 0, "alice"),
    ]
    writing = [e for e in log.named("svrMixerOutputInfo") if e.data["state"] == 2]
    assert len(writing) >= 2
    durations = [e.data["duration"] for e in writing]
    sizes = [e.data["fileSize"] for e in writing]
    assert durations == sorted(durations) and durations[-1] > durations[0]
    assert sizes == sorted(sizes) and sizes[-1] > sizes[0]
    gaps = np.diff([e.at for e in writing])
    assert gaps.max() < 1.5, "output info at least once a second while writing"

    final = log.named("svrMixerOutputInfo")[-1].data
    path = server.config.recordings_dir / "t" / "ev.mp4"
    assert final["fileName"] == "/t/ev.mp4" and final["errCode"] == 0
    assert final["fileSize"] == os.path.getsize(path)
    media = decode(path)
    decoded_ms = len(media.frames) * 1000 / media.fps
    assert abs(final["duration"] - decoded_ms) <= INFO_DURATION_TOLERANCE_MS


async def test_late_joiner_enters_the_mix(server: RunningServer) -> None:
    alice = await synthetic_participant(server.base_url, "late", "alice", RED[0], RED[2])
    log = EventLog()
    log.attach(alice)
    bob = None
    try:
        await alice.start_svr_mixer(
            CFG_360P15, side_by_side("alice", "bob"), file_output("/t/late.mp4")
        )
        running = await log.wait_state(2)
        bob = await synthetic_participant(server.base_url, "late", "bob", BLUE[0], BLUE[2])
        await asyncio.wait_for(bob.connected_to_recorder.wait(), 20)
        joined_at = asyncio.get_running_loop().time() - running.at
        await log.wait_duration(int((joined_at + MEDIA_SETTLE_S + 1.0) * 1000))
        await alice.stop_svr_mixer()
        await log.wait_state(0)
    finally:
        await alice.leave()
        if bob is not None:
            await bob.leave()

    media = decode(server.config.recordings_dir / "t" / "late.mp4")
    first = media.frame_at(0.0)
    assert shows_color(first, (320, 0, 320, 120), (32, 32, 32)), "placeholder before bob joins"
    end = media.frame_at(media.duration - 0.2)
    assert shows_color(end, LEFT_TILE, RED[1]) and shows_color(end, RIGHT_TILE, BLUE[1])
    assert tone_present(media.audio, media.audio_rate, BLUE[2])


async def test_everyone_knows_the_room_is_recorded(server: RunningServer) -> None:
    """Who joins while the room records is told at once, by whom and since
    when; everyone hears when it starts and when it stops."""
    alice = await synthetic_participant(server.base_url, "told", "alice", RED[0], RED[2])
    heard: dict[str, list[bool]] = {"alice": [], "bob": []}
    stopped = {name: asyncio.Event() for name in heard}

    def follow(name: str) -> Callable[[dict[str, Any]], None]:
        def hear(status: dict[str, Any]) -> None:
            heard[name].append(status["active"])
            if not status["active"]:
                stopped[name].set()

        return hear

    alice.on("recording", follow("alice"))
    try:
        assert alice.recording == {"active": False}
        layout = side_by_side("alice", "bob")
        await alice.start_svr_mixer(CFG_360P15, layout, file_output("/told/a.mp4"))
        async with participant(server.base_url, "told", "bob") as bob:
            bob.on("recording", follow("bob"))
            assert bob.recording["active"] and bob.recording["startedBy"] == "alice"
            assert abs(bob.recording["since"] / 1000 - time.time()) < CLOCK_TOLERANCE_S
            await alice.stop_svr_mixer()
            for name in heard:
                await asyncio.wait_for(stopped[name].wait(), EVENT_TIMEOUT_S)
            assert bob.recording == {"active": False}
    finally:
        await alice.leave()
    assert heard == {"alice": [True, False], "bob": [False]}
