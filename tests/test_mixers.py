"""Several mixers in one session, each with its own size, layout, audio choice
and outputs, all fed from one decode of each input."""

from __future__ import annotations

from signaling.server import RunningServer
from tests.helpers import BLUE, RED, EventLog, full_canvas, synthetic_participant
from tests.media import decode, shows_color, tone_absent, tone_present

# Publishers connect within a second of the start; the checks look past that.
SETTLED_S = 1.5


async def test_three_mixers_with_their_own_layouts_audio_and_formats(server: RunningServer) -> None:
    alice = await synthetic_participant(server.base_url, "multi", "alice", RED[0], RED[2])
    bob = await synthetic_participant(server.base_url, "multi", "bob", BLUE[0], BLUE[2])
    log = EventLog()
    log.attach(alice)
    cfgs = [
        {"id": "hd", "streamTypes": 3, "cfg": {"width": 1280, "height": 720, "frameRate": 15}},
        {"id": "sd", "streamTypes": 3, "cfg": {"width": 640, "height": 360, "frameRate": 10}},
        {"id": "voice", "streamTypes": 1, "acfg": {"channelType": 0, "audioFormat": 1}},
    ]
    contents = [
        {"id": "hd", "content": [full_canvas("alice", 1280, 720)]},
        {"id": "sd", "content": [full_canvas("bob", 640, 360), {"type": 9, "param": "bob"}]},
        {"id": "voice", "content": [{"type": 9, "param": "alice"}]},
    ]
    outputs = [
        {"id": "hd", "output": [{"type": 0, "filename": "/m/hd.mp4"}]},
        {
            "id": "sd",
            "output": [{"type": 0, "filename": f"/m/sd.{ext}"} for ext in ("flv", "mkv", "ts")],
        },
        {"id": "voice", "output": [{"type": 0, "filename": "/m/voice.mp3"}]},
    ]
    try:
        await alice.start_svr_mixer(cfgs, contents, outputs)
        await log.wait_output("/m/voice.mp3", duration=(SETTLED_S + 2.5) * 1000)
        await alice.stop_svr_mixer()
        await log.wait_state(0)
    finally:
        await alice.leave()
        await bob.leave()

    root = server.config.recordings_dir / "m"
    hd = decode(root / "hd.mp4")
    assert (hd.width, hd.height, hd.fps) == (1280, 720, 15)
    assert shows_color(hd.frame_at(SETTLED_S + 1), (0, 0, 1280, 720), RED[1])
    assert tone_present(hd.audio, hd.audio_rate, RED[2]), "no type 9: everybody is heard"
    assert tone_present(hd.audio, hd.audio_rate, BLUE[2])
    for ext in ("flv", "mkv", "ts"):
        sd = decode(root / f"sd.{ext}")
        assert (sd.width, sd.height, sd.video_codec, sd.audio_codec) == (640, 360, "h264", "aac"), (
            ext
        )
        assert abs(sd.fps - 10) < 0.5, ext
        assert shows_color(sd.frame_at(SETTLED_S + 1), (0, 0, 640, 360), BLUE[1]), ext
        assert tone_present(sd.audio, sd.audio_rate, BLUE[2]), ext
        assert tone_absent(sd.audio, sd.audio_rate, RED[2]), ext
    voice = decode(root / "voice.mp3")
    assert not voice.frames and voice.audio_channels == 1
    assert voice.audio_codec is not None and voice.audio_codec.startswith("mp3")
    assert tone_present(voice.audio, voice.audio_rate, RED[2])
    assert tone_absent(voice.audio, voice.audio_rate, BLUE[2])
    rows = {r.file_name: r for r in server.recordings.index.all()}
    assert rows["/m/voice.mp3"].video_codec is None and rows["/m/voice.mp3"].audio_codec == "mp3"
    assert rows["/m/hd.mp4"].width == 1280
