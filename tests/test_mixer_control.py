"""The server's mixer state machine, with in-memory peers standing where the
WebSocket connections to a participant and to the bot would be."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cloudrec.config import Config
from cloudrec.errors import CloudrecError
from cloudrec.ids import recorder_user
from cloudrec.storage.index import MISSING, RECORDING, RecordingIndex
from cloudrec.storage.resources import ResourceStore
from cloudrec.storage.webhook import Webhook
from signaling.limits import message_bucket
from signaling.mixer_control import MixerControl
from signaling.recordings import Recordings
from signaling.rooms import ROLE_RECORDER, Peer, RoomRegistry
from tests.helpers import CFG_360P15, add_row, file_output, side_by_side

ROOM = "r"
BODY = {"cfgs": CFG_360P15, "contents": side_by_side("a", "b"), "outputs": file_output("/u/a.mp4")}
# Guards against a hang, not a measure of speed: each call here is in-memory.
CALL_TIMEOUT_S = 5.0


@dataclass
class MemoryWs:
    """What a peer's WebSocket would carry, kept in memory; ``answer`` plays the
    far end (the bot) for each request it is sent."""

    answer: Callable[[dict[str, Any]], dict[str, Any] | None] = lambda _m: None
    sent: list[dict[str, Any]] = field(default_factory=list)
    closed: bool = False
    peer: Peer | None = None

    async def send_str(self, text: str) -> None:
        message = json.loads(text)
        self.sent.append(message)
        reply = self.answer(message) if "rid" in message else None
        if reply is not None and self.peer is not None:
            self.peer.resolve_reply({"type": "reply", "rid": message["rid"], **reply})


def memory_peer(
    answer: Callable[[dict[str, Any]], dict[str, Any] | None] = lambda _m: None,
) -> Peer:
    ws = MemoryWs(answer)
    peer = Peer(ws, 64 * 1024, message_bucket(50, 0.0))  # type: ignore[arg-type]
    ws.peer = peer
    return peer


def states(peer: Peer) -> list[tuple[int, int]]:
    ws: MemoryWs = peer.ws  # type: ignore[assignment]
    return [
        (m["data"]["state"], m["data"]["err"])
        for m in ws.sent
        if m.get("name") == "svrMixerStateChanged"
    ]


class MemoryLauncher:
    """Starts a 'bot' by having an in-memory peer join the room, as a bot
    process would; ``fail`` makes the launch itself break."""

    def __init__(self, rooms: RoomRegistry) -> None:
        self.rooms = rooms
        self.control: MixerControl | None = None
        self.fail: Exception | None = None
        self.answer: Callable[[dict[str, Any]], dict[str, Any] | None] = lambda _m: {"err": 0}
        self.bots: list[Peer] = []

    async def launch(self, room: str) -> None:
        if self.fail is not None:
            raise self.fail
        bot = memory_peer(lambda m: self.answer(m))
        bot.role = ROLE_RECORDER
        joined = self.rooms.join(bot, room, recorder_user(room))
        assert self.control is not None
        asyncio.get_running_loop().call_soon(self.control.recorder_joined, joined, bot)
        self.bots.append(bot)


@dataclass
class Stage:
    control: MixerControl
    launcher: MemoryLauncher
    index: RecordingIndex
    alice: Peer
    recordings_dir: Path


@pytest.fixture
async def stage(tmp_path: Path) -> AsyncIterator[Stage]:
    config = Config(data_dir=tmp_path, api_key="k", api_secret="s" * 32, max_sessions=1)
    rooms = RoomRegistry(config.max_rooms, config.max_peers_per_room, config.max_message_bytes)
    index = RecordingIndex(config.index_path)
    recordings = Recordings(config, index, Webhook("", "k", "s"))
    launcher = MemoryLauncher(rooms)
    control = MixerControl(config, rooms, launcher, recordings, ResourceStore(tmp_path / "res"))
    launcher.control = control
    alice = memory_peer()
    rooms.join(alice, ROOM, "alice")
    yield Stage(control, launcher, index, alice, config.recordings_dir)
    index.close()


async def test_a_hand_off_that_breaks_returns_the_room_to_null(stage: Stage) -> None:
    stage.launcher.fail = RuntimeError("the launcher broke")
    with pytest.raises(CloudrecError) as caught:
        await stage.control.start(ROOM, "alice", BODY)
    assert int(caught.value.code) == 8
    assert states(stage.alice) == [(1, 0), (0, 8)], "STARTING, then NULL with err 8"
    assert stage.control.running_sessions() == 0, "the session slot is free again"
    stage.launcher.fail = None
    await asyncio.wait_for(stage.control.start(ROOM, "alice", BODY), CALL_TIMEOUT_S)
    assert int(stage.control.get_state(ROOM)) == 2


async def test_a_bot_that_vanishes_mid_start_frees_the_room(stage: Stage) -> None:
    def vanish(message: dict[str, Any]) -> None:
        stage.launcher.bots[-1].fail_pending()  # its connection dropped

    stage.launcher.answer = vanish
    with pytest.raises(CloudrecError):
        await asyncio.wait_for(stage.control.start(ROOM, "alice", BODY), CALL_TIMEOUT_S)
    assert int(stage.control.get_state(ROOM)) == 0
    assert states(stage.alice)[-1] == (0, 8)


async def test_a_bot_lost_during_an_update_is_settled_at_once(stage: Stage) -> None:
    await stage.control.start(ROOM, "alice", BODY)
    row = add_row(stage.index, ROOM, "/u/a.mp4", stage.recordings_dir / "u" / "a.mp4")
    stage.launcher.answer = lambda m: None if m["type"] == "mixer.update" else {"err": 0}
    update = asyncio.create_task(stage.control.update(ROOM, "alice", BODY))
    bot = stage.launcher.bots[-1]
    while not any(m.get("type") == "mixer.update" for m in bot.ws.sent):  # type: ignore[attr-defined]
        await asyncio.sleep(0)
    stage.launcher.rooms.leave(bot)  # its connection ended, as signaling/ws.py sees it
    left = asyncio.create_task(stage.control.recorder_left(bot, ROOM))
    with pytest.raises(CloudrecError) as caught:
        await asyncio.wait_for(update, CALL_TIMEOUT_S)
    assert int(caught.value.code) == 8
    await asyncio.wait_for(left, CALL_TIMEOUT_S)
    assert int(stage.control.get_state(ROOM)) == 0
    assert states(stage.alice)[-1] == (0, 8)
    settled = stage.index.get(row)
    assert settled is not None and settled.state != RECORDING
    assert settled.state == MISSING, "its file never existed"
    # Nothing is left waiting on the lost bot: a stop is a no-op, a start works.
    await asyncio.wait_for(stage.control.stop(ROOM, "alice"), CALL_TIMEOUT_S)
    stage.launcher.answer = lambda _m: {"err": 0}
    await asyncio.wait_for(stage.control.start(ROOM, "alice", BODY), CALL_TIMEOUT_S)
    assert int(stage.control.get_state(ROOM)) == 2
