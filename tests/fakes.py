"""In-memory stand-ins for what stands at the server's process boundary: a
peer's WebSocket (here, a list of what was sent to it) and the launcher that
starts a bot (here, a peer that joins the room and answers as told)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloudrec.config import Config
from cloudrec.ids import recorder_user
from cloudrec.storage.index import RecordingIndex
from cloudrec.storage.resources import ResourceStore
from cloudrec.storage.webhook import Webhook
from signaling.auto_record import AutoRecorder
from signaling.limits import message_bucket
from signaling.mixer_control import MixerControl
from signaling.recordings import Recordings
from signaling.rooms import ROLE_RECORDER, Peer, RoomRegistry
from signaling.ws import SignalingEndpoint
from tests.helpers import API_KEY, API_SECRET

MESSAGE_LIMIT = 64 * 1024


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
    *,
    limit: int = MESSAGE_LIMIT,
    per_second: int = 50,
) -> Peer:
    ws = MemoryWs(answer)
    bucket = message_bucket(per_second, 0.0)
    peer = Peer(ws, limit, bucket, address="127.0.0.1")  # type: ignore[arg-type]
    ws.peer = peer
    return peer


def sent(peer: Peer) -> list[dict[str, Any]]:
    """Everything the server sent to ``peer``, in order."""
    ws: MemoryWs = peer.ws  # type: ignore[assignment]
    return ws.sent


def states(peer: Peer) -> list[tuple[int, int]]:
    return [
        (m["data"]["state"], m["data"]["err"])
        for m in sent(peer)
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

    async def launch(self, room: str, job_id: str, cost: float, avoid: str = "") -> str:
        if self.fail is not None:
            raise self.fail
        bot = memory_peer(lambda m: self.answer(m))
        bot.role = ROLE_RECORDER
        joined = self.rooms.join(bot, room, recorder_user(room))
        assert self.control is not None
        asyncio.get_running_loop().call_soon(self.control.recorder_joined, joined, bot)
        self.bots.append(bot)
        return ""

    async def alive(self, worker: str) -> bool:
        return True


@dataclass
class MemoryServer:
    """The server's own parts, real, with in-memory peers and bots: the mixer
    state machine and the WebSocket dispatch run as they do behind aiohttp."""

    config: Config
    rooms: RoomRegistry
    control: MixerControl
    launcher: MemoryLauncher
    endpoint: SignalingEndpoint
    index: RecordingIndex

    def join(self, user: str, room: str) -> Peer:
        """A participant in ``room``, joined as the server would have it."""
        peer = memory_peer()
        self.rooms.join(peer, room, user)
        return peer

    async def say(self, peer: Peer, message: dict[str, Any] | str) -> list[dict[str, Any]]:
        """Has ``peer`` send ``message``; what it was sent back meanwhile."""
        before = len(sent(peer))
        text = message if isinstance(message, str) else json.dumps(message)
        await self.endpoint._on_text(peer, text)
        return sent(peer)[before:]


def memory_server(data_dir: Path, **overrides: Any) -> MemoryServer:
    config = Config(data_dir=data_dir, api_key=API_KEY, api_secret=API_SECRET, **overrides)
    rooms = RoomRegistry(config.max_rooms, config.max_peers_per_room, config.max_message_bytes)
    index = RecordingIndex(config.index_path)
    recordings = Recordings(config, index, Webhook(config, None))
    launcher = MemoryLauncher(rooms)
    resources = ResourceStore(config.resources_dir)
    control = MixerControl(config, rooms, launcher, recordings, resources)
    launcher.control = control
    endpoint = SignalingEndpoint(config, rooms, control, AutoRecorder(config, control))
    return MemoryServer(config, rooms, control, launcher, endpoint, index)
