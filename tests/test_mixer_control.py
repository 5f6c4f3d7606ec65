"""The server's mixer state machine, with in-memory peers standing where the
WebSocket connections to a participant and to the bot would be."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cloudrec.contract import OutputInfo
from cloudrec.errors import CloudrecError
from cloudrec.storage.index import MISSING, RECORDING
from cloudrec.wire import OutputState
from signaling.rooms import Peer
from tests.fakes import MemoryServer, memory_server, sent, states
from tests.helpers import CFG_360P15, add_row, file_output, side_by_side

ROOM = "r"
BODY = {"cfgs": CFG_360P15, "contents": side_by_side("a", "b"), "outputs": file_output("/u/a.mp4")}
# Guards against a hang, not a measure of speed: each call here is in-memory.
CALL_TIMEOUT_S = 5.0


@dataclass
class Stage:
    server: MemoryServer
    alice: Peer  # in the room, the one who starts and stops


@pytest.fixture
async def stage(tmp_path: Path) -> AsyncIterator[Stage]:
    server = memory_server(tmp_path, max_sessions=1)
    yield Stage(server, server.join("alice", ROOM))
    server.index.close()


async def test_a_hand_off_that_breaks_returns_the_room_to_null(stage: Stage) -> None:
    stage.server.launcher.fail = RuntimeError("the launcher broke")
    with pytest.raises(CloudrecError) as caught:
        await stage.server.control.start(ROOM, "alice", BODY)
    assert int(caught.value.code) == 8
    assert states(stage.alice) == [(1, 0), (0, 8)], "STARTING, then NULL with err 8"
    assert stage.server.control.running_sessions() == 0, "the session slot is free again"
    stage.server.launcher.fail = None
    await asyncio.wait_for(stage.server.control.start(ROOM, "alice", BODY), CALL_TIMEOUT_S)
    assert int(stage.server.control.get_state(ROOM)) == 2
    told = [m["data"] for m in sent(stage.alice) if m.get("name") == "recording"]
    assert [t["active"] for t in told] == [True], "a failed start never said 'recording'"
    assert told[0]["startedBy"] == "alice" and stage.server.control.recording(ROOM) == told[0]


async def test_a_bot_that_vanishes_mid_start_frees_the_room(stage: Stage) -> None:
    def vanish(message: dict[str, Any]) -> None:
        stage.server.launcher.bots[-1].fail_pending()  # its connection dropped

    stage.server.launcher.answer = vanish
    with pytest.raises(CloudrecError):
        await asyncio.wait_for(stage.server.control.start(ROOM, "alice", BODY), CALL_TIMEOUT_S)
    assert int(stage.server.control.get_state(ROOM)) == 0
    assert states(stage.alice)[-1] == (0, 8)


async def test_a_bot_lost_during_an_update_is_settled_at_once(stage: Stage) -> None:
    await stage.server.control.start(ROOM, "alice", BODY)
    row = add_row(
        stage.server.index, ROOM, "/u/a.mp4", stage.server.config.recordings_dir / "u" / "a.mp4"
    )
    stage.server.launcher.answer = lambda m: None if m["type"] == "mixer.update" else {"err": 0}
    update = asyncio.create_task(stage.server.control.update(ROOM, "alice", BODY))
    bot = stage.server.launcher.bots[-1]

    async def update_sent() -> None:  # in memory: a few turns of the loop
        while not any(m.get("type") == "mixer.update" for m in sent(bot)):
            await asyncio.sleep(0)

    await asyncio.wait_for(update_sent(), CALL_TIMEOUT_S)
    stage.server.rooms.leave(bot)  # its connection ended, as signaling/ws.py sees it
    left = asyncio.create_task(stage.server.control.recorder_left(bot, ROOM))
    with pytest.raises(CloudrecError) as caught:
        await asyncio.wait_for(update, CALL_TIMEOUT_S)
    assert int(caught.value.code) == 8
    await asyncio.wait_for(left, CALL_TIMEOUT_S)
    assert int(stage.server.control.get_state(ROOM)) == 0
    assert states(stage.alice)[-1] == (0, 8)
    settled = stage.server.index.get(row)
    assert settled is not None and settled.state != RECORDING
    assert settled.state == MISSING, "its file never existed"
    # Nothing is left waiting on the lost bot: a stop is a no-op, a start works.
    await asyncio.wait_for(stage.server.control.stop(ROOM, "alice"), CALL_TIMEOUT_S)
    stage.server.launcher.answer = lambda _m: {"err": 0}
    await asyncio.wait_for(stage.server.control.start(ROOM, "alice", BODY), CALL_TIMEOUT_S)
    assert int(stage.server.control.get_state(ROOM)) == 2


async def test_no_file_is_writing_before_the_room_hears_running(stage: Stage) -> None:
    """The bot answers the start, then writes its first frame at once: that
    report can be read before the start call resumes to say RUNNING."""
    reports: list[asyncio.Future[None]] = []

    def report(state: OutputState) -> None:
        info = OutputInfo("1", "/u/a.mp4", state, 0, 0, 0)
        told = stage.server.control.recorder_message(stage.server.launcher.bots[-1], info.to_wire())
        reports.append(asyncio.ensure_future(told))

    def answer(message: dict[str, Any]) -> dict[str, Any]:
        if message["type"] == "mixer.start":
            report(OutputState.CREATED)
            report(OutputState.WRITING)  # runs before the reply reaches start()
        return {"err": 0}

    stage.server.launcher.answer = answer
    await asyncio.wait_for(stage.server.control.start(ROOM, "alice", BODY), CALL_TIMEOUT_S)
    await asyncio.wait_for(asyncio.gather(*reports), CALL_TIMEOUT_S)
    told = [
        (m["name"], m["data"]["state"])
        for m in sent(stage.alice)
        if m.get("name") in ("svrMixerStateChanged", "svrMixerOutputInfo")
    ]
    assert told == [
        ("svrMixerStateChanged", 1),
        ("svrMixerOutputInfo", 1),
        ("svrMixerStateChanged", 2),
        ("svrMixerOutputInfo", 2),
    ]
