"""Who may do what: credentials, grants, rooms, expiry; path attacks."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import aiohttp
import jwt
import pytest

from cloudrec.auth import GRANTS, basic_header, verify_token
from cloudrec.client import Participant
from cloudrec.config import Config, ConfigError
from cloudrec.errors import CloudrecError
from cloudrec.storage.index import FINISHED
from signaling.openapi import openapi_document
from signaling.server import RunningServer, start_server
from tests.helpers import (
    API_AUTH,
    API_KEY,
    API_SECRET,
    CFG_360P15,
    add_row,
    file_output,
    participant,
    side_by_side,
    token,
)

START = {"cfgs": CFG_360P15, "contents": side_by_side("a", "b"), "outputs": file_output("/x/a.mp4")}


def _protected_calls() -> list[tuple[str, str]]:
    """Every call under /api/v1/ that the OpenAPI document names, so a new
    endpoint is in the matrix below as soon as it is documented."""
    calls = []
    for path, item in openapi_document()["paths"].items():
        if path.startswith("/api/v1/"):
            calls += [
                (method, path) for method in ("get", "post", "put", "delete") if method in item
            ]
    return calls


def _forged(kind: str) -> str:
    """An Authorization header that must not pass."""
    claims = {"iss": "cloudrec", "sub": "eve", "room": "r1", "grants": list(GRANTS), "exp": 2**40}
    if kind == "wrong basic":
        return basic_header(API_KEY, "not-the-secret")
    if kind == "expired":
        return f"Bearer {token('r1', 'eve', ttl_s=-10)}"
    if kind == "other secret":
        return "Bearer " + jwt.encode(claims, "another-secret-that-is-long-enough-for-hs256")
    if kind == "alg none":
        return "Bearer " + jwt.encode(claims, "", algorithm="none")
    if kind == "garbage":
        return "Bearer not.a.token"
    return ""


async def _call(
    server: RunningServer, method: str, template: str, recording_id: int, header: str
) -> int:
    path = (
        template.replace("{room}", "r1")
        .replace("{folder}", ".a.m3u8.segments")
        .replace("{segment}", "00000.ts")
    )
    path = path.replace("{id}", "0123456789abcdef" if "resources" in path else str(recording_id))
    headers = {"Authorization": header} if header else {}
    async with (
        aiohttp.ClientSession(headers=headers) as http,
        http.request(method, server.base_url + path, params={"room": "r1"}, json=START) as resp,
    ):
        body = await resp.json()
        assert "err" in body and "message" in body
        return resp.status


@pytest.fixture
async def r1_recording(server: RunningServer) -> int:
    """A row of room r1 with a file, for the calls that name a recording."""
    path = server.config.recordings_dir / "r1" / "a.m3u8"
    path.parent.mkdir(parents=True)
    path.write_text("#EXTM3U\n")
    return add_row(server.recordings.index, "r1", "/r1/a.m3u8", path, FINISHED)


@pytest.mark.parametrize(("method", "path"), _protected_calls())
async def test_access_matrix(
    server: RunningServer, r1_recording: int, method: str, path: str
) -> None:
    """Every endpoint x every way in that must fail: 401 without valid
    credentials, 403 with valid ones that do not reach room r1."""
    for kind in ("none", "wrong basic", "expired", "other secret", "alg none", "garbage"):
        status = await _call(server, method, path, r1_recording, _forged(kind))
        assert status == 401, kind
    for kind, bearer in (
        ("another room's token", token("r2", "eve")),
        ("a token without the grant", token("r1", "eve", ("publish",))),
    ):
        status = await _call(server, method, path, r1_recording, f"Bearer {bearer}")
        assert status == 403, kind


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
        # The recorder's own names: an HLS playlist's segments, hidden files.
        "/x/.ow.m3u8.segments/00000.ts",
        "/x/.hidden.mp4",
        "/.x/a.mp4",
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
            "signaling.cli",
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
        "signaling.cli",
        "recordings",
        "list",
        "--server",
        server.base_url,
        *env_args,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0 and '"total": 0' in out.decode()
