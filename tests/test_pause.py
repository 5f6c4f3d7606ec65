"""Pause and resume: nothing of the paused time reaches a file, whose timeline
goes on without a gap, in sync; every call that cannot be made is refused."""

from __future__ import annotations

import asyncio
import statistics

import aiohttp
import numpy as np
import pytest

from bench.avsync import beep_times, flash_times, offsets
from cloudrec.client import Participant
from cloudrec.errors import CloudrecError, ErrorCode
from cloudrec.synthetic import ColorVideoTrack, FlashSchedule, ToneAudioTrack
from cloudrec.wire import MixerState, OutputState
from signaling.server import RunningServer
from tests.helpers import (
    API_AUTH,
    CFG_360P15,
    PEER_FPS,
    PEER_SIZE,
    RED,
    EventLog,
    file_output,
    full_canvas,
    synthetic_participant,
    token,
)
from tests.media import decode, shows_color, tone_level

FPS = 15
GREEN = ("#00FF00", (0, 255, 0), 2500.0)  # what alice sends only while paused
CANVAS = (0, 0, 640, 360)
# Each phase lasts this many output info events (one a second while writing).
PHASE_INFOS = 3
# The file's length against the time recorded less the time paused, both as
# this test's calls saw them: one frame; the pause's ends, each put off to the
# clocks' common grid (200 ms at 15 fps); the one-way trips of four calls on a
# shared machine.
PAUSE_GRID_S = 0.2
LENGTH_TOLERANCE_S = 1 / FPS + PAUSE_GRID_S + 0.1
# Sound against picture: a part of an audio frame (AAC's 21 ms) either side;
# both leave out the same whole ticks.
SOUND_LENGTH_TOLERANCE_S = 1 / FPS + 0.02
# The flashes' offset from their beeps after the resume against before it:
# the same (both leave out the same whole ticks), read to a few samples of a
# beep's onset and allowing the capture-time estimates' wobble: under 1 ms on
# a quiet machine, 6.5 ms seen with other recordings running beside (the
# least delay they stand on, recorder/arrival.py, rises up to 2 ms a second
# while no packet comes quickly). Leaving out different times would shift it
# by an audio tick (20 ms) at least.
SYNC_SHIFT_S = 0.010
# A flash is shown on the output tick nearest its capture, within half a frame
# of its beep. Where the offset sits at that edge, such a wobble moves the
# flash to the tick on the other side: a whole frame, which says nothing of
# what the pause left out. Offsets this near the edge may so move.
FLIP_EDGE_S = 0.010
# From the start to the publisher's media settled in the file: the first
# sender reports, and the capture-time estimates on them.
MEDIA_SETTLE_S = 2.0
# The tone sent only while paused, relative to the file's strongest: absent
# means at the level of the encoder's noise.
PAUSED_TONE_ABSENT = 0.01


async def _infos(log: EventLog, name: str, count: int) -> list[int]:
    """Waits for ``count`` more output infos of ``name``; their durations."""
    seen = len(log.named("svrMixerOutputInfo"))

    def enough(_event: object) -> bool:
        infos = log.named("svrMixerOutputInfo")[seen:]
        return sum(1 for e in infos if e.data["fileName"] == name) >= count

    await log.wait_for(enough)
    infos = log.named("svrMixerOutputInfo")[seen:]
    return [e.data["duration"] for e in infos if e.data["fileName"] == name]


async def test_the_paused_time_never_reaches_the_file(server: RunningServer) -> None:
    name = "/pause/nine.mp4"
    alice = Participant(server.base_url, "pause", "alice", token("pause", "alice"))
    await alice.join()
    schedule = FlashSchedule(PEER_FPS)
    video = ColorVideoTrack(RED[0], *PEER_SIZE, PEER_FPS, schedule)
    audio = ToneAudioTrack(RED[2], schedule)
    await alice.publish(video=video, audio=audio)
    log = EventLog()
    log.attach(alice)
    loop = asyncio.get_running_loop()
    try:
        await alice.start_svr_mixer(CFG_360P15, [{"id": "1", "content": [full_canvas("alice")]}],
                                    file_output(name))  # fmt: skip
        started = loop.time()
        await asyncio.wait_for(alice.connected_to_recorder.wait(), 20)
        await _infos(log, name, PHASE_INFOS)

        await alice.pause_svr_mixer()
        paused = loop.time()
        assert await alice.get_svr_mixer_state() == MixerState.PAUSED
        video.recolor(GREEN[0])
        audio.retune(GREEN[2])
        during = await _infos(log, name, PHASE_INFOS)
        video.recolor(RED[0])
        audio.retune(RED[2])
        during += await _infos(log, name, 1)
        await alice.resume_svr_mixer()
        resumed = loop.time()
        await _infos(log, name, PHASE_INFOS)
        await alice.stop_svr_mixer()
        stopped = loop.time()
        await log.wait_state(0)
    finally:
        await alice.leave()

    states = [e.data for e in log.named("svrMixerStateChanged")]
    assert [s["state"] for s in states] == [1, 2, 3, 2, 4, 0]
    assert {s["operatorID"] for s in states} == {"alice"}
    # The info goes on while paused, its duration still: the file does not grow
    # (the first may hold the last frames from before the pause).
    assert len(set(during[1:])) == 1, during

    media = decode(server.config.recordings_dir / "pause" / "nine.mp4")
    assert np.allclose(np.diff(media.times), 1 / FPS, atol=1e-3), "constant frame rate"
    expected = (stopped - started) - (resumed - paused)
    assert abs(media.duration - expected) <= LENGTH_TOLERANCE_S, (media.duration, expected)
    audio_s = len(media.audio) / media.audio_rate
    assert abs(audio_s - media.duration) <= SOUND_LENGTH_TOLERANCE_S, "sound as long as picture"
    assert not [t for t, f in zip(media.times, media.frames, strict=True)
                if shows_color(f, CANVAS, GREEN[1])], "a frame from the paused time"  # fmt: skip
    whole = len(media.audio) / media.audio_rate
    assert tone_level(media.audio, media.audio_rate, GREEN[2], whole) <= PAUSED_TONE_ABSENT
    assert tone_level(media.audio, media.audio_rate, RED[2], whole) > PAUSED_TONE_ABSENT

    # Picture and sound left out the same time: each flash meets its beep as
    # before the pause.
    path = str(server.config.recordings_dir / "pause" / "nine.mp4")
    resumed_at = during[-1] / 1000  # the file's time where it went on
    flashes, beeps = flash_times(path), beep_times(path)
    before = offsets([f for f in flashes if f < resumed_at], beeps, MEDIA_SETTLE_S)
    after = offsets([f for f in flashes if f >= resumed_at], beeps, resumed_at)
    # Each phase holds two or three flashes; where a sender's frames fall half
    # a frame from the output's ticks, one may be passed over for its neighbour.
    assert before and after, (before, after)
    shift = statistics.fmean(after) - statistics.fmean(before)
    at_edge = all(abs(v) >= 1 / FPS / 2 - FLIP_EDGE_S for v in before + after)
    flipped = at_edge and abs(abs(shift) - 1 / FPS) <= SYNC_SHIFT_S
    assert abs(shift) <= SYNC_SHIFT_S or flipped, (before, after)


async def test_every_call_that_cannot_be_made_is_refused(server: RunningServer) -> None:
    alice = await synthetic_participant(server.base_url, "calls", "alice", RED[0], RED[2])
    log = EventLog()
    log.attach(alice)
    name = "/pause/calls.mp4"
    try:
        for call in (alice.pause_svr_mixer, alice.resume_svr_mixer):
            with pytest.raises(CloudrecError) as refused:
                await call()
            assert refused.value.code == ErrorCode.PARAM_ERR
            assert "is not recording" in refused.value.message
        await alice.start_svr_mixer(
            CFG_360P15, [{"id": "1", "content": [full_canvas("alice")]}], file_output(name)
        )
        with pytest.raises(CloudrecError, match="is running already") as refused:
            await alice.resume_svr_mixer()
        assert refused.value.code == ErrorCode.PARAM_ERR
        await log.wait_output(name, duration=1000)

        base = f"{server.base_url}/api/v1/rooms/calls/mixer"
        async with aiohttp.ClientSession() as anonymous, anonymous.post(f"{base}/pause") as resp:
            assert resp.status == 401
        async with aiohttp.ClientSession(headers=API_AUTH) as http:
            async with http.post(f"{base}/pause") as resp:
                assert resp.status == 200
                assert (await resp.json())["state"] == int(MixerState.PAUSED)
            async with http.post(f"{base}/pause") as resp:
                assert resp.status == 400
                body = await resp.json()
                assert body["err"] == ErrorCode.PARAM_ERR and "paused already" in body["message"]
        paused = await log.wait_state(int(MixerState.PAUSED))
        assert paused.data["operatorID"] == "api"
        # Told before the state's answer, on the same connection.
        assert await alice.get_svr_mixer_state() == MixerState.PAUSED
        assert alice.recording["active"] and alice.recording["paused"]

        # The layout may change while paused; it shows once resumed.
        await alice.update_svr_mixer_content([{"id": "1", "content": [full_canvas("alice")]}])
        # A paused recording stops as any other, its file whole.
        await alice.stop_svr_mixer()
        await log.wait_state(0)
    finally:
        await alice.leave()
    closed = [e.data for e in log.named("svrMixerOutputInfo") if e.data["fileName"] == name]
    assert closed[-1]["state"] == int(OutputState.CLOSED) and closed[-1]["errCode"] == 0
    assert decode(server.config.recordings_dir / "pause" / "calls.mp4").duration >= 1.0
