"""Split files: a recording cut at maxFileSeconds (or maxFileBytes) goes on in
new parts, each a whole file from a keyframe; no frame is lost or repeated
across a cut, the sound joins without a gap, and the parts are one recording."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import aiohttp
import av
import numpy as np

from signaling.server import RunningServer
from tests.helpers import API_AUTH, CFG_360P15, RED, EventLog, full_canvas, synthetic_participant
from tests.media import decode

FPS = 15
CONTENT = [{"id": "1", "content": [full_canvas("alice")]}]
# AAC codes 1024-sample frames: a part's sound ends on a whole one, up to one
# past its picture.
AAC_FRAME_S = 1024 / 48_000
# Each file's sound begins with the encoder's priming, which a player's edit
# list hides and a plain decode does not: one frame.
AAC_PRIMING = 1024
# The smallest maxFileBytes: a synthetic camera and its tone reach it in about 3 s.
BYTES_LIMIT = 64 << 10
BYTES_OVERSHOOT = 32 << 10
# Decoded times are rounded to the containers' time bases.
TIMELINE_EPS_S = 0.001
# Windows of sound checked either side of each cut for silence.
JOIN_WINDOW_S = 0.005
JOIN_SPAN_S = 0.1
# The tone peaks at TONE_AMPLITUDE (cloudrec/synthetic.py); silence is far below.
SILENT_RMS = 0.01


def parts_of(server: RunningServer, *names: str) -> list[Path]:
    return [server.config.recordings_dir / "split" / name for name in names]


async def record(
    server: RunningServer, room: str, output: dict[str, Any], last: str, ms: int
) -> EventLog:
    """Records alice until ``last`` holds ``ms``, then stops."""
    alice = await synthetic_participant(server.base_url, room, "alice", RED[0], RED[2])
    log = EventLog()
    log.attach(alice)
    try:
        await alice.start_svr_mixer(CFG_360P15, CONTENT, [{"id": "1", "output": [output]}])
        await log.wait_output(last, duration=ms)
        await alice.stop_svr_mixer()
        await log.wait_state(0)
        return log
    finally:
        await alice.leave()


def first_is_keyframe(path: Path) -> bool:
    with av.open(str(path)) as container:
        return bool(next(container.demux(video=0)).is_keyframe)


def rms_windows(audio: np.ndarray, rate: int) -> np.ndarray:
    size = int(JOIN_WINDOW_S * rate)
    usable = len(audio) // size * size
    rms: np.ndarray = np.sqrt((audio[:usable].reshape(-1, size) ** 2).mean(axis=1))
    return rms


async def test_a_split_at_4s_of_10s_makes_three_whole_parts(server: RunningServer) -> None:
    output = {"type": 0, "filename": "/split/ten.mp4", "maxFileSeconds": 4}
    log = await record(server, "split", output, "/split/ten.part3.mp4", 2000)
    paths = parts_of(server, "ten.mp4", "ten.part2.mp4", "ten.part3.mp4")
    assert not (server.config.recordings_dir / "split" / "ten.part4.mp4").exists()
    media = [decode(p) for p in paths]
    assert [len(m.frames) for m in media[:2]] == [4 * FPS, 4 * FPS], "cut at 4 s exactly"
    closed = [e.data for e in log.named("svrMixerOutputInfo") if e.data["state"] == 3]
    assert sorted(c["fileName"] for c in closed) == sorted(f"/split/{p.name}" for p in paths)
    # Every frame the mixer encoded is in exactly one part.
    state = f"{server.base_url}/api/v1/rooms/split/mixer"
    async with aiohttp.ClientSession(headers=API_AUTH) as http, http.get(state) as resp:
        encoded = (await resp.json())["stats"]["framesEncoded"]
    assert sum(len(m.frames) for m in media) == encoded
    for path, m in zip(paths, media, strict=True):
        assert first_is_keyframe(path), path.name
        assert np.allclose(np.diff(m.times), 1 / FPS, atol=1e-3), path.name
    sounds = [m.audio[AAC_PRIMING:] for m in media]
    for path, m, sound in zip(paths[:2], media, sounds, strict=False):
        # On the file's timeline a part's sound ends with its last picture, or
        # within a codec frame after it (the last part's ends where it stopped).
        sound_end = (AAC_PRIMING + len(sound)) / m.audio_rate
        picture_end = m.times[0] + m.duration
        assert -TIMELINE_EPS_S <= sound_end - picture_end < AAC_FRAME_S, path.name

    # Across each cut the tone goes on: no silent window either side.
    rate = media[0].audio_rate
    span = int(JOIN_SPAN_S * rate)
    for before, after in itertools.pairwise(sounds):
        joined = np.concatenate([before[-span:], after[:span]])
        assert rms_windows(joined, rate).min() > SILENT_RMS

    # One recording, its parts in order.
    first = server.recordings.index.by_name("/split/ten.mp4")
    assert first is not None
    url = f"{server.base_url}/api/v1/recordings/{first.id}"
    async with aiohttp.ClientSession(headers=API_AUTH) as http, http.get(url) as resp:
        listed = (await resp.json())["parts"]
    assert [(p["part"], p["fileName"]) for p in listed] == [
        (1, "/split/ten.mp4"),
        (2, "/split/ten.part2.mp4"),
        (3, "/split/ten.part3.mp4"),
    ]


async def test_a_file_is_cut_past_its_bytes_at_a_keyframe(server: RunningServer) -> None:
    output = {"type": 0, "filename": "/split/big.mkv", "maxFileBytes": BYTES_LIMIT}
    await record(server, "bytes", output, "/split/big.part2.mkv", 300)
    first, second = parts_of(server, "big.mkv", "big.part2.mkv")
    # Cut at the first frame after the file on disk reached the limit; what
    # the muxer holds (a 500 ms cluster) then lands in it too.
    assert BYTES_LIMIT <= first.stat().st_size < BYTES_LIMIT + BYTES_OVERSHOOT
    assert first_is_keyframe(second)
    frames = [len(decode(p).frames) for p in (first, second)]
    assert all(frames), frames


async def test_sound_alone_is_cut_on_whole_frames_and_joins(server: RunningServer) -> None:
    cfgs = [{"id": "1", "streamTypes": 1, "acfg": {"channelType": 1, "audioFormat": 0}}]
    alice = await synthetic_participant(server.base_url, "sound", "alice", RED[0], RED[2])
    log = EventLog()
    log.attach(alice)
    output = {"type": 0, "filename": "/split/talk.m4a", "maxFileSeconds": 1}
    try:
        await alice.start_svr_mixer(cfgs, [], [{"id": "1", "output": [output]}])
        await log.wait_output("/split/talk.part3.m4a", duration=200)
        await alice.stop_svr_mixer()
        await log.wait_state(0)
    finally:
        await alice.leave()
    media = [decode(p) for p in parts_of(server, "talk.m4a", "talk.part2.m4a", "talk.part3.m4a")]
    sounds = [m.audio[AAC_PRIMING:] for m in media]
    for sound in sounds[:2]:
        assert len(sound) % AAC_PRIMING == 0, "ends on a whole AAC frame, unpadded"
        assert 1.0 <= len(sound) / media[0].audio_rate < 1.0 + AAC_FRAME_S
    rate = media[0].audio_rate
    span = int(JOIN_SPAN_S * rate)
    for before, after in itertools.pairwise(sounds):
        joined = np.concatenate([before[-span:], after[:span]])
        assert rms_windows(joined, rate).min() > SILENT_RMS
