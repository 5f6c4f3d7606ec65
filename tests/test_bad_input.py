"""Every refused call answers with the SPEC code and names the field; the server
keeps serving and a recording in progress is undisturbed."""

from __future__ import annotations

import copy
import json
from typing import Any

import aiohttp
import pytest

from cloudrec.errors import CloudrecError
from signaling.server import RunningServer
from tests.helpers import (
    API_AUTH,
    CFG_360P15,
    EventLog,
    file_output,
    participant,
    side_by_side,
    token,
)

GOOD: dict[str, Any] = {
    "cfgs": CFG_360P15,
    "contents": side_by_side("alice", "bob"),
    "outputs": file_output("/bad/ok.mp4"),
}


def _with(path: list[Any], value: Any) -> dict[str, Any]:
    body = copy.deepcopy(GOOD)
    target: Any = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return body


CASES = [
    ("odd width", _with(["cfgs", 0, "cfg", "width"], 641), 5, "cfgs[0].cfg.width"),
    ("frameRate 0", _with(["cfgs", 0, "cfg", "frameRate"], 0), 5, "cfgs[0].cfg.frameRate"),
    ("frameRate 31", _with(["cfgs", 0, "cfg", "frameRate"], 31), 5, "cfgs[0].cfg.frameRate"),
    (
        "unknown content type",
        _with(["contents", 0, "content", 1, "type"], 42),
        5,
        "contents[0].content[1].type",
    ),
    (
        "negative width",
        _with(["contents", 0, "content", 0, "width"], -10),
        5,
        "contents[0].content[0].width",
    ),
    (
        "filename with ..",
        _with(["outputs", 0, "output", 0, "filename"], "/../escape.mp4"),
        1502,
        "outputs[0].output[0].filename",
    ),
    ("size over the limit", _with(["cfgs", 0, "cfg", "width"], 4096), 903, "cfgs[0].cfg"),
    (
        "bad extension",
        _with(["outputs", 0, "output", 0, "filename"], "/x/a.exe"),
        1502,
        "outputs[0].output[0].filename",
    ),
    (
        "rectangle off the canvas",
        _with(["contents", 0, "content", 1, "left"], 600),
        5,
        "contents[0].content[1]",
    ),
    (
        "bad camid",
        _with(["contents", 0, "content", 0, "param"], {"camid": "nodot"}),
        5,
        "contents[0].content[0].param.camid",
    ),
]


@pytest.mark.parametrize(("name", "body", "code", "field"), CASES, ids=[c[0] for c in CASES])
async def test_bad_start_over_websocket(
    server: RunningServer, name: str, body: dict[str, Any], code: int, field: str
) -> None:
    async with participant(server.base_url, "bad", "alice") as alice:
        with pytest.raises(CloudrecError) as caught:
            await alice.start_svr_mixer(body["cfgs"], body["contents"], body["outputs"])
        assert int(caught.value.code) == code
        assert field in caught.value.message
        assert int(await alice.get_svr_mixer_state()) == 0
    assert not any((server.config.data_dir).rglob("escape.mp4"))


async def test_bad_start_over_rest(server: RunningServer) -> None:
    async with (
        participant(server.base_url, "rest-bad", "alice"),
        aiohttp.ClientSession(headers=API_AUTH) as http,
    ):
        url = f"{server.base_url}/api/v1/rooms/rest-bad/mixer"
        async with http.post(url, json=_with(["cfgs", 0, "cfg", "width"], 641)) as resp:
            assert resp.status == 400
            body = await resp.json()
            assert body["err"] == 5 and "cfgs[0].cfg.width" in body["message"]
        async with http.post(url, data=b"{not json") as resp:
            assert resp.status == 400 and (await resp.json())["err"] == 5
        async with http.post(f"{server.base_url}/api/v1/rooms/nobody/mixer", json=GOOD) as resp:
            assert resp.status == 404 and (await resp.json())["err"] == 800


async def test_second_start_and_bad_update_leave_the_recording_alone(
    server: RunningServer,
) -> None:
    async with participant(server.base_url, "twice", "alice") as alice:
        log = EventLog()
        log.attach(alice)
        await alice.start_svr_mixer(GOOD["cfgs"], GOOD["contents"], file_output("/bad/first.mp4"))
        with pytest.raises(CloudrecError) as caught:
            await alice.start_svr_mixer(GOOD["cfgs"], GOOD["contents"], file_output("/bad/2.mp4"))
        assert int(caught.value.code) == 906
        bad_layout = _with(["contents", 0, "content", 0, "width"], 0)["contents"]
        with pytest.raises(CloudrecError) as caught:
            await alice.update_svr_mixer_content(bad_layout)
        assert (
            int(caught.value.code) == 5 and "contents[0].content[0].width" in caught.value.message
        )
        assert int(await alice.get_svr_mixer_state()) == 2
        await log.wait_duration(1000)
        await alice.stop_svr_mixer()
        await log.wait_state(0)
    assert (server.config.recordings_dir / "bad" / "first.mp4").stat().st_size > 0
    assert not (server.config.recordings_dir / "bad" / "2.mp4").exists()


async def test_existing_file_is_not_overwritten(server: RunningServer) -> None:
    target = server.config.recordings_dir / "keep" / "mine.mp4"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"precious")
    async with participant(server.base_url, "exists", "alice") as alice:
        with pytest.raises(CloudrecError) as caught:
            await alice.start_svr_mixer(
                GOOD["cfgs"], GOOD["contents"], file_output("/keep/mine.mp4")
            )
        assert int(caught.value.code) == 1503
        assert int(await alice.get_svr_mixer_state()) == 0
    assert target.read_bytes() == b"precious"


async def test_malformed_and_oversized_messages(server: RunningServer) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(server.ws_url) as ws:
        await ws.send_str("{not json")
        reply = await ws.receive_json(timeout=5)
        assert reply["type"] == "error" and reply["err"] == 5 and "JSON" in reply["message"]
        await ws.send_str(json.dumps({"type": "join", "room": "x" * 5, "pad": "y" * 70_000}))
        reply = await ws.receive_json(timeout=5)
        assert reply["err"] == 5 and "larger than" in reply["message"]
        await ws.send_str(json.dumps({"type": "startSvrMixer", "rid": 1}))
        reply = await ws.receive_json(timeout=5)
        assert reply["err"] == 12 and reply["rid"] == 1
        await ws.send_str(json.dumps({"type": "bogus", "rid": 2}))
        reply = await ws.receive_json(timeout=5)
        assert reply["err"] == 12
        await ws.send_str(json.dumps({"type": "join", "rid": 3, "room": "r", "user": "u"}))
        reply = await ws.receive_json(timeout=5)
        assert reply["err"] == 12 and "token" in reply["message"]
        join = {"type": "join", "rid": 3, "room": "r", "user": "u", "token": token("r", "u")}
        await ws.send_str(json.dumps(join))
        reply = await ws.receive_json(timeout=5)
        assert reply["err"] == 0 and reply["rid"] == 3
        await ws.send_str(json.dumps({"type": "bogus", "rid": 4}))
        reply = await ws.receive_json(timeout=5)
        assert reply["err"] == 5 and "bogus" in reply["message"]
        await ws.send_str(
            json.dumps(
                {
                    "type": "join",
                    "rid": 5,
                    "room": "r",
                    "user": "u",
                    "role": "recorder",
                    "key": "guess",
                }
            )
        )
        reply = await ws.receive_json(timeout=5)
        assert reply["err"] == 5 and "already joined" in reply["message"]
    async with aiohttp.ClientSession() as http, http.ws_connect(server.ws_url) as ws:
        await ws.send_str(
            json.dumps(
                {
                    "type": "join",
                    "rid": 1,
                    "room": "r2",
                    "user": "bot",
                    "role": "recorder",
                    "key": "guess",
                }
            )
        )
        reply = await ws.receive_json(timeout=5)
        assert reply["err"] == 1501
    async with (
        aiohttp.ClientSession(headers=API_AUTH) as http,
        http.get(f"{server.base_url}/api/v1/rooms/r") as resp,
    ):
        assert resp.status == 404, "the server still answers; the room emptied on disconnect"
