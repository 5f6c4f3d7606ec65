"""Images for MIXVTP_PIC: registered over REST, shown by ``resourceid``.

An image belongs to a room, as recordings do: a token reaches its own room's
images alone. The API key (or a token for every room) also manages the shared
images every room may show, and names a room with ``?room=`` to reach its.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiohttp import web

from cloudrec.auth import ALL_ROOMS, Identity
from cloudrec.errors import CloudrecError, ErrorCode
from cloudrec.ids import check_id
from cloudrec.storage.resources import MAX_BYTES, SHARED, ResourceStore
from cloudrec.wire import ContentType, MixerContents
from signaling.http_auth import identity

READ_CHUNK = 64 * 1024


def check_pictures(contents: Sequence[MixerContents], store: ResourceStore, room: str) -> None:
    for i, mixer in enumerate(contents):
        for j, content in enumerate(mixer.content):
            resource_id = content.param.get("resourceid", "")
            if content.type is ContentType.PIC and not store.exists(resource_id, room):
                raise CloudrecError(
                    ErrorCode.PARAM_ERR,
                    f"contents[{i}].content[{j}].param.resourceid '{resource_id}' "
                    f"is not an image registered for room '{room}'",
                )


def _owner(request: web.Request, who: Identity) -> str | None:
    """The room whose images the call reaches (SHARED: the operator's own)."""
    raw = request.query.get("room")
    room = check_id(raw, "room") if raw is not None else None
    if who.room != ALL_ROOMS:
        room = room or who.room
    who.require("record", room)
    return room


async def _read_image(request: web.Request) -> bytes:
    """The body, up to MAX_BYTES: larger than the app's cap on other bodies."""
    if request.content_length is not None and request.content_length > MAX_BYTES:
        raise CloudrecError(ErrorCode.PARAM_ERR, f"image is larger than {MAX_BYTES} bytes")
    data = bytearray()
    while chunk := await request.content.read(READ_CHUNK):
        data += chunk
        if len(data) > MAX_BYTES:
            raise CloudrecError(ErrorCode.PARAM_ERR, f"image is larger than {MAX_BYTES} bytes")
    return bytes(data)


class ResourcesApi:
    def __init__(self, store: ResourceStore) -> None:
        self._store = store

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/api/v1/resources", self.add),
            web.get("/api/v1/resources", self.list),
            web.delete("/api/v1/resources/{id}", self.delete),
        ]

    async def add(self, request: web.Request) -> web.Response:
        room = _owner(request, identity(request))
        data = await _read_image(request)
        # Decoding a PNG or JPEG of up to 10 MB is not for the event loop.
        resource_id, width, height = await asyncio.to_thread(self._store.add, data, room)
        return web.json_response(
            {"resourceid": resource_id, "room": room, "width": width, "height": height},
            status=201,
        )

    async def list(self, request: web.Request) -> web.Response:
        who = identity(request)
        room = _owner(request, who)
        every_room = who.room == ALL_ROOMS and room is SHARED
        found = await asyncio.to_thread(self._store.list, room, every_room)
        return web.json_response({"resources": found})

    async def delete(self, request: web.Request) -> web.Response:
        room = _owner(request, identity(request))
        if not self._store.delete(request.match_info["id"], room):
            raise CloudrecError(ErrorCode.FILEORDIRECTORYNOTEXISTS, "no such image")
        return web.json_response({"deleted": request.match_info["id"]})
