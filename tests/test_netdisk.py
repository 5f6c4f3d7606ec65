"""The netdisk endpoints as the SDK family's server integrations call them."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import aiohttp

from signaling.server import RunningServer
from tests.helpers import API_KEY, API_SECRET, record_briefly
from tests.openapi_check import validate

# How existing integrations compute it, spelled out rather than imported.
SECRET_KEY = hashlib.md5(f"{API_KEY}&{API_SECRET}".encode()).hexdigest()


async def _call(server: RunningServer, action: str, **body: Any) -> dict[str, Any]:
    payload = {"RequestId": "r1", "CompID": API_KEY, "SecretKey": SECRET_KEY, **body}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{server.base_url}/CLOUDROOM-API/netDisk/{action}", json=payload) as resp,
    ):
        assert resp.status == 200
        answer: dict[str, Any] = await resp.json()
    validate("NetdiskAnswer", answer)
    assert answer["RequestId"] == "r1"
    return answer


def _add_rows(server: RunningServer, names: list[str], created: float) -> None:
    index = server.recordings.index
    for i, name in enumerate(names):
        index.add(
            room="nd",
            mixer_id="1",
            file_name=name,
            path=Path("/nonexistent") / name.lstrip("/"),
            container="mp4",
            video_codec="h264",
            audio_codec="aac",
            width=640,
            height=360,
            fps=15.0,
            state="finished",
            size=1000 + i,
            created_at=created + i,
        )


async def test_query_and_download(server: RunningServer) -> None:
    await record_briefly(server.base_url, "nd", "/2026-11-25/nd.mp4")
    answer = await _call(server, "query", PageNumber=1, PageSize=10)
    assert answer["RspCode"] == 0
    data = answer["Data"]
    assert data["fileNum"] == 1
    entry = data["fileList"][0]
    assert (entry["fileName"], entry["filePath"]) == ("nd.mp4", "/2026-11-25/")
    path = server.config.recordings_dir / "2026-11-25" / "nd.mp4"
    assert entry["fileSize"] == path.stat().st_size
    assert time.strptime(entry["ctime"], "%Y-%m-%d %H:%M:%S")
    async with aiohttp.ClientSession() as http, http.get(entry["downUrl"]) as resp:
        assert resp.status == 200 and await resp.read() == path.read_bytes()


async def test_directories_and_names(server: RunningServer) -> None:
    _add_rows(server, ["/a/one.mp4", "/a/two.mp4", "/a/sub/three.mp4", "/b/four.mp4"], 1000.0)
    listing = (await _call(server, "query", FilePath="/a/", PageNumber=1, PageSize=50))["Data"]
    assert sorted(f["fileName"] for f in listing["fileList"]) == ["one.mp4", "two.mp4"]
    assert listing["dirData"] == [{"dirName": "sub", "dirPath": "/a/sub/"}]
    root = (await _call(server, "query", FilePath="/", PageNumber=1, PageSize=50))["Data"]
    assert root["fileList"] == [] and [d["dirPath"] for d in root["dirData"]] == ["/a/", "/b/"]
    named = (await _call(server, "query", FileName="four", PageNumber=1, PageSize=50))["Data"]
    assert [f["fileName"] for f in named["fileList"]] == ["four.mp4"]


async def test_paging_is_stable_under_concurrent_inserts(server: RunningServer) -> None:
    _add_rows(server, [f"/p/{i:02}.mp4" for i in range(7)], time.time() - 100)
    first = (await _call(server, "query", PageNumber=1, PageSize=3))["Data"]
    search_time = first["searchTime"]
    _add_rows(server, [f"/p/new{i}.mp4" for i in range(4)], time.time() + 1)  # newest first
    seen = [f["fileName"] for f in first["fileList"]]
    for page in (2, 3):
        data = (await _call(server, "query", PageNumber=page, PageSize=3, SearchTime=search_time))[
            "Data"
        ]
        assert data["fileNum"] == 7 and data["searchTime"] == search_time
        seen += [f["fileName"] for f in data["fileList"]]
    assert seen == [f"{i:02}.mp4" for i in reversed(range(7))]


async def test_credentials_and_parameters(server: RunningServer) -> None:
    assert (await _call(server, "query", SecretKey="0" * 32, PageNumber=1, PageSize=5))[
        "RspCode"
    ] == 3
    assert (await _call(server, "query", CompID="nobody", PageNumber=1, PageSize=5))["RspCode"] == 2
    for bad in (
        {"PageSize": 51},
        {"PageSize": 0},
        {"PageNumber": 0},
        {"SearchTime": "yesterday"},
        {"FilePath": "/../"},
    ):
        answer = await _call(server, "query", **{"PageNumber": 1, "PageSize": 5, **bad})
        assert answer["RspCode"] == 4, bad
    assert (await _call(server, "delete"))["RspCode"] == 4
    assert (await _call(server, "delete", FileName="/../../etc/passwd"))["RspCode"] == 4


async def test_delete_by_name_and_by_id_which_wins(server: RunningServer) -> None:
    root = server.config.recordings_dir
    for name in ("keep.mp4", "byname.mp4", "byid.mp4"):
        (root / "d").mkdir(exist_ok=True)
        (root / "d" / name).write_bytes(b"x")
    index = server.recordings.index
    for name in ("keep.mp4", "byname.mp4", "byid.mp4"):
        index.add(
            room="nd",
            mixer_id="1",
            file_name=f"/d/{name}",
            path=root / "d" / name,
            container="mp4",
            video_codec=None,
            audio_codec=None,
            width=None,
            height=None,
            fps=None,
            state="finished",
        )
    assert (await _call(server, "delete", FileName="/d/byname.mp4"))["RspCode"] == 0
    by_id = index.by_name("/d/byid.mp4")
    assert by_id is not None
    # FileID wins: the named file stays.
    answer = await _call(server, "delete", FileID=by_id.id, FileName="/d/keep.mp4")
    assert answer["RspCode"] == 0
    assert sorted(p.name for p in (root / "d").iterdir()) == ["keep.mp4"]
    assert index.by_name("/d/keep.mp4") is not None and index.by_name("/d/byid.mp4") is None
