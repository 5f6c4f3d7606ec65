"""Recordings REST API: the index follows a real recording; list, get, download
with Range and ETag, delete; every answer matches the OpenAPI document."""

from __future__ import annotations

import asyncio
import io
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
from PIL import Image

from cloudrec.errors import CloudrecError
from signaling.server import RunningServer
from tests.helpers import (
    API_AUTH,
    API_KEY,
    API_SECRET,
    CFG_360P15,
    RED,
    file_output,
    participant,
    record_briefly,
    record_for,
    side_by_side,
    synthetic_participant,
)
from tests.media import decode
from tests.openapi_check import response_schema, validate


async def _json(resp: aiohttp.ClientResponse, path: str, method: str) -> dict:  # type: ignore[type-arg]
    body = await resp.json()
    name = response_schema(path, method, resp.status)
    if name:
        validate(name, body)
    return body  # type: ignore[no-any-return]


@pytest.fixture
async def recorded(server: RunningServer) -> dict:  # type: ignore[type-arg]
    started = time.time()
    await record_briefly(server.base_url, "files", "/2026-11-25/files.mp4")
    async with (
        aiohttp.ClientSession(headers=API_AUTH) as http,
        http.get(f"{server.base_url}/api/v1/recordings") as resp,
    ):
        page = await _json(resp, "/api/v1/recordings", "get")
    assert page["total"] == 1
    rec = page["recordings"][0]
    assert rec["createdAt"] >= started - 1
    return rec  # type: ignore[no-any-return]


async def test_index_follows_the_recording(server: RunningServer, recorded: dict) -> None:  # type: ignore[type-arg]
    path = server.config.recordings_dir / "2026-11-25" / "files.mp4"
    media = decode(path)
    assert recorded["fileName"] == "/2026-11-25/files.mp4"
    assert recorded["room"] == "files" and recorded["mixerId"] == "1"
    assert recorded["state"] == "finished" and recorded["errCode"] == 0
    assert (recorded["container"], recorded["videoCodec"], recorded["audioCodec"]) == (
        "mp4",
        "h264",
        "aac",
    )
    assert (recorded["width"], recorded["height"], recorded["fps"]) == (640, 360, 15.0)
    assert recorded["fileSize"] == path.stat().st_size
    assert abs(recorded["duration"] - len(media.frames) * 1000 / 15) <= 100
    assert recorded["finishedAt"] >= recorded["createdAt"]


async def test_get_list_filters_and_paging(server: RunningServer, recorded: dict) -> None:  # type: ignore[type-arg]
    base = f"{server.base_url}/api/v1/recordings"
    async with aiohttp.ClientSession(headers=API_AUTH) as http:
        async with http.get(f"{base}/{recorded['id']}") as resp:
            assert resp.status == 200
            assert (await _json(resp, "/api/v1/recordings/{id}", "get"))["id"] == recorded["id"]
        for params, count in (
            ({"room": "files"}, 1),
            ({"room": "other"}, 0),
            ({"since": str(recorded["createdAt"] + 10)}, 0),
            ({"name": "files"}, 1),
            ({"name": "nope"}, 0),
            ({"page": "2", "pageSize": "1"}, 0),
        ):
            async with http.get(base, params=params) as resp:
                page = await _json(resp, "/api/v1/recordings", "get")
            assert len(page["recordings"]) == count, params
        async with http.get(base, params={"pageSize": "0"}) as resp:
            assert resp.status == 400
            await _json(resp, "/api/v1/recordings", "get")
        async with http.get(f"{base}/999") as resp:
            assert resp.status == 404
            await _json(resp, "/api/v1/recordings/{id}", "get")


async def test_download_ranges_and_etag(server: RunningServer, recorded: dict) -> None:  # type: ignore[type-arg]
    data = (server.config.recordings_dir / "2026-11-25" / "files.mp4").read_bytes()
    size = len(data)
    url = f"{server.base_url}/api/v1/recordings/{recorded['id']}/download"
    async with aiohttp.ClientSession(headers=API_AUTH) as http:
        async with http.get(url) as resp:
            assert resp.status == 200
            assert await resp.read() == data
            assert resp.headers["Content-Type"] == "video/mp4"
            assert 'filename="files.mp4"' in resp.headers["Content-Disposition"]
            etag = resp.headers["ETag"]
        cases = [
            ("bytes=0-99", 0, 100),
            (f"bytes={size // 2}-{size // 2 + 999}", size // 2, size // 2 + 1000),
            ("bytes=-500", size - 500, size),
            (f"bytes={size - 10}-", size - 10, size),
        ]
        for header, start, end in cases:
            async with http.get(url, headers={"Range": header}) as resp:
                assert resp.status == 206, header
                assert await resp.read() == data[start:end], header
                assert resp.headers["Content-Range"] == f"bytes {start}-{end - 1}/{size}"
        async with http.get(url, headers={"Range": f"bytes={size + 10}-"}) as resp:
            assert resp.status == 416
        async with http.get(url, headers={"If-None-Match": etag}) as resp:
            assert resp.status == 304


async def test_signed_download_link(server: RunningServer, recorded: dict) -> None:  # type: ignore[type-arg]
    data = (server.config.recordings_dir / "2026-11-25" / "files.mp4").read_bytes()
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.get(recorded["downUrl"]) as resp:
            assert resp.status == 200 and await resp.read() == data
        tampered = recorded["downUrl"].replace("expires=", "expires=9")
        async with anonymous.get(tampered) as resp:
            assert resp.status == 403
        expired = recorded["downUrl"].split("?")[0] + "?expires=1&signature=00"
        async with anonymous.get(expired) as resp:
            assert resp.status == 403


async def test_delete_removes_file_and_row(server: RunningServer, recorded: dict) -> None:  # type: ignore[type-arg]
    path = server.config.recordings_dir / "2026-11-25" / "files.mp4"
    url = f"{server.base_url}/api/v1/recordings/{recorded['id']}"
    async with aiohttp.ClientSession(headers=API_AUTH) as http:
        async with http.delete(url) as resp:
            assert resp.status == 200
            assert (await _json(resp, "/api/v1/recordings/{id}", "delete"))["deleted"] == recorded[
                "id"
            ]
        assert not path.exists()
        async with http.get(url) as resp:
            assert resp.status == 404
        async with http.get(f"{url}/download") as resp:
            assert resp.status == 404


async def test_mixer_and_room_answers_match_the_document(server: RunningServer) -> None:
    async with aiohttp.ClientSession(headers=API_AUTH) as http:
        async with http.get(f"{server.base_url}/api/v1/rooms/empty/mixer") as resp:
            await _json(resp, "/api/v1/rooms/{room}/mixer", "get")
        async with http.get(f"{server.base_url}/api/v1/rooms/empty") as resp:
            assert resp.status == 404
            await _json(resp, "/api/v1/rooms/{room}", "get")
        async with http.get(f"{server.base_url}/api/openapi.json") as resp:
            document = await resp.json()
    assert document["openapi"].startswith("3.")


async def test_storage_quota_refuses_a_start(make_server: Any, tmp_path: Path) -> None:
    server = await make_server(storage_quota_mb=1)
    big = server.config.recordings_dir / "old" / "big.mp4"
    big.parent.mkdir(parents=True)
    big.write_bytes(b"\0" * (1024 * 1024 + 1))
    server.recordings.index.add(
        room="q",
        mixer_id="1",
        file_name="/old/big.mp4",
        path=big,
        container="mp4",
        video_codec=None,
        audio_codec=None,
        width=None,
        height=None,
        fps=None,
        state="finished",
        size=big.stat().st_size,
    )
    async with participant(server.base_url, "q", "alice") as alice:
        with pytest.raises(CloudrecError) as caught:
            await alice.start_svr_mixer(
                CFG_360P15, side_by_side("alice", "b"), file_output("/q/new.mp4")
            )
    assert int(caught.value.code) == 908 and "quota" in caught.value.message


async def test_recordings_command_downloads_and_deletes(
    server: RunningServer,
    recorded: dict[str, Any],
    tmp_path: Path,
) -> None:
    target = tmp_path / "copy.mp4"
    common = ["--server", server.base_url, "--api-key", API_KEY, "--api-secret", API_SECRET]
    for args in (
        ["download", str(recorded["id"]), "--output", str(target)],
        ["delete", str(recorded["id"])],
    ):
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "signaling.cli",
            "recordings",
            *args,
            *common,
            stdout=asyncio.subprocess.DEVNULL,
        )
        assert await proc.wait() == 0, args
        if args[0] == "download":
            source = server.config.recordings_dir / "2026-11-25" / "files.mp4"
            assert target.read_bytes() == source.read_bytes()
    assert server.recordings.index.get(recorded["id"]) is None


async def test_a_video_recording_has_a_poster_frame(server: RunningServer) -> None:
    """A picture of it, about a second in, for a list; none for sound alone."""
    await record_briefly(server.base_url, "poster", "/poster/v.mp4", ms=2000)
    alice = await synthetic_participant(server.base_url, "poster", "alice", RED[0], RED[2])
    audio_only = [{"id": "a", "streamTypes": 1, "acfg": {"audioFormat": 0}}]
    outputs = [{"id": "a", "output": [{"type": 0, "filename": "/poster/a.m4a"}]}]
    await record_for(alice, audio_only, [], outputs, 1000)
    video = server.recordings.index.by_name("/poster/v.mp4")
    sound = server.recordings.index.by_name("/poster/a.m4a")
    assert video is not None and sound is not None
    async with aiohttp.ClientSession(headers=API_AUTH) as http:
        async with http.get(f"{server.base_url}/api/v1/recordings/{video.id}/poster") as resp:
            assert resp.status == 200 and resp.content_type == "image/jpeg"
            picture = Image.open(io.BytesIO(await resp.read()))
        async with http.get(f"{server.base_url}/api/v1/recordings/{sound.id}/poster") as resp:
            assert resp.status == 404
    assert picture.size == (320, 180)
    left_tile = np.asarray(picture.convert("RGB"))[30:150, 10:150].reshape(-1, 3).mean(axis=0)
    assert left_tile[0] > 150 and left_tile[2] < 100, f"alice's red camera: {left_tile}"
