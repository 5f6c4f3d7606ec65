"""The typed messages between the server and a bot: each comes back from JSON
as it went, and the start request the server sends the bot is the caller's,
parsed once and every default filled in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cloudrec.config import Config
from cloudrec.contract import (
    LeaveRoom,
    MixerStats,
    OutputInfo,
    RecordingEnded,
    RecordJob,
    StartMixer,
    StopMixer,
    UpdateMixer,
    bot_message,
    parse_tracks,
    request_to_wire,
    server_message,
)
from cloudrec.errors import CloudrecError, ErrorCode
from cloudrec.wire import Limits, OutputState, parse_start
from tests.helpers import CFG_360P15, file_output, side_by_side

LIMITS = Limits()
REQUESTS: list[dict[str, Any]] = [
    {"cfgs": CFG_360P15, "contents": side_by_side("a", "b"), "outputs": file_output("/x/a.mp4")},
    {
        "cfgs": [
            {"id": "v", "cfg": {"width": 1280, "height": 720}},
            {"id": "a", "streamTypes": 1, "acfg": {"channelType": 0, "audioFormat": 1}},
            {"id": "m", "mode": 1, "cfg": {"width": 320, "height": 240, "frameRate": 10}},
        ],
        "contents": [
            {
                "id": "v",
                "content": [
                    {"type": 7, "width": 0, "height": 0, "param": {"text": "张三 %timestamp%"}},
                    {"type": 5, "left": 10, "top": 10, "width": 100, "height": 60},
                    {"type": 9, "param": "a"},
                ],
            }
        ],
        "outputs": [
            {
                "id": "v",
                "output": [
                    {"type": 0, "filename": "/x/v.m3u8"},
                    {"type": 1, "liveUrl": "rtmp://127.0.0.1/live/k", "errRetryTimes": 2},
                    {"type": 0, "filename": "/x/v.jpg", "interval": 30},
                    {"type": 0, "filename": "/x/v.mp4", "maxFileSeconds": 60},
                ],
            },
            {"id": "a", "output": [{"type": 0, "filename": "/x/a.mp3", "maxFileBytes": 1 << 30}]},
            {"id": "m", "output": [{"type": 0, "filename": "/x/{userid}.mkv"}]},
        ],
    },
]


def _through_json(message: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(message))  # type: ignore[no-any-return]


@pytest.mark.parametrize("body", REQUESTS)
def test_the_start_the_bot_gets_is_the_request_the_server_parsed(body: dict[str, Any]) -> None:
    request = parse_start(body["cfgs"], body["contents"], body["outputs"], LIMITS)
    sent = _through_json(StartMixer(request).to_wire())
    got = server_message(sent)
    assert isinstance(got, StartMixer) and got.request == request and not got.paused
    moved = server_message(_through_json(StartMixer(request, paused=True).to_wire()))
    assert isinstance(moved, StartMixer) and moved.paused, "a part moved while paused"
    again = request_to_wire(request)
    assert parse_start(again["cfgs"], again["contents"], again["outputs"], LIMITS) == request
    update = server_message(_through_json(UpdateMixer(request.contents).to_wire()))
    assert isinstance(update, UpdateMixer) and update.contents == request.contents


def test_every_message_comes_back_as_it_went() -> None:
    for message in (StopMixer(), LeaveRoom()):
        assert server_message(_through_json(message.to_wire())) == message
    for said in (
        OutputInfo("1", "/x/a.mp4", OutputState.WRITING, 1500, 42_000, 0),
        MixerStats(video_ticks=30, late_video_ticks=1, audio_underruns=2, live_frames_dropped=3),
        RecordingEnded(ErrorCode.RECORD_MAX),
    ):
        assert bot_message(_through_json(said.to_wire())) == said
    assert MixerStats(late_audio_ticks=4).counters()["lateAudioTicks"] == 4
    job = RecordJob("ws://127.0.0.1:1/ws", "r", Config(data_dir=Path("/d"), api_key="k"), 20)
    back = RecordJob.from_wire(_through_json(job.to_wire()))
    assert back == job


@pytest.mark.parametrize(
    "message",
    [
        {"type": "mixer.outputInfo"},
        {"type": "mixer.outputInfo", "data": {"id": "1"}},
        {"type": "mixer.stats", "data": {"videoTicks": 1}},
        {"type": "mixer.ended", "err": 12345},
        {"type": "mixer.nope"},
    ],
)
def test_a_bot_message_that_does_not_read_is_refused(message: dict[str, Any]) -> None:
    with pytest.raises(CloudrecError) as caught:
        bot_message(message)
    assert int(caught.value.code) == 5


def test_tracks_are_checked_once() -> None:
    offer = [
        {"mid": "0", "kind": "video", "source": "camera", "camId": 2},
        {"mid": "1", "kind": "audio"},
        {"mid": "2", "kind": "video", "source": "screen"},
    ]
    tracks = parse_tracks(offer, "data.tracks", with_mids=True)
    assert [(t.mid, t.source, t.cam_id) for t in tracks] == [
        ("0", "camera", 2),
        ("1", "mic", None),
        ("2", "screen", None),
    ]
    for bad, said in (
        ([{"kind": "video", "camId": "0"}], "camId"),
        ([{"kind": "video", "camId": 16}], "camId"),
        ([{"kind": "text"}], "kind"),
        ([{"kind": "audio", "source": "radio"}], "source"),
        ([{}] * 17, "at most 16"),
    ):
        with pytest.raises(CloudrecError) as caught:
            parse_tracks(bad, "tracks", with_mids=False)
        assert said in caught.value.message
    with pytest.raises(CloudrecError) as caught:
        parse_tracks([{"kind": "audio"}], "data.tracks", with_mids=True)
    assert "data.tracks[0].mid" in caught.value.message
