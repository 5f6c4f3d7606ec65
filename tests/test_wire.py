from __future__ import annotations

from typing import Any

import pytest

from cloudrec.errors import CloudrecError, ErrorCode
from cloudrec.sources import SoundId, SourceId
from cloudrec.wire import (
    ContentType,
    KeepAspect,
    Limits,
    StreamTypes,
    parse_contents,
    parse_filename,
    parse_start,
)

LIMITS = Limits()
CFGS: list[dict[str, Any]] = [{"id": "1", "streamTypes": 3, "cfg": {"width": 640, "height": 360}}]
OUTPUTS: list[dict[str, Any]] = [{"id": "1", "output": [{"type": 0, "filename": "/d/a.mp4"}]}]


def test_defaults_follow_the_spec() -> None:
    request = parse_start(CFGS, [], OUTPUTS, LIMITS)
    cfg = request.cfgs[0]
    assert cfg.stream_types == StreamTypes.AUDIO | StreamTypes.VIDEO
    assert cfg.video is not None
    assert (cfg.video.frame_rate, cfg.video.default_qp, cfg.video.bit_rate) == (15, 26, 500_000)
    assert cfg.video.gop == 15 * 15
    assert request.outputs[0].output[0].container == "mp4"
    assert request.contents_for("1").content == ()


def test_full_request() -> None:
    contents = [
        {
            "id": 1,
            "content": [
                {
                    "type": 0,
                    "left": 0,
                    "top": 0,
                    "width": 640,
                    "height": 360,
                    "keepAspectRatio": 2,
                    "param": {"camid": "first.last.-1"},
                },
                {
                    "type": 4,
                    "left": 0,
                    "top": 0,
                    "width": 175,
                    "height": 32,
                    "param": {"color": "#FF0000", "font-size": 14},
                },
                {"type": 9, "param": "first.last"},
            ],
        }
    ]
    request = parse_start(CFGS, contents, OUTPUTS, LIMITS)
    video, stamp, _audio = request.contents[0].content
    assert video.keep_aspect is KeepAspect.CROP and video.source == SourceId.camera("first.last")
    assert stamp.type is ContentType.TIMESTAMP and stamp.param["font-size"] == "14"
    assert request.contents[0].audio_users == frozenset({"first.last"})


@pytest.mark.parametrize(
    ("cfgs", "contents", "outputs", "code", "field"),
    [
        ([], [], OUTPUTS, 5, "cfgs"),
        ([{"id": "1", "cfg": {"width": 640}}], [], OUTPUTS, 5, "cfgs[0].cfg.height"),
        (
            [{"id": "1", "cfg": {"width": 640, "height": 360, "frameRate": True}}],
            [],
            OUTPUTS,
            5,
            "cfgs[0].cfg.frameRate",
        ),
        (
            [{"id": "1", "cfg": {"width": 640, "height": 360, "defaultQP": 52}}],
            [],
            OUTPUTS,
            5,
            "cfgs[0].cfg.defaultQP",
        ),
        (
            [{"id": "1", "streamTypes": 4, "cfg": {"width": 640, "height": 360}}],
            [],
            OUTPUTS,
            5,
            "cfgs[0].streamTypes",
        ),
        (CFGS * 2, [], OUTPUTS, 5, "cfgs[1].id"),
        (CFGS, [{"id": "9", "content": []}], OUTPUTS, 5, "contents[0].id"),
        (
            CFGS,
            [{"id": "1", "content": [{"type": 8, "width": 10, "height": 10}]}],
            OUTPUTS,
            5,
            "contents[0].content[0].type",
        ),
        (
            CFGS,
            [
                {
                    "id": "1",
                    "content": [{"type": 4, "width": 10, "height": 10, "keepAspectRatio": 3}],
                }
            ],
            OUTPUTS,
            5,
            "contents[0].content[0].keepAspectRatio",
        ),
        (
            CFGS,
            [
                {
                    "id": "1",
                    "content": [{"type": 4, "width": 10, "height": 10, "param": {"color": "red"}}],
                }
            ],
            OUTPUTS,
            5,
            "contents[0].content[0].param.color",
        ),
        (
            CFGS,
            [],
            [{"id": "1", "output": [{"type": 1, "liveUrl": "http://host/live/key"}]}],
            5,
            "outputs[0].output[0].liveUrl",
        ),
        (CFGS, [], [{"id": "2", "output": []}], 5, "outputs[0].id"),
        (
            CFGS,
            [],
            [
                {
                    "id": "1",
                    "output": [{"type": 0, "filename": "/a.mp4"}, {"type": 0, "filename": "a.mp4"}],
                }
            ],
            1503,
            "outputs[0].output[1].filename",
        ),
    ],
)
def test_refusals_name_the_field(
    cfgs: Any, contents: Any, outputs: Any, code: int, field: str
) -> None:
    with pytest.raises(CloudrecError) as caught:
        parse_start(cfgs, contents, outputs, LIMITS)
    assert caught.value.code == code
    assert field in caught.value.message


@pytest.mark.parametrize(
    "name",
    [
        "/../x.mp4",
        "/a/../../x.mp4",
        "a\\b.mp4",
        "/a\x00.mp4",
        "/x.exe",
        "/.mp4",
        "/" + "a" * 300 + ".mp4",
        "",
        "/",
        "/./x",
    ],
)
def test_filenames_refused(name: str) -> None:
    with pytest.raises(CloudrecError) as caught:
        parse_filename(name, "f", frozenset({"mp4"}))
    assert caught.value.code is ErrorCode.INVALIDFILENAME


def test_filename_normalised() -> None:
    assert parse_filename("2026-11-25//demo.MP4", "f", frozenset({"mp4"})) == (
        "/2026-11-25/demo.MP4",
        "mp4",
    )


def test_update_checks_against_the_running_cfgs() -> None:
    cfgs = parse_start(CFGS, [], OUTPUTS, LIMITS).cfgs
    with pytest.raises(CloudrecError) as caught:
        parse_contents(
            [
                {
                    "id": "1",
                    "content": [{"type": 0, "width": 700, "height": 10, "param": {"camid": "a.0"}}],
                }
            ],
            cfgs,
            LIMITS,
        )
    assert "contents[0].content[0]" in caught.value.message


AUDIO_ONLY = [{"id": "a", "streamTypes": 1, "acfg": {"channelType": 0, "audioFormat": 1}}]


def test_audio_only_mixer() -> None:
    request = parse_start(
        AUDIO_ONLY,
        [{"id": "a", "content": [{"type": 9, "param": "bob"}]}],
        [{"id": "a", "output": [{"type": 0, "filename": "/v/x.mp3"}]}],
        LIMITS,
    )
    cfg = request.cfgs[0]
    assert cfg.video is None and cfg.audio.channels == 1 and cfg.audio.format == 1
    assert request.contents[0].audio_users == frozenset({"bob"})


@pytest.mark.parametrize(
    ("cfgs", "contents", "filename", "code", "field"),
    [
        (
            AUDIO_ONLY,
            [{"id": "a", "content": [{"type": 4, "width": 10, "height": 10}]}],
            "/x.mp3",
            5,
            "contents[0].content[0].type",
        ),
        (AUDIO_ONLY, [], "/x.mp4", 1502, "outputs[0].output[0].filename"),
        (AUDIO_ONLY, [], "/x.m4a", 1502, "outputs[0].output[0].filename"),
        (
            [{"id": "a", "streamTypes": 1, "acfg": {"audioFormat": 3}}],
            [],
            "/x.mp3",
            5,
            "cfgs[0].acfg.audioFormat",
        ),
        (
            [{"id": "a", "streamTypes": 1, "acfg": {"channelType": 2}}],
            [],
            "/x.m4a",
            5,
            "cfgs[0].acfg.channelType",
        ),
        (CFGS, [], "/x.mp3", 1502, "outputs[0].output[0].filename"),
    ],
)
def test_audio_only_refusals(
    cfgs: Any, contents: Any, filename: str, code: int, field: str
) -> None:
    mixer_id = cfgs[0]["id"]
    with pytest.raises(CloudrecError) as caught:
        parse_start(
            cfgs,
            contents,
            [{"id": mixer_id, "output": [{"type": 0, "filename": filename}]}],
            LIMITS,
        )
    assert caught.value.code == code
    assert field in caught.value.message


def test_live_output() -> None:
    request = parse_start(
        CFGS,
        [],
        [
            {
                "id": "1",
                "output": [
                    {"type": 1, "liveUrl": "rtmp://127.0.0.1:1935/live/key", "errRetryTimes": 5}
                ],
            }
        ],
        LIMITS,
    )
    spec = request.outputs[0].output[0]
    assert (spec.filename, spec.retries) == ("rtmp://127.0.0.1:1935/live/key", 5)
    with pytest.raises(CloudrecError) as caught:
        parse_start(
            AUDIO_ONLY,
            [],
            [{"id": "a", "output": [{"type": 1, "liveUrl": "rtmp://h/live/k"}]}],
            LIMITS,
        )
    assert "needs a mixer with video" in caught.value.message


@pytest.mark.parametrize(
    ("cfg", "content", "output", "code", "field"),
    [
        ({"mode": 1}, [], {"type": 0, "filename": "/d/all.mp4"}, 1502, "filename must contain"),
        ({}, [], {"type": 0, "filename": "/d/{userid}.mp4"}, 1502, "filename must contain"),
        (
            {"mode": 1},
            [{"type": 4, "width": 10, "height": 10}],
            {"type": 0, "filename": "/d/{userid}.mp4"},
            5,
            "takes no layout",
        ),
        ({"mode": 1}, [], {"type": 1, "liveUrl": "rtmp://h/a/b"}, 5, "cannot serve mode 1"),
        ({"mode": 2}, [], {"type": 0, "filename": "/d/a.mp4"}, 5, "cfgs[0].mode"),
    ],
)
def test_individual_mode_refusals(
    cfg: dict[str, Any],
    content: list[Any],
    output: dict[str, Any],
    code: int,
    field: str,
) -> None:
    cfgs = [{"id": "1", "cfg": {"width": 640, "height": 360}, **cfg}]
    contents = [{"id": "1", "content": content}] if content else []
    with pytest.raises(CloudrecError) as caught:
        parse_start(cfgs, contents, [{"id": "1", "output": [output]}], LIMITS)
    assert caught.value.code == code and field in caught.value.message


@pytest.mark.parametrize(
    ("text", "source"),
    [
        ("alice.-1", SourceId.camera("alice")),
        ("first.last.2", SourceId.camera("first.last", 2)),
        ("alice.screen", SourceId.share("alice", "screen")),
        ("*.media", SourceId.share("*", "media")),
    ],
)
def test_source_names_read_and_print_in_one_place(text: str, source: SourceId) -> None:
    assert SourceId.parse(text) == source and str(source) == text
    assert source.anyone == text.startswith("*")


@pytest.mark.parametrize("text", ["nodot", ".0", "alice.", "alice.x", "alice.-2"])
def test_what_names_no_source(text: str) -> None:
    with pytest.raises(ValueError):
        SourceId.parse(text)


def test_sounds() -> None:
    assert str(SoundId("alice")) == "alice" and str(SoundId("alice", True)) == "alice/media"
