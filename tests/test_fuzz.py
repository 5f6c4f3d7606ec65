"""Property-based fuzzing of every input a stranger can send, against a live
server with a recording in progress: the WebSocket protocol, the REST mixer
bodies and the netdisk bodies. No input may get a 5xx, end a connection over
a parse error, or disturb the recording.

Deterministic (derandomized, no example database) and bounded in examples;
schemathesis explores the OpenAPI document beside this (test_schemathesis.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signaling.server import RunningServer
from tests.conftest import ServerFactory
from tests.helpers import API_AUTH, EventLog, recording_in_progress, token
from tests.media import decode

ROOM = "fuzz"
FILE = "/fuzz/kept.mp4"
WS_EXAMPLES = 600
RAW_EXAMPLES = 200
REST_EXAMPLES = 300
REPLY_TIMEOUT_S = 10.0
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    # One live server serves every example, on purpose: its state carries over.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Words of the protocol, so that generated messages reach past the first check.
KEYS = [
    "type", "rid", "room", "user", "token", "role", "key", "to", "data", "sdp", "tracks",
    "kind", "source", "camId", "mid", "op", "stroke", "id", "points", "color", "width",
    "cfgs", "contents", "outputs", "cfg", "content", "output", "filename", "liveUrl",
    "param", "camid", "userid", "streamTypes", "frameRate", "height", "left", "top",
    "video", "preview", "offer", "candidate", "strokes", "version",
]  # fmt: skip
TYPES = [
    "join", "leave", "signal", "tracks", "wb", "wbState", "reply", "getSvrMixerState",
    "startSvrMixer", "updateSvrMixerContent", "stopSvrMixer", "mixer.outputInfo",
    "mixer.ended", "nope",
]  # fmt: skip
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=24)
    | st.sampled_from(["alice", "recorder-fuzz", "..", "*", ROOM, "stroke", "undo", "clear"])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=25,
)
messages = st.builds(
    lambda kind, rest: {**rest, "type": kind},
    st.sampled_from(TYPES),
    st.dictionaries(st.sampled_from(KEYS), json_values, max_size=6),
)
raw_texts = st.one_of(
    st.text(max_size=200),
    json_values.map(json.dumps),
    st.builds(lambda n: "[" * n + "]" * n, st.integers(min_value=0, max_value=3000)),
    st.builds(lambda n: '{"type": "wb", "n": ' + "9" * n + "}", st.integers(0, 6000)),
    st.sampled_from(['{"type": "join", "x": NaN}', '{"type": "\\ud800"}', '{"rid": 1e999}']),
)


@dataclass
class Fuzzed:
    server: RunningServer
    http: aiohttp.ClientSession
    ws: aiohttp.ClientWebSocketResponse
    log: EventLog
    rid: int = 10**6

    async def alive(self) -> None:
        """A request answered: the connection survived what came before."""
        self.rid += 1
        await self.ws.send_json({"type": "wbState", "rid": self.rid})
        while True:
            message = await self.ws.receive(timeout=REPLY_TIMEOUT_S)
            assert message.type is aiohttp.WSMsgType.TEXT, f"connection ended: {message}"
            data = json.loads(message.data)
            if data.get("type") == "reply" and data.get("rid") == self.rid:
                assert data["err"] == 0
                return
            if data.get("type") in ("reply", "error"):
                assert data["err"] != 8, f"a server error: {data}"


@pytest.fixture
async def fuzzed(
    make_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[Fuzzed]:
    """A stranger joined (join and publish, not record) to a room whose
    recording must survive the fuzzing; afterwards the file plays to its end."""
    caplog.set_level(logging.ERROR)
    server = await make_server(max_messages_per_second=100_000, max_joins_per_minute=100_000)
    async with (
        recording_in_progress(server.base_url, ROOM, FILE) as (_alice, log),
        aiohttp.ClientSession() as http,
        http.ws_connect(server.ws_url) as ws,
    ):
        await ws.send_json(
            {
                "type": "join",
                "room": ROOM,
                "user": "mallory",
                "rid": 1,
                "token": token(ROOM, "mallory", ("join", "publish")),
            }
        )
        fuzzed = Fuzzed(server, http, ws, log)
        await fuzzed.alive()
        yield fuzzed
        await fuzzed.alive()
    media = decode(server.config.recordings_dir / FILE.lstrip("/"))
    assert media.duration >= 1.0, "the recording survived and plays"
    crashes = [r for r in caplog.records if r.exc_info and r.name.startswith("signaling")]
    assert crashes == [], [r.getMessage() for r in crashes]


@settings(FUZZ, max_examples=WS_EXAMPLES)
@given(message=messages)
async def test_websocket_messages(fuzzed: Fuzzed, message: dict[str, Any]) -> None:
    if message["type"] == "leave":
        message["type"] = "wbState"  # leaving is allowed; the rest must not be
    await fuzzed.ws.send_str(json.dumps(message))
    await fuzzed.alive()


@settings(FUZZ, max_examples=RAW_EXAMPLES)
@given(text=raw_texts)
async def test_websocket_texts(fuzzed: Fuzzed, text: str) -> None:
    await fuzzed.ws.send_str(text)
    await fuzzed.alive()


bodies = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(st.sampled_from(KEYS), json_values, max_size=4).map(
        lambda v: json.dumps(v).encode()
    ),
    st.binary(max_size=300),
)
charsets = st.sampled_from(["", "; charset=utf-8", "; charset=latin-1", "; charset=x-nope"])
calls = st.sampled_from(
    [
        ("post", f"/api/v1/rooms/{ROOM}/mixer"),
        ("put", f"/api/v1/rooms/{ROOM}/mixer"),
        ("post", "/api/v1/rooms/other/mixer"),
        ("post", "/CLOUDROOM-API/netDisk/query"),
        ("post", "/CLOUDROOM-API/netDisk/delete"),
        ("post", "/api/v1/resources"),
    ]
)


@settings(FUZZ, max_examples=REST_EXAMPLES)
@given(call=calls, body=bodies, charset=charsets, credentials=st.booleans())
async def test_rest_bodies(
    fuzzed: Fuzzed, call: tuple[str, str], body: bytes, charset: str, credentials: bool
) -> None:
    method, path = call
    headers = {"Content-Type": "application/json" + charset, **(API_AUTH if credentials else {})}
    async with fuzzed.http.request(
        method, fuzzed.server.base_url + path, data=body, headers=headers
    ) as resp:
        assert resp.status < 500, await resp.text()
        answer = await resp.json()
    assert "err" in answer or "RspCode" in answer or "resourceid" in answer or "state" in answer
