"""Images for MIXVTP_PIC: registered over REST, shown by ``resourceid``."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiohttp import web

from cloudrec.errors import CloudrecError, ErrorCode
from cloudrec.wire import ContentType, MixerContents
from signaling.http_auth import identity
from signaling.http_errors import error_response
from storage.resources import MAX_BYTES, ResourceStore


def check_pictures(contents: Sequence[MixerContents], store: ResourceStore) -> None:
    for i, mixer in enumerate(contents):
        for j, content in enumerate(mixer.content):
            resource_id = content.param.get("resourceid", "")
            if content.type is ContentType.PIC and not store.exists(resource_id):
                raise CloudrecError(
                    ErrorCode.PARAM_ERR,
                    f"contents[{i}].content[{j}].param.resourceid '{resource_id}' "
                    "is not a registered image",
                )


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
        try:
            identity(request).require("record")
            if request.content_length is not None and request.content_length > MAX_BYTES:
                raise CloudrecError(ErrorCode.PARAM_ERR, f"image is larger than {MAX_BYTES} bytes")
            # Decoding a PNG or JPEG of up to 10 MB is not for the event loop.
            data = await request.read()
            resource_id, width, height = await asyncio.to_thread(self._store.add, data)
        except CloudrecError as exc:
            return error_response(exc)
        return web.json_response(
            {"resourceid": resource_id, "width": width, "height": height}, status=201
        )

    async def list(self, request: web.Request) -> web.Response:
        try:
            identity(request).require("record")
        except CloudrecError as exc:
            return error_response(exc)
        return web.json_response({"resources": self._store.list()})

    async def delete(self, request: web.Request) -> web.Response:
        try:
            identity(request).require("record")
            if not self._store.delete(request.match_info["id"]):
                raise CloudrecError(ErrorCode.FILEORDIRECTORYNOTEXISTS, "no such image")
        except CloudrecError as exc:
            return error_response(exc)
        return web.json_response({"deleted": request.match_info["id"]})
