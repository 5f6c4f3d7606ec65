"""Who may do what: credentials, grants, rooms, expiry; path attacks."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from cloudrec.auth import verify_token
from cloudrec.client import Participant
from cloudrec.config import Config
from cloudrec.errors import CloudrecError
from cloudrec.server import ConfigError, RunningServer, start_server
from signaling.openapi import openapi_document
from tests.helpers import (
    API_AUTH,
    API_KEY,
    API_SECRET,
    CFG_360P15,
    file_output,
    participant,
    side_by_side,
    token,
)

START = {"cfgs": CFG_360P15, "contents": side_by_side("a", "b"), "outputs": file_output("/x/a.mp4")}


def _protected_calls() -> list[tuple[str, str]]:
    calls = []
    for path, item in openapi_document()["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        concrete = path.replace("{room}", "r1").replace("{id}", "1")
        calls += [
            (method, concrete) for method in ("get", "post", "put", "delete") if method in item
        ]
    return calls


@pytest.mark.parametrize(("method", "path"), _protected_calls())
async def test_every_endpoint_needs_credentials(
    server: RunningServer, method: str, path: str
) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.request(method, server.base_url + path, json=START) as resp:
            assert resp.status == 401
            assert (await resp.json())["err"] == 12
        wrong = {"Authorization": "Basic d3Jvbmc6d3Jvbmc="}
        async with http.request(method, server.base_url + path, json=START, headers=wrong) as resp:
            assert resp.status == 401


@pytest.mark.parametrize(
    ("method", "path", "grants"),
    [
        ("post", "/api/v1/rooms/r1/mixer", ("join", "publish", "files")),
        ("put", "/api/v1/rooms/r1/mixer", ("join",)),
        ("delete", "/api/v1/rooms/r1/mixer", ("join",)),
        ("get", "/api/v1/rooms/r1/mixer", ("files",)),
        ("get", "/api/v1/rooms/r1", ("record",)),
        ("get", "/api/v1/recordings", ("join", "record")),
    ],
)
async def test_tokens_lacking_the_grant_are_refused(
    server: RunningServer, method: str, path: str, grants: tuple[str, ...]
) -> None:
    headers = {"Authorization": f"Bearer {token('r1', 'u', grants)}"}
    async with (
        aiohttp.ClientSession(headers=headers) as http,
        http.request(method, server.base_url + path, json=START) as resp,
    ):
        assert resp.status == 403
        body = await resp.json()
    assert body["err"] == 1501 and "grant" in body["message"]


async def test_expired_and_forged_tokens(server: RunningServer) -> None:
    expired = token("r1", "alice", ttl_s=-10)
    with pytest.raises(CloudrecError) as caught:
        async with Participant(server.base_url, "r1", "alice", expired):
            pass
    assert int(caught.value.code) == 12 and "expired" in caught.value.message
    forged = token("r1", "alice")[:-4] + "AAAA"
    for bad in (expired, forged):
        headers = {"Authorization": f"Bearer {bad}"}
        async with (
            aiohttp.ClientSession(headers=headers) as http,
            http.get(f"{server.base_url}/api/v1/recordings") as resp,
        ):
            assert resp.status == 401


async def test_a_token_for_room_a_cannot_act_in_room_b(server: RunningServer) -> None:
    with pytest.raises(CloudrecError) as caught:
        async with Participant(server.base_url, "room-b", "alice", token("room-a", "alice")):
            pass
    assert int(caught.value.code) == 1501
    with pytest.raises(CloudrecError):
        async with Participant(server.base_url, "room-a", "mallory", token("room-a", "alice")):
            pass
    async with participant(server.base_url, "room-b", "bob"):  # room B exists
        headers = {"Authorization": f"Bearer {token('room-a', 'alice')}"}
        async with aiohttp.ClientSession(headers=headers) as http:
            async with http.post(
                f"{server.base_url}/api/v1/rooms/room-b/mixer", json=START
            ) as resp:
                assert resp.status == 403
            async with http.get(
                f"{server.base_url}/api/v1/recordings", params={"room": "room-b"}
            ) as resp:
                assert resp.status == 403


async def test_grants_over_the_websocket(server: RunningServer) -> None:
    async with participant(server.base_url, "g", "viewer", ("join",)) as viewer:
        with pytest.raises(CloudrecError) as caught:
            await viewer.start_svr_mixer(START["cfgs"], START["contents"], START["outputs"])
        assert int(caught.value.code) == 1501 and "record" in caught.value.message
        with pytest.raises(CloudrecError) as caught:
            await viewer.publish()
        assert int(caught.value.code) == 1501
        assert int(await viewer.get_svr_mixer_state()) == 0


async def test_dev_mode_is_open_and_loopback_only(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        await start_server(Config(host="0.0.0.0", port=0, data_dir=tmp_path, dev=True))
    server = await start_server(Config(port=0, data_dir=tmp_path, dev=True))
    try:
        async with Participant(server.base_url, "open", "anyone") as anyone:
            assert int(await anyone.get_svr_mixer_state()) == 0
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{server.base_url}/api/v1/recordings") as resp,
        ):
            assert resp.status == 200
    finally:
        await server.close()


@pytest.mark.parametrize(
    "filename",
    [
        "../../etc/passwd.mp4",
        "/a/../../../x.mp4",
        "%2e%2e/%2e%2e/x.mp4/../y.mp4",
        "/a\x00.mp4",
        "..\\..\\x.mp4",
        "/etc/passwd",
        "/" + "a" * 300 + ".mp4",
    ],
)
async def test_path_attacks_are_refused(
    server: RunningServer, tmp_path: Path, filename: str
) -> None:
    outside = sorted(p for p in tmp_path.parent.rglob("*") if not p.is_relative_to(tmp_path))
    body = {**START, "outputs": file_output(filename)}
    async with (
        participant(server.base_url, "paths", "alice"),
        aiohttp.ClientSession(headers=API_AUTH) as http,
        http.post(f"{server.base_url}/api/v1/rooms/paths/mixer", json=body) as resp,
    ):
        assert resp.status == 400
        assert (await resp.json())["err"] == 1502
    assert (
        sorted(p for p in tmp_path.parent.rglob("*") if not p.is_relative_to(tmp_path)) == outside
    )
    assert not any(server.config.recordings_dir.rglob("*.mp4"))


async def test_token_and_recordings_commands(server: RunningServer, tmp_path: Path) -> None:
    env_args = ["--api-key", API_KEY, "--api-secret", API_SECRET]
    minted = subprocess.run(
        [
            sys.executable,
            "-m",
            "cloudrec.cli",
            "token",
            "--room",
            "r9",
            "--user",
            "zoe",
            "--grants",
            "join,record",
            *env_args,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    who = verify_token(API_SECRET, minted)
    assert (who.user, who.room, who.grants) == ("zoe", "r9", frozenset({"join", "record"}))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cloudrec.cli",
        "recordings",
        "list",
        "--server",
        server.base_url,
        *env_args,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0 and '"total": 0' in out.decode()
