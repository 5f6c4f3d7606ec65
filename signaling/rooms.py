"""Rooms and the peers in them, with the limits that bound both.

Every message the server sends is at most ``--max-message-bytes`` (the limit
it holds its peers to as well): what could be larger (a room's participant
list, its whiteboard) goes out in parts.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from cloudrec import jsonio
from cloudrec.auth import Identity
from cloudrec.contract import TrackMeta
from cloudrec.errors import CloudrecError, ErrorCode
from cloudrec.protocol import checked
from cloudrec.sources import SourceId
from cloudrec.whiteboard import Board
from signaling.limits import TokenBucket

log = logging.getLogger(__name__)

ROLE_PARTICIPANT = "participant"
ROLE_RECORDER = "recorder"
PEER_REQUEST_TIMEOUT_S = 20.0


@dataclass(eq=False)
class Peer:
    """One WebSocket connection, joined to at most one room."""

    ws: web.WebSocketResponse
    max_bytes: int  # the largest message either side sends
    messages: TokenBucket  # what this connection may still send now
    address: str = ""
    user: str = ""
    role: str = ROLE_PARTICIPANT
    room: Room | None = None
    tracks: tuple[TrackMeta, ...] = ()
    identity: Identity | None = None
    refused: int = 0  # messages refused by the rate limit, in a row
    _pending: dict[int, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    _rids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def send(self, message: dict[str, Any]) -> None:
        """Raises PARAM_ERR for a message over the limit, which is never sent."""
        await self.send_text(jsonio.dumps(message))

    async def send_text(self, text: str) -> None:
        size = len(text.encode())
        if size > self.max_bytes:
            raise CloudrecError(
                ErrorCode.PARAM_ERR,
                f"a message of {size} bytes for '{self.user}' is over the "
                f"{self.max_bytes}-byte limit",
            )
        if not self.ws.closed:
            await self.ws.send_str(text)

    async def request(
        self, message: dict[str, Any], timeout: float = PEER_REQUEST_TIMEOUT_S
    ) -> dict[str, Any]:
        """A server-to-peer request (server to bot); raises CloudrecError on ``err``."""
        rid = next(self._rids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        try:
            await self.send({**message, "rid": rid})
            reply = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise CloudrecError(
                ErrorCode.SERVER_EXCEPTION, f"{self.role} '{self.user}' did not answer in time"
            ) from None
        finally:
            self._pending.pop(rid, None)
        return checked(reply)

    def resolve_reply(self, message: dict[str, Any]) -> bool:
        rid = message.get("rid")
        future = self._pending.get(rid) if isinstance(rid, int) else None
        if future is None or future.done():
            return False
        future.set_result(message)
        return True

    def fail_pending(self) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(
                    CloudrecError(ErrorCode.SERVER_EXCEPTION, f"'{self.user}' disconnected")
                )

    def describe(self) -> dict[str, Any]:
        """As others see this peer; a camera carries the camid layouts name it by."""
        tracks = [t.to_wire() for t in self.tracks]
        for wire, track in zip(tracks, self.tracks, strict=True):
            if track.cam_id is not None:
                wire["camid"] = str(SourceId.camera(self.user, track.cam_id))
        return {"userID": self.user, "role": self.role, "tracks": tracks}


@dataclass(eq=False)
class Room:
    name: str
    board: Board
    peers: dict[str, Peer] = field(default_factory=dict)

    def participants(self) -> list[dict[str, Any]]:
        return [p.describe() for p in self.peers.values()]

    def participant_parts(self, limit: int) -> Iterator[list[dict[str, Any]]]:
        """The participant list in groups that each encode to at most ``limit``."""
        part: list[dict[str, Any]] = []
        used = 2
        for peer in self.peers.values():
            entry = peer.describe()
            size = jsonio.size(entry) + 1
            if part and used + size > limit:
                yield part
                part, used = [], 2
            part.append(entry)
            used += size
        yield part

    async def broadcast(
        self, message: dict[str, Any], *, exclude: Peer | None = None, role: str | None = None
    ) -> None:
        """Encoded once, whatever the number of peers."""
        text = jsonio.dumps(message)
        targets = [
            p for p in self.peers.values() if p is not exclude and (role is None or p.role == role)
        ]
        results = await asyncio.gather(
            *(p.send_text(text) for p in targets), return_exceptions=True
        )
        for peer, result in zip(targets, results, strict=True):
            if isinstance(result, CloudrecError):
                log.error("room %s: not sent to %s: %s", self.name, peer.user, result.message)


class RoomRegistry:
    def __init__(self, max_rooms: int, max_peers_per_room: int, max_message_bytes: int) -> None:
        self.rooms: dict[str, Room] = {}
        self._max_rooms = max_rooms
        self._max_peers = max_peers_per_room
        self._max_bytes = max_message_bytes

    def get(self, name: str) -> Room | None:
        return self.rooms.get(name)

    def join(self, peer: Peer, room_name: str, user: str) -> Room:
        room = self.rooms.get(room_name)
        if room is None:
            if len(self.rooms) >= self._max_rooms:
                raise CloudrecError(
                    ErrorCode.NOMORE_MCU, f"room: the server holds {self._max_rooms} rooms already"
                )
            room = Room(room_name, Board(self._max_bytes))
        if user in room.peers:
            raise CloudrecError(
                ErrorCode.PARAM_ERR, f"user '{user}' is already in room '{room_name}'"
            )
        if len(room.peers) >= self._max_peers:
            raise CloudrecError(
                ErrorCode.NOMORE_MCU, f"room '{room_name}' is full ({self._max_peers} peers)"
            )
        self.rooms[room_name] = room
        room.peers[user] = peer
        peer.room, peer.user = room, user
        return room

    def leave(self, peer: Peer) -> Room | None:
        room = peer.room
        if room is None:
            return None
        if room.peers.get(peer.user) is peer:
            del room.peers[peer.user]
        peer.room = None
        if not room.peers:
            self.rooms.pop(room.name, None)
        return room
