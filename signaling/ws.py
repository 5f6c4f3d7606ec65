"""The WebSocket endpoint: one connection per peer, messages per docs/protocol.md."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from cloudrec.auth import DEV_IDENTITY, verify_token
from cloudrec.config import Config
from cloudrec.errors import CloudrecError, ErrorCode
from signaling.auto_record import AutoRecorder
from signaling.mixer_control import MixerControl
from signaling.rooms import (
    ROLE_PARTICIPANT,
    ROLE_RECORDER,
    ROOM_ID_MAX,
    USER_ID_MAX,
    Peer,
    Room,
    RoomRegistry,
    check_id,
)

log = logging.getLogger(__name__)

# aiohttp closes the connection past this; below it, an over-limit message gets
# an error reply and the connection lives on.
HARD_MESSAGE_CAP_FACTOR = 4
MAX_TRACKS = 16
MIXER_CALLS = ("startSvrMixer", "updateSvrMixerContent", "getSvrMixerState", "stopSvrMixer")


class SignalingEndpoint:
    def __init__(
        self, config: Config, rooms: RoomRegistry, control: MixerControl, auto: AutoRecorder
    ) -> None:
        self._config = config
        self._rooms = rooms
        self._control = control
        self._auto = auto
        self._tasks: set[asyncio.Task[None]] = set()
        self._peers: set[Peer] = set()

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(
            heartbeat=30.0, max_msg_size=self._config.max_message_bytes * HARD_MESSAGE_CAP_FACTOR
        )
        await ws.prepare(request)
        peer = Peer(ws)
        self._peers.add(peer)
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                await self._on_text(peer, msg.data)
        finally:
            self._peers.discard(peer)
            await self._leave(peer)
        return ws

    async def _on_text(self, peer: Peer, text: str) -> None:
        rid: Any = None
        try:
            if len(text.encode()) > self._config.max_message_bytes:
                raise CloudrecError(
                    ErrorCode.PARAM_ERR,
                    f"message is larger than {self._config.max_message_bytes} bytes",
                )
            try:
                message = json.loads(text)
            except json.JSONDecodeError as exc:
                raise CloudrecError(
                    ErrorCode.PARAM_ERR, f"message is not JSON: {exc.msg}"
                ) from None
            if not isinstance(message, dict) or not isinstance(message.get("type"), str):
                raise CloudrecError(ErrorCode.PARAM_ERR, "message must be an object with a 'type'")
            rid = message.get("rid")
            await self._on_message(peer, message)
        except CloudrecError as exc:
            await peer.send(
                {"type": "reply" if rid is not None else "error", "rid": rid, **exc.to_wire()}
            )

    async def _on_message(self, peer: Peer, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "reply":
            peer.resolve_reply(message)
            return
        if kind == "join":
            await self._join(peer, message)
            return
        room = peer.room
        if room is None:
            raise CloudrecError(ErrorCode.NOT_LOGIN, f"'{kind}' needs a joined room")
        if kind == "leave":
            await self._leave(peer)
            await self._reply(peer, message)
        elif kind == "signal":
            if isinstance(message.get("data"), dict) and "sdp" in message["data"]:
                self._require(peer, "publish", room)
            await self._relay(peer, room, message)
        elif kind == "tracks":
            self._require(peer, "publish", room)
            await self._set_tracks(peer, room, message)
        elif kind == "wb":
            self._require(peer, "publish", room)
            effect = room.board.apply(message)
            await self._reply(peer, message, **effect)
            await room.broadcast({"type": "wb", **effect}, exclude=peer)
        elif kind == "wbState":
            await self._reply(peer, message, **room.board.state())
        elif kind in MIXER_CALLS and peer.role == ROLE_PARTICIPANT:
            if kind != "getSvrMixerState":
                self._require(peer, "record", room)
            # Run apart from the reader: a start waits for the bot, and meanwhile
            # this peer's offers to that bot must still be relayed.
            task = asyncio.create_task(self._mixer_call(peer, room.name, message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif kind.startswith("mixer.") and peer.role == ROLE_RECORDER:
            await self._control.recorder_message(peer, message)
        else:
            raise CloudrecError(ErrorCode.PARAM_ERR, f"type '{kind}' is not a known message")

    @staticmethod
    def _require(peer: Peer, grant: str, room: Room) -> None:
        if peer.role == ROLE_RECORDER:
            return  # admitted by the bot key; it only answers the server
        if peer.identity is None:
            raise CloudrecError(ErrorCode.NOT_LOGIN, "join with a token first")
        peer.identity.require(grant, room.name)

    async def _mixer_call(self, peer: Peer, room: str, message: dict[str, Any]) -> None:
        kind = message["type"]
        try:
            extra: dict[str, Any] = {}
            if kind == "startSvrMixer":
                await self._control.start(room, peer.user, message)
            elif kind == "updateSvrMixerContent":
                await self._control.update(room, peer.user, message)
            elif kind == "stopSvrMixer":
                await self._control.stop(room, peer.user)
            else:
                extra = {
                    "state": int(self._control.get_state(room)),
                    "outputs": self._control.output_infos(room),
                    "stats": self._control.stats(room),
                }
            await self._reply(peer, message, **extra)
        except CloudrecError as exc:
            await peer.send({"type": "reply", "rid": message.get("rid"), **exc.to_wire()})
        except Exception:
            log.exception("%s in room %s failed", kind, room)
            await peer.send(
                {
                    "type": "reply",
                    "rid": message.get("rid"),
                    "err": int(ErrorCode.SERVER_EXCEPTION),
                    "message": f"{kind} failed on the server",
                }
            )

    @staticmethod
    async def _reply(peer: Peer, message: dict[str, Any], **data: Any) -> None:
        if message.get("rid") is not None:
            await peer.send({"type": "reply", "rid": message["rid"], "err": 0, **data})

    async def _join(self, peer: Peer, message: dict[str, Any]) -> None:
        if peer.room is not None:
            raise CloudrecError(ErrorCode.PARAM_ERR, "already joined; leave first")
        room_name = check_id(message.get("room"), "room", ROOM_ID_MAX)
        user = check_id(message.get("user"), "user", USER_ID_MAX)
        role = message.get("role", ROLE_PARTICIPANT)
        if role not in (ROLE_PARTICIPANT, ROLE_RECORDER):
            raise CloudrecError(
                ErrorCode.PARAM_ERR, f"role must be '{ROLE_PARTICIPANT}' or '{ROLE_RECORDER}'"
            )
        if role == ROLE_RECORDER:
            if not hmac.compare_digest(str(message.get("key", "")), self._config.bot_key):
                raise CloudrecError(ErrorCode.PERMISSIONDENIED, "key does not admit a recorder")
        elif self._config.dev:
            peer.identity = DEV_IDENTITY
        else:
            token = message.get("token")
            if not isinstance(token, str) or not token:
                raise CloudrecError(ErrorCode.NOT_LOGIN, "token is required to join")
            who = verify_token(self._config.api_secret, token)
            who.require("join", room_name)
            if who.user != user:
                raise CloudrecError(
                    ErrorCode.PERMISSIONDENIED, f"token is for user '{who.user}', not '{user}'"
                )
            peer.identity = who
        peer.role = role
        room = self._rooms.join(peer, room_name, user)
        if role == ROLE_RECORDER and not self._control.recorder_joined(room, peer):
            self._rooms.leave(peer)
            raise CloudrecError(ErrorCode.PARAM_ERR, f"room '{room_name}' expects no recorder")
        await self._reply(
            peer,
            message,
            room=room.name,
            user=user,
            participants=room.participants(),
            whiteboard=room.board.state(),
        )
        await room.broadcast(
            {
                "type": "presence",
                "event": "join",
                "user": peer.describe(),
                "participants": room.participants(),
            },
            exclude=peer,
        )
        self._room_changed(room)

    def _room_changed(self, room: Room) -> None:
        """Lets auto-record follow the room; apart from this connection's reader,
        since a start waits for the bot."""
        if not self._auto.applies(room.name):
            return
        live = self._rooms.get(room.name)
        task = asyncio.create_task(self._auto.room_changed(live, room.name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _leave(self, peer: Peer) -> None:
        room = self._rooms.leave(peer)
        if room is None:
            return
        if peer.role == ROLE_RECORDER:
            await self._control.recorder_left(peer, room.name)
        await room.broadcast(
            {
                "type": "presence",
                "event": "leave",
                "user": peer.describe(),
                "participants": room.participants(),
            }
        )
        self._room_changed(room)

    async def _relay(self, peer: Peer, room: Room, message: dict[str, Any]) -> None:
        target = room.peers.get(str(message.get("to", "")))
        if target is None:
            raise CloudrecError(
                ErrorCode.PARAM_ERR, f"to: no user '{message.get('to')}' in this room"
            )
        data = message.get("data")
        if not isinstance(data, dict):
            raise CloudrecError(ErrorCode.PARAM_ERR, "data must be an object")
        await target.send({"type": "signal", "from": peer.user, "data": data})
        await self._reply(peer, message)

    async def _set_tracks(self, peer: Peer, room: Room, message: dict[str, Any]) -> None:
        tracks = message.get("tracks")
        if not isinstance(tracks, list) or len(tracks) > MAX_TRACKS:
            raise CloudrecError(
                ErrorCode.PARAM_ERR, f"tracks must be a list of at most {MAX_TRACKS}"
            )
        clean: list[dict[str, Any]] = []
        for i, track in enumerate(tracks):
            if not isinstance(track, dict) or track.get("kind") not in ("audio", "video"):
                raise CloudrecError(
                    ErrorCode.PARAM_ERR, f"tracks[{i}].kind must be 'audio' or 'video'"
                )
            source = track.get("source", "camera" if track["kind"] == "video" else "mic")
            if source not in ("camera", "mic", "screen", "media"):
                raise CloudrecError(
                    ErrorCode.PARAM_ERR, f"tracks[{i}].source is not a known source"
                )
            entry: dict[str, Any] = {"kind": track["kind"], "source": source}
            if source == "camera":
                cam = track.get("camId", 0)
                if not isinstance(cam, int) or isinstance(cam, bool) or not 0 <= cam < MAX_TRACKS:
                    raise CloudrecError(
                        ErrorCode.PARAM_ERR, f"tracks[{i}].camId must be 0-{MAX_TRACKS - 1}"
                    )
                entry["camId"] = cam
                entry["camid"] = f"{peer.user}.{cam}"
            clean.append(entry)
        peer.tracks = clean
        await self._reply(peer, message)
        await room.broadcast(
            {
                "type": "presence",
                "event": "tracks",
                "user": peer.describe(),
                "participants": room.participants(),
            },
            exclude=peer,
        )
        self._room_changed(room)

    async def close(self) -> None:
        """Ends every connection; the server's shutdown would otherwise wait on them."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(
            *(
                p.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
                for p in self._peers
            ),
            return_exceptions=True,
        )
