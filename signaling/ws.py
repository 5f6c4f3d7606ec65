"""The WebSocket endpoint: one connection per peer, messages per docs/protocol.md."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from cloudrec import jsonio
from cloudrec.auth import DEV_IDENTITY, Identity, verify_token
from cloudrec.config import Config
from cloudrec.contract import parse_tracks
from cloudrec.errors import CloudrecError, ErrorCode
from cloudrec.ids import check_id, check_participant_id, recorder_user
from cloudrec.whiteboard import ENVELOPE_BYTES
from signaling.auto_record import AutoRecorder
from signaling.limits import JoinLimiter, message_bucket
from signaling.mixer_control import MixerControl
from signaling.rooms import ROLE_PARTICIPANT, ROLE_RECORDER, Peer, Room, RoomRegistry

log = logging.getLogger(__name__)

# aiohttp closes the connection past this; below it, an over-limit message gets
# an error reply and the connection lives on.
HARD_MESSAGE_CAP_FACTOR = 4
# A connection that goes on sending this many messages past its rate limit,
# each refused, is closed: it is not listening to the answers.
MAX_REFUSED_IN_A_ROW = 100
MIXER_CALLS = (
    "startSvrMixer",
    "updateSvrMixerContent",
    "getSvrMixerState",
    "stopSvrMixer",
    "pauseSvrMixer",
    "resumeSvrMixer",
)


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
        self._joins = JoinLimiter(config.max_joins_per_minute)
        control.on_drop(self.drop)

    async def drop(self, peer: Peer) -> None:
        """A peer taken for gone: it leaves its room now, as if it had left,
        and its connection is closed behind it (a peer that no longer answers
        would hold a closing handshake for seconds)."""
        await self._leave(peer)

        async def close() -> None:
            await peer.ws.close()

        task = asyncio.create_task(close())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        limit = self._config.max_message_bytes
        ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=limit * HARD_MESSAGE_CAP_FACTOR)
        await ws.prepare(request)
        bucket = message_bucket(self._config.max_messages_per_second, time.monotonic())
        peer = Peer(ws, limit, bucket, address=request.remote or "")
        self._peers.add(peer)
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                await self._on_text(peer, msg.data)
                if peer.refused > MAX_REFUSED_IN_A_ROW:
                    await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"message rate")
        finally:
            self._peers.discard(peer)
            await self._leave(peer)
        return ws

    async def _on_text(self, peer: Peer, text: str) -> None:
        rid: Any = None
        kind = "message"
        try:
            size, limit = len(text.encode("utf-8", "surrogatepass")), peer.max_bytes
            if size > limit:
                raise CloudrecError(
                    ErrorCode.PARAM_ERR,
                    f"message is {size} bytes, larger than the {limit}-byte limit",
                )
            message = jsonio.parse(text)
            if not isinstance(message, dict) or not isinstance(message.get("type"), str):
                raise CloudrecError(ErrorCode.PARAM_ERR, "message must be an object with a 'type'")
            rid = message.get("rid")
            kind = message["type"]
            if not peer.messages.take(time.monotonic()):
                peer.refused += 1
                raise CloudrecError(
                    ErrorCode.NOMORE_MCU,
                    f"more than {self._config.max_messages_per_second} messages a second "
                    "from this connection",
                )
            peer.refused = 0
            await self._on_message(peer, message)
        except CloudrecError as exc:
            await self._refuse(peer, rid, exc)
        except Exception:
            # A bug, not the peer's fault: said as such, and the connection lives on.
            log.exception("'%s' from %s failed", kind[:64], peer.user or peer.address)
            await self._refuse(
                peer,
                rid,
                CloudrecError(ErrorCode.SERVER_EXCEPTION, f"'{kind}' failed on the server"),
            )

    @staticmethod
    async def _refuse(peer: Peer, rid: Any, exc: CloudrecError) -> None:
        # A rid that is no JSON scalar is not echoed: it could be the size of a message.
        if not isinstance(rid, int | str | None) or isinstance(rid, bool):
            rid = None
        elif isinstance(rid, str):
            rid = rid[:64]
        kind = "reply" if rid is not None else "error"
        await peer.send({"type": kind, "rid": rid, **exc.to_wire()})

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
            first, *rest = room.board.parts(room.board.apply(message))
            await self._reply(peer, message, **first)
            for part in rest:
                await peer.send({"type": "wb", **part})
            for part in (first, *rest):
                await room.broadcast({"type": "wb", **part}, exclude=peer)
        elif kind == "wbState":
            state, rest = room.board.state_parts()
            await self._reply(peer, message, **state)
            for part in rest:
                await peer.send({"type": "wb", **part})
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
            elif kind == "pauseSvrMixer":
                await self._control.pause(room, peer.user)
            elif kind == "resumeSvrMixer":
                await self._control.resume(room, peer.user)
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
        room_name = check_id(message.get("room"), "room")
        role = message.get("role", ROLE_PARTICIPANT)
        if role == ROLE_RECORDER:
            key = message.get("key")
            if not isinstance(key, str) or not self._control.recorder_admitted(room_name, key):
                raise CloudrecError(ErrorCode.PERMISSIONDENIED, "key does not admit a recorder")
            user = recorder_user(room_name)
            if message.get("user") != user:
                raise CloudrecError(ErrorCode.PARAM_ERR, f"a recorder joins as '{user}'")
        elif role == ROLE_PARTICIPANT:
            user = check_participant_id(message.get("user"))
            # Counted before the token is checked: a flood costs no signature checks.
            if not self._joins.allow(peer.address, time.monotonic()):
                raise CloudrecError(
                    ErrorCode.NOMORE_MCU,
                    f"more than {self._config.max_joins_per_minute} joins a minute from "
                    "this address; try again shortly",
                )
            peer.identity = (
                DEV_IDENTITY if self._config.dev else self._identify(message, room_name, user)
            )
        else:
            raise CloudrecError(
                ErrorCode.PARAM_ERR, f"role must be '{ROLE_PARTICIPANT}' or '{ROLE_RECORDER}'"
            )
        peer.role = role
        room = self._rooms.join(peer, room_name, user)
        if role == ROLE_RECORDER and not self._control.recorder_joined(room, peer):
            self._rooms.leave(peer)
            raise CloudrecError(ErrorCode.PARAM_ERR, f"room '{room_name}' expects no recorder")
        # The participants and the board share the reply; what does not fit
        # follows it as "presence" "list" parts and whiteboard restores.
        half = (self._config.max_message_bytes - ENVELOPE_BYTES) // 2
        first, *more = room.participant_parts(half)
        board, restores = room.board.state_parts(half)
        await self._reply(
            peer,
            message,
            room=room.name,
            user=user,
            participants=first,
            whiteboard=board,
            recording=self._control.recording(room.name),
        )
        for part in more:
            await peer.send({"type": "presence", "event": "list", "participants": part})
        for restore in restores:
            await peer.send({"type": "wb", **restore})
        await room.broadcast(
            {"type": "presence", "event": "join", "user": peer.describe()}, exclude=peer
        )
        self._room_changed(room)

    def _identify(self, message: dict[str, Any], room: str, user: str) -> Identity:
        token = message.get("token")
        if not isinstance(token, str) or not token:
            raise CloudrecError(ErrorCode.NOT_LOGIN, "token is required to join")
        who = verify_token(self._config.api_secret, token)
        who.require("join", room)
        if who.user != user:
            raise CloudrecError(
                ErrorCode.PERMISSIONDENIED, f"token is for user '{who.user}', not '{user}'"
            )
        return who

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
        await room.broadcast({"type": "presence", "event": "leave", "user": peer.describe()})
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
        if target.role == ROLE_RECORDER and isinstance(data.get("sdp"), dict):
            # What an offer says it carries is checked here, once: the bot trusts it.
            tracks = parse_tracks(data.get("tracks", []), "data.tracks", with_mids=True)
            data = {**data, "tracks": [t.to_wire() for t in tracks]}
        await target.send({"type": "signal", "from": peer.user, "data": data})
        await self._reply(peer, message)

    async def _set_tracks(self, peer: Peer, room: Room, message: dict[str, Any]) -> None:
        peer.tracks = parse_tracks(message.get("tracks"), "tracks", with_mids=False)
        await self._reply(peer, message)
        await room.broadcast(
            {"type": "presence", "event": "tracks", "user": peer.describe()}, exclude=peer
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
