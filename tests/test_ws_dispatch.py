"""The WebSocket dispatch, message by message, with in-memory peers where the
connections would be: what each message does and what each peer hears."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from signaling.rooms import Peer
from tests.fakes import MemoryServer, memory_peer, memory_server, sent
from tests.helpers import token

ROOM = "r"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[MemoryServer]:
    server = memory_server(tmp_path)
    yield server
    server.index.close()


async def _joined(server: MemoryServer, user: str, **peer: Any) -> Peer:
    who = memory_peer(**peer)
    join = {"type": "join", "room": ROOM, "user": user, "rid": 1, "token": token(ROOM, user)}
    (reply, *_) = await server.say(who, join)
    assert reply["err"] == 0, reply
    return who


async def test_a_join_tells_the_others_one_participant(server: MemoryServer) -> None:
    alice = await _joined(server, "alice")
    bob = await _joined(server, "bob")
    assert sent(alice)[-1] == {
        "type": "presence",
        "event": "join",
        "user": {"userID": "bob", "role": "participant", "tracks": []},
    }
    reply = sent(bob)[0]
    assert [p["userID"] for p in reply["participants"]] == ["alice", "bob"]
    assert reply["recording"] == {"active": False}
    await server.say(bob, {"type": "leave", "rid": 2})
    assert sent(alice)[-1]["event"] == "leave" and "participants" not in sent(alice)[-1]


async def test_a_long_participant_list_follows_the_reply_in_parts(tmp_path: Path) -> None:
    server = memory_server(tmp_path, max_message_bytes=2048, max_peers_per_room=40)
    for n in range(30):
        await _joined(server, f"user-{n:02d}-" + "x" * 30, limit=2048)
    last = await _joined(server, "last", limit=2048)
    reply, *parts = sent(last)
    listed = [p["userID"] for p in reply["participants"]]
    listed += [p["userID"] for m in parts for p in m["participants"]]
    assert parts and all(m["event"] == "list" for m in parts)
    assert len(listed) == 31 and listed[-1] == "last"
    server.index.close()


async def test_tracks_are_checked_and_named_for_layouts(server: MemoryServer) -> None:
    alice = await _joined(server, "alice")
    bob = await _joined(server, "bob")
    tracks = [
        {"kind": "video", "camId": 1},
        {"kind": "audio"},
        {"kind": "video", "source": "screen"},
    ]
    (reply,) = await server.say(alice, {"type": "tracks", "rid": 2, "tracks": tracks})
    assert reply["err"] == 0
    assert sent(bob)[-1]["user"]["tracks"] == [
        {"kind": "video", "source": "camera", "camId": 1, "camid": "alice.1"},
        {"kind": "audio", "source": "mic"},
        {"kind": "video", "source": "screen"},
    ]
    (refused,) = await server.say(alice, {"type": "tracks", "rid": 3, "tracks": [{"kind": "x"}]})
    assert refused["err"] == 5 and "tracks[0].kind" in refused["message"]


async def test_an_offer_to_the_recorder_is_checked_on_the_way(server: MemoryServer) -> None:
    alice = await _joined(server, "alice")
    recorder = memory_peer()
    recorder.role = "recorder"
    server.rooms.join(recorder, ROOM, "recorder-r")
    offer = {"sdp": {"type": "offer", "sdp": "v=0"}, "tracks": [{"kind": "video", "mid": "0"}]}
    message = {"type": "signal", "to": "recorder-r", "rid": 2, "data": offer}
    (reply,) = await server.say(alice, message)
    assert reply["err"] == 0
    relayed = sent(recorder)[-1]["data"]["tracks"]
    assert relayed == [{"kind": "video", "source": "camera", "camId": 0, "mid": "0"}]
    bad = {**message, "data": {**offer, "tracks": [{"kind": "video"}]}}
    (refused,) = await server.say(alice, bad)
    assert refused["err"] == 5 and "data.tracks[0].mid" in refused["message"]
    assert sent(recorder)[-1]["data"]["tracks"] == relayed, "not relayed"


async def test_past_the_rate_a_message_is_refused_not_handled(server: MemoryServer) -> None:
    alice = await _joined(server, "alice", per_second=2)  # 8 at once, 2 a second after
    answers = [(await server.say(alice, {"type": "wbState", "rid": n}))[0] for n in range(12)]
    assert [a["err"] for a in answers].count(907) >= 3
    assert alice.refused > 0


async def test_a_bug_in_a_handler_is_err_8_and_the_peer_is_served_on(
    server: MemoryServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await _joined(server, "alice")

    def broken(_op: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("a bug")

    room = server.rooms.get(ROOM)
    assert room is not None
    monkeypatch.setattr(room.board, "apply", broken)
    (failed,) = await server.say(alice, {"type": "wb", "op": "clear", "rid": 2})
    assert failed["err"] == 8 and "'wb' failed" in failed["message"]
    (state,) = await server.say(alice, {"type": "wbState", "rid": 3})
    assert state["err"] == 0
