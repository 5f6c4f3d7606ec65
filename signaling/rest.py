"""REST control of a room's mixer for server-side callers (same JSON as the wire)."""

from __future__ import annotations

from aiohttp import web

from cloudrec.errors import CloudrecError, ErrorCode
from signaling.bodies import json_object
from signaling.http_auth import identity
from signaling.mixer_control import MixerControl
from signaling.rooms import RoomRegistry

REST_OPERATOR = "api"


def _authorised(request: web.Request, grant: str) -> tuple[str, str]:
    """The room in the path and the operator to name in events, once the caller's
    grants are checked for that room."""
    room = request.match_info["room"]
    who = identity(request)
    who.require(grant, room)
    return room, REST_OPERATOR if who.user in ("api", "dev") else who.user


class RestApi:
    def __init__(self, rooms: RoomRegistry, control: MixerControl) -> None:
        self._rooms = rooms
        self._control = control

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/api/v1/rooms/{room}/mixer", self.start),
            web.put("/api/v1/rooms/{room}/mixer", self.update),
            web.get("/api/v1/rooms/{room}/mixer", self.state),
            web.delete("/api/v1/rooms/{room}/mixer", self.stop),
            web.post("/api/v1/rooms/{room}/mixer/pause", self.pause),
            web.post("/api/v1/rooms/{room}/mixer/resume", self.resume),
            web.get("/api/v1/rooms/{room}", self.room),
        ]

    async def start(self, request: web.Request) -> web.Response:
        room, operator = _authorised(request, "record")
        await self._control.start(room, operator, await json_object(request))
        return await self.state(request)

    async def update(self, request: web.Request) -> web.Response:
        room, operator = _authorised(request, "record")
        await self._control.update(room, operator, await json_object(request))
        return await self.state(request)

    async def state(self, request: web.Request) -> web.Response:
        room, _ = _authorised(request, "join")
        return web.json_response(
            {
                "state": int(self._control.get_state(room)),
                "outputs": self._control.output_infos(room),
                "stats": self._control.stats(room),
                "worker": self._control.worker(room),
            }
        )

    async def stop(self, request: web.Request) -> web.Response:
        room, operator = _authorised(request, "record")
        await self._control.stop(room, operator)
        return await self.state(request)

    async def pause(self, request: web.Request) -> web.Response:
        room, operator = _authorised(request, "record")
        await self._control.pause(room, operator)
        return await self.state(request)

    async def resume(self, request: web.Request) -> web.Response:
        room, operator = _authorised(request, "record")
        await self._control.resume(room, operator)
        return await self.state(request)

    async def room(self, request: web.Request) -> web.Response:
        name, _ = _authorised(request, "join")
        room = self._rooms.get(name)
        if room is None:
            raise CloudrecError(ErrorCode.ROOM_NOT_EXIST, f"room '{name}' does not exist")
        return web.json_response(
            {
                "room": name,
                "participants": room.participants(),
                "mixerState": int(self._control.get_state(name)),
            }
        )
