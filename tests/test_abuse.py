"""What a hostile participant or a careless integrator tries, with a recording
running: none of it breaks the recording, reaches another room's files, or
gets anything but a SPEC error naming the field."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest

from cloudrec.auth import secret_key
from cloudrec.client import Participant
from cloudrec.errors import CloudrecError
from cloudrec.storage.index import MISSING, RecordingIndex
from cloudrec.storage.reconcile import reconcile
from cloudrec.whiteboard import MAX_BOARD_BYTES
from signaling.app import ROOMS_KEY
from signaling.server import RunningServer
from tests.conftest import ServerFactory
from tests.helpers import (
    API_AUTH,
    CFG_360P15,
    add_row,
    file_output,
    participant,
    record_briefly,
    recording_in_progress,
    token,
)
from tests.media import decode

FLOOD_POINTS = 1500  # 14-digit coordinates: just under the 64 KiB message limit
# About 34 such strokes fill a board (MAX_BOARD_BYTES); the rest are refused.
FLOOD_STROKES = 45
BOARD_CONTENT = [
    {"id": "1", "content": [{"type": 6, "left": 0, "top": 0, "width": 640, "height": 360}]}
]
WS_TIMEOUT_S = 10.0


def _stroke(n: int) -> dict[str, Any]:
    rng = np.random.default_rng(n)
    points = [[round(float(x), 14), round(float(y), 14)] for x, y in rng.random((FLOOD_POINTS, 2))]
    return {"id": f"s{n}", "color": "#112233", "width": 4, "points": points}


async def _receive_until_reply(ws: aiohttp.ClientWebSocketResponse, rid: int) -> list[Any]:
    """Every message up to and including the reply to ``rid``."""
    seen = []
    while True:
        message = await ws.receive_json(timeout=WS_TIMEOUT_S)
        seen.append(message)
        if message.get("type") == "reply" and message.get("rid") == rid:
            return seen


async def test_whiteboard_flood_cannot_end_the_recording(server: RunningServer) -> None:
    """#1: strokes to fill the board, then clear and undo: the restore goes out
    in parts no larger than a message, the bot stays, a late joiner gets the
    whole board, and the recording finishes whole."""
    limit = server.config.max_message_bytes
    async with (
        recording_in_progress(server.base_url, "flood", "/flood/a.mp4", BOARD_CONTENT),
        participant(server.base_url, "flood", "mallory") as mallory,
    ):
        accepted = refused = 0
        for n in range(FLOOD_STROKES):
            try:
                await mallory.whiteboard({"op": "stroke", "stroke": _stroke(n)})
                accepted += 1
            except CloudrecError as exc:
                assert int(exc.code) == 901 and "bytes" in exc.message
                refused += 1
        assert accepted and refused, "the board filled up before the flood ended"
        await mallory.whiteboard({"op": "clear"})
        await mallory.whiteboard({"op": "undo"})
        room = server.runner.app[ROOMS_KEY].get("flood")
        assert room is not None
        board = room.board
        assert len(board.snapshot().strokes) == accepted
        assert board.size <= MAX_BOARD_BYTES
        # A late joiner that accepts no message over the limit reads it all: the
        # join's parts follow its reply, so they arrive before wbState's reply.
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(server.ws_url, max_msg_size=limit) as ws,
        ):
            join = {"type": "join", "room": "flood", "user": "carol", "rid": 1}
            await ws.send_json({**join, "token": token("flood", "carol")})
            seen = await _receive_until_reply(ws, 1)
            await ws.send_json({"type": "wbState", "rid": 2})
            seen += await _receive_until_reply(ws, 2)
        reply = next(m for m in seen if m.get("rid") == 1)
        strokes = {s["id"] for s in reply["whiteboard"]["strokes"]}
        later = [m for m in seen if m.get("type") == "wb" and m["op"] == "restore"]
        strokes |= {s["id"] for m in later for s in m["strokes"]}
        assert len(strokes) == accepted
        assert mallory.board.snapshot().version == board.version
        assert len(mallory.board.snapshot().strokes) == accepted
    media = decode(server.config.recordings_dir / "flood" / "a.mp4")
    assert media.duration >= 1.0 and media.video_codec == "h264"


async def test_hls_segments_never_cross_rooms(server: RunningServer) -> None:
    """#2: a room's .ts files that look like another room's segments are neither
    served, overwritten nor deleted through that other room's HLS recording."""
    root = server.config.recordings_dir / "x"
    await record_briefly(server.base_url, "r1", "/x/ow_00000.ts")
    before = (root / "ow_00000.ts").read_bytes()
    await record_briefly(server.base_url, "r9", "/x/ow.m3u8", ms=2500)
    assert (root / "ow_00000.ts").read_bytes() == before, "r1's file is untouched"
    r1 = server.recordings.index.by_name("/x/ow_00000.ts")
    r9 = server.recordings.index.by_name("/x/ow.m3u8")
    assert r1 is not None and r9 is not None
    r9_token = {"Authorization": f"Bearer {token('r9', 'eve')}"}
    async with aiohttp.ClientSession(headers=r9_token) as http:
        for name in ("ow_00000.ts", ".ow.m3u8.segments/ow_00000.ts", "../ow_00000.ts"):
            async with http.get(f"{server.base_url}/api/v1/recordings/{r9.id}/{name}") as resp:
                assert resp.status in (400, 404)  # the client folds "../" away: no id
                assert await resp.read() != before
        async with http.delete(f"{server.base_url}/api/v1/recordings/{r9.id}") as resp:
            assert resp.status == 200
    assert (root / "ow_00000.ts").read_bytes() == before, "deleting r9's took nothing of r1's"
    async with (
        aiohttp.ClientSession(headers=API_AUTH) as http,
        http.get(f"{server.base_url}/api/v1/recordings/{r1.id}/download") as resp,
    ):
        assert resp.status == 200 and await resp.read() == before


async def test_symlinks_are_neither_written_nor_served(
    server: RunningServer, tmp_path: Path
) -> None:
    """#3: a link planted where a playlist's segments go refuses the recording;
    links swapped in for recorded files are not followed when serving."""
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    secret = outside / "secret.ts"
    secret.write_bytes(b"SECRET")
    folder = server.config.recordings_dir / "s"
    folder.mkdir(parents=True)
    (folder / ".planted.m3u8.segments").symlink_to(outside, target_is_directory=True)
    body = {"cfgs": CFG_360P15, "contents": [], "outputs": file_output("/s/planted.m3u8")}
    async with (
        participant(server.base_url, "sym", "alice"),
        aiohttp.ClientSession(headers=API_AUTH) as http,
        http.post(f"{server.base_url}/api/v1/rooms/sym/mixer", json=body) as resp,
    ):
        assert resp.status == 409 and (await resp.json())["err"] == 1503
    assert sorted(p.name for p in outside.iterdir()) == ["secret.ts"], "nothing written outside"

    await record_briefly(server.base_url, "sym", "/s/ok.m3u8", ms=2500)
    await record_briefly(server.base_url, "sym", "/s/ok.mp4")
    playlist = server.recordings.index.by_name("/s/ok.m3u8")
    movie = server.recordings.index.by_name("/s/ok.mp4")
    assert playlist is not None and movie is not None
    segment = folder / ".ok.m3u8.segments" / "00000.ts"
    segment.unlink()
    segment.symlink_to(secret)
    (folder / "ok.mp4").unlink()
    (folder / "ok.mp4").symlink_to(secret)
    base = f"{server.base_url}/api/v1/recordings"
    async with aiohttp.ClientSession(headers=API_AUTH) as http:
        for url in (
            f"{base}/{playlist.id}/.ok.m3u8.segments/00000.ts",
            f"{base}/{movie.id}/download",
        ):
            async with http.get(url) as resp:
                assert resp.status == 404 and b"SECRET" not in await resp.read()
        async with http.get(f"{base}/{movie.id}") as resp:
            signed = (await resp.json())["downUrl"]
        async with http.get(signed) as resp:
            assert resp.status == 404
    os.replace(folder / "ok.m3u8", folder / "ok.m3u8.real")
    (folder / "ok.m3u8").symlink_to(folder / "ok.m3u8.real")
    async with (
        aiohttp.ClientSession(headers=API_AUTH) as http,
        http.get(f"{base}/{playlist.id}/download") as resp,
    ):
        assert resp.status == 404, "a playlist swapped for a link is not served either"


async def test_nobody_takes_the_recorders_name(server: RunningServer) -> None:
    """#4: joining as recorder-<room> is refused; the room then records at once."""
    with pytest.raises(CloudrecError) as caught:
        async with Participant(
            server.base_url, "taken", "recorder-taken", token("taken", "recorder-taken")
        ):
            pass
    assert int(caught.value.code) == 5 and "reserved" in caught.value.message
    await record_briefly(server.base_url, "taken", "/taken/a.mp4")
    rec = server.recordings.index.by_name("/taken/a.mp4")
    assert rec is not None and rec.state == "finished"


HOSTILE_TEXTS = [
    ("deep nesting", "[" * 5000 + "]" * 5000, "nested"),
    ("integer of 5000 digits", '{"type": "join", "n": ' + "9" * 5000 + "}", "number"),
    ("number over float range", '{"type": "join", "n": 1e400}', "out of range"),
    ("NaN", '{"type": "join", "n": NaN}', "out of range"),
    (
        "token with a lone surrogate",
        '{"type": "join", "room": "c", "user": "u", "token": "\\ud800x", "rid": 7}',
        "surrogate",
    ),
    ("id with a lone surrogate", '{"type": "join", "room": "\\udfff", "user": "u"}', "surrogate"),
    ("not an object", "[1, 2]", "object"),
    ("a rid as big as a message", '{"type": "join", "rid": [' + "1," * 5000 + "1]}", "room"),
]


async def test_hostile_websocket_input_keeps_the_connection(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    """#5: each is answered err 5 (or 1501) naming the problem, before joining
    and after; the connection stays open and nothing is logged as a crash."""
    caplog.set_level(logging.ERROR)
    async with aiohttp.ClientSession() as http, http.ws_connect(server.ws_url) as ws:
        for name, text, said in HOSTILE_TEXTS:
            await ws.send_str(text)
            answer = await ws.receive_json(timeout=WS_TIMEOUT_S)
            assert answer["err"] == 5 and said in answer["message"], name
        await ws.send_json(
            {"type": "join", "role": "recorder", "room": "c", "user": "recorder-c", "key": "ключ"}
        )
        assert (await ws.receive_json(timeout=WS_TIMEOUT_S))["err"] == 1501
        await ws.send_json(
            {"type": "join", "room": "c", "user": "u", "rid": 1, "token": token("c", "u")}
        )
        assert (await ws.receive_json(timeout=WS_TIMEOUT_S))["err"] == 0
        for point, said in (
            ("1e400", "out of range"),
            ("1" + "0" * 400, "stroke.points[0]"),
            ("-0.5", "stroke.points[0]"),
            ("[1]", "stroke.points[0]"),
        ):
            await ws.send_str(
                '{"type": "wb", "op": "stroke", "rid": 2, "stroke": {"id": "p", '
                f'"points": [[{point}, 0.5]]}}}}'
            )
            answer = await ws.receive_json(timeout=WS_TIMEOUT_S)
            assert answer["err"] == 5 and said in answer["message"], point
        await ws.send_json({"type": "wbState", "rid": 3})
        assert (await ws.receive_json(timeout=WS_TIMEOUT_S))["err"] == 0, "still served"
    crashes = [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]
    assert crashes == []


BAD_BODIES: list[tuple[str, str, bytes, str]] = [
    ("deep nesting", "application/json", b"[" * 5000 + b"]" * 5000, "nested"),
    ("long integer", "application/json", b'{"cfgs": ' + b"9" * 5000 + b"}", "number"),
    ("unknown charset", "application/json; charset=x-klingon", b"{}", "charset"),
    ("not UTF-8", "application/json", b'{"cfgs": "\xff\xfe"}', "body"),
    ("lone surrogate", "application/json", b'{"cfgs": "\\ud800"}', "surrogate"),
]


@pytest.mark.parametrize(("case", "content_type", "body", "said"), BAD_BODIES)
async def test_malformed_rest_bodies_are_400(
    server: RunningServer, case: str, content_type: str, body: bytes, said: str
) -> None:
    """#6: the mixer calls and netdisk (which reads the body before the
    credentials) answer what was wrong, never 500."""
    headers = {**API_AUTH, "Content-Type": content_type}
    async with aiohttp.ClientSession(headers=headers) as http:
        for method in ("post", "put"):
            async with http.request(
                method, f"{server.base_url}/api/v1/rooms/r/mixer", data=body
            ) as resp:
                assert resp.status == 400, case
                assert said in (await resp.json())["message"], case
        async with http.post(f"{server.base_url}/CLOUDROOM-API/netDisk/query", data=body) as resp:
            answer = await resp.json()
            assert resp.status == 200 and answer["RspCode"] == 4 and said in answer["RspDesc"]


@pytest.mark.parametrize(
    ("call", "fields"),
    [
        ("query", {"PageNumber": "²"}),  # a digit to str.isdigit(), no number to int()
        ("query", {"PageSize": "9" * 400}),
        ("query", {"SearchTime": "1e999"}),
        ("query", {"SearchTime": "9" * 400}),
        ("query", {"SearchTime": 10**400}),
        ("query", {"SearchTime": -5}),
        ("query", {"FilePath": "/../x/"}),
        ("delete", {"FileID": "9" * 5000}),
        ("delete", {"FileID": 1e300}),
    ],
)
async def test_netdisk_fields_out_of_range_are_bad_params(
    server: RunningServer, call: str, fields: dict[str, Any]
) -> None:
    key = secret_key(server.config.api_key, server.config.api_secret)
    body = {"CompID": server.config.api_key, "SecretKey": key, **fields}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{server.base_url}/CLOUDROOM-API/netDisk/{call}", json=body) as resp,
    ):
        assert resp.status == 200
        answer = await resp.json()
    assert answer["RspCode"] == 4, answer


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("/" + "张" * 100 + ".mp4", 1502),  # 100 characters, 300 bytes
        ("/d/" + "a" * 250 + ".mp4", 1502),
        ("/a.mp4/b.mp4", None),  # a directory where a recorded file stands
    ],
)
async def test_file_names_are_bounded_in_bytes(
    server: RunningServer, name: str, code: int | None
) -> None:
    if code is None:
        await record_briefly(server.base_url, "names", "/a.mp4")
    body = {"cfgs": CFG_360P15, "contents": [], "outputs": file_output(name)}
    async with (
        participant(server.base_url, "names", "alice"),
        aiohttp.ClientSession(headers=API_AUTH) as http,
        http.post(f"{server.base_url}/api/v1/rooms/names/mixer", json=body) as resp,
    ):
        answer = await resp.json()
        assert 400 <= resp.status < 500, answer
        assert answer["err"] == (code or 1503)


async def test_query_texts_are_utf8_and_bounded(server: RunningServer) -> None:
    async with aiohttp.ClientSession(headers=API_AUTH) as http:
        for query in ("name=%ED%A0%80", "room=%ED%A0%80", "name=%FF"):
            async with http.get(f"{server.base_url}/api/v1/recordings?{query}") as resp:
                assert resp.status < 500, query
        async with http.get(f"{server.base_url}/api/v1/recordings?name={'a' * 300}") as resp:
            assert resp.status == 400 and "name" in (await resp.json())["message"]


def _noise_png(side: int) -> bytes:
    import io

    from PIL import Image

    pixels = np.random.default_rng(7).integers(0, 255, (side, side, 3), np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


async def test_images_belong_to_their_room(server: RunningServer) -> None:
    """#7: a room's token reaches its own images alone, and bodies up to the
    documented 10 MB are taken."""
    big = _noise_png(800)
    assert 1_500_000 < len(big) < 10 * 1024 * 1024
    base = f"{server.base_url}/api/v1/resources"
    r1 = {"Authorization": f"Bearer {token('r1', 'alice')}", "Content-Type": "image/png"}
    r2 = {"Authorization": f"Bearer {token('r2', 'bob')}"}
    async with aiohttp.ClientSession() as http:
        async with http.post(base, data=big, headers=r1) as resp:
            assert resp.status == 201, await resp.text()
            image = await resp.json()
        assert image["room"] == "r1"
        async with http.get(base, headers=r2) as resp:
            assert image["resourceid"] not in {
                i["resourceid"] for i in (await resp.json())["resources"]
            }
        async with http.delete(f"{base}/{image['resourceid']}", headers=r2) as resp:
            assert resp.status == 404
        async with http.get(base, params={"room": "r1"}, headers=r2) as resp:
            assert resp.status == 403
        async with http.get(base, headers=API_AUTH) as resp:
            listed = (await resp.json())["resources"]
            assert {"resourceid": image["resourceid"], "room": "r1"}.items() <= listed[0].items()
    layout = [
        {
            "id": "1",
            "content": [
                {
                    "type": 1,
                    "left": 0,
                    "top": 0,
                    "width": 64,
                    "height": 64,
                    "param": {"resourceid": image["resourceid"]},
                }
            ],
        }
    ]
    async with participant(server.base_url, "r2", "bob") as bob:
        with pytest.raises(CloudrecError) as caught:
            await bob.start_svr_mixer(CFG_360P15, layout, file_output("/r2/pic.mp4"))
        assert "resourceid" in caught.value.message and "r2" in caught.value.message


async def test_ids_that_read_as_paths_are_refused(server: RunningServer) -> None:
    """#9: '..' and other dot names never join, so never reach a mode-1 path."""
    for user in ("..", ".", ".hidden"):
        with pytest.raises(CloudrecError) as caught:
            async with Participant(server.base_url, "m2", user, token("m2", user)):
                pass
        assert int(caught.value.code) == 5 and "'.'" in caught.value.message


async def test_presence_is_a_delta_and_every_message_fits(make_server: ServerFactory) -> None:
    """#10: joins and leaves tell the others one participant, not the list, so
    a join costs the room O(n); a joiner reads the room in parts that each fit."""
    limit = 4096
    server = await make_server(
        max_peers_per_room=80, max_message_bytes=limit, max_joins_per_minute=1000
    )
    async with aiohttp.ClientSession() as http:
        sockets = []
        try:
            for n in range(60):
                ws = await http.ws_connect(server.ws_url, max_msg_size=limit)
                sockets.append(ws)
                user = f"user-{n:02d}-" + "x" * 40
                await ws.send_json(
                    {
                        "type": "join",
                        "room": "big",
                        "user": user,
                        "rid": 1,
                        "token": token("big", user),
                    }
                )
                seen = await _receive_until_reply(ws, 1)
            # A join's later parts follow its reply: a second request's reply
            # comes after them all.
            await sockets[-1].send_json({"type": "wbState", "rid": 2})
            seen += await _receive_until_reply(sockets[-1], 2)
            first = sockets[0]
            presence: list[dict[str, Any]] = []
            while len(presence) < 59:
                message = await first.receive_json(timeout=WS_TIMEOUT_S)
                if message["type"] == "presence":
                    presence.append(message)
        finally:
            for ws in sockets:
                await ws.close()
    assert all("participants" not in m and m["event"] == "join" for m in presence)
    assert max(len(json.dumps(m)) for m in presence) < 400, "constant, whatever the room's size"
    reply = next(m for m in seen if m.get("rid") == 1)
    parts = [m for m in seen if m.get("event") == "list"]
    assert parts, "60 participants do not fit one 4 KiB reply"
    users = [p["userID"] for p in reply["participants"]] + [
        p["userID"] for m in parts for p in m["participants"]
    ]
    assert len(users) == 60 and len(set(users)) == 60


async def test_message_rate_and_join_limits(make_server: ServerFactory) -> None:
    """Per connection: four seconds' worth of messages at once, then 907; a
    connection that goes on regardless is closed. Per address: joins a minute."""
    server = await make_server(max_messages_per_second=5, max_joins_per_minute=3)
    async with aiohttp.ClientSession() as http, http.ws_connect(server.ws_url) as ws:
        for rid in range(40):
            await ws.send_json({"type": "wbState", "rid": rid})
        answers = [await ws.receive_json(timeout=WS_TIMEOUT_S) for _ in range(40)]
        limited = [a for a in answers if a["err"] == 907]
        assert 10 <= len(limited) <= 25 and "messages a second" in limited[0]["message"]
        for rid in range(300):
            await ws.send_json({"type": "wbState", "rid": rid})
        while (await ws.receive(timeout=WS_TIMEOUT_S)).type is not aiohttp.WSMsgType.CLOSE:
            pass
        assert ws.close_code == 1008
    errors = []
    for n in range(4):
        try:
            async with Participant(server.base_url, "j", f"u{n}", token("j", f"u{n}")):
                pass
        except CloudrecError as exc:
            errors.append(exc)
    assert len(errors) == 1 and int(errors[0].code) == 907
    assert "joins a minute" in errors[0].message


def test_start_up_never_writes_through_a_link(tmp_path: Path) -> None:
    """A file left 'recording' is cut back to whole fragments at start-up; a
    link planted in its place is not followed (nor cut), and says missing."""
    recordings = tmp_path / "recordings"
    (recordings / "k").mkdir(parents=True)
    outside = tmp_path / "outside.mp4"
    outside.write_bytes(b"\x00\x00\x00\x08moof" + b"x" * 100)  # a cut fragment, to a trimmer
    link = recordings / "k" / "a.mp4"
    link.symlink_to(outside)
    index = RecordingIndex(tmp_path / "index.sqlite3")
    try:
        row = add_row(index, "k", "/k/a.mp4", link)
        reconcile(index, recordings)
        rec = index.get(row)
        assert rec is not None and rec.state == MISSING
    finally:
        index.close()
    assert outside.read_bytes() == b"\x00\x00\x00\x08moof" + b"x" * 100
