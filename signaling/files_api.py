"""The recordings REST API and signed downloads."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web

from cloudrec.auth import check_download, sign_download
from cloudrec.config import Config
from cloudrec.errors import CloudrecError, ErrorCode
from cloudrec.storage.index import Recording
from cloudrec.storage.media_types import CONTENT_TYPES, content_type
from cloudrec.storage.objects import ObjectStore
from cloudrec.storage.paths import (
    HLS_CONTAINER,
    SNAPSHOT_CONTAINER,
    is_segment_name,
    segment_dir,
    segments,
    served_file,
)
from cloudrec.storage.posters import poster_jpeg
from signaling.bodies import json_object
from signaling.http_auth import identity
from signaling.recordings import Recordings

MAX_PAGE_SIZE = 100


def origin(request: web.Request) -> str:
    """``http://host:port`` as the caller reached us, for links it can follow."""
    return str(request.url.origin()).rstrip("/")


def download_url(config: Config, origin: str, recording_id: int) -> str:
    expires = int(time.time()) + config.download_ttl_s
    signature = sign_download(config.api_secret, recording_id, expires)
    return f"{origin}/download/{recording_id}?expires={expires}&signature={signature}"


def signed_playlist(playlist: str, recording_id: int, query: str) -> str:
    """A playlist served through a signed link names its segments by signed links
    too (the same signature: a link to a recording reaches its segments)."""
    lines = []
    for line in playlist.splitlines():
        if line and not line.startswith("#"):
            line = f"/download/{recording_id}/{line}?{query}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def _number(query: Any, name: str, kind: type, default: Any, lo: float, hi: float) -> Any:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise CloudrecError(ErrorCode.PARAM_ERR, f"{name} must be a number") from None
    if not lo <= value <= hi:
        raise CloudrecError(ErrorCode.PARAM_ERR, f"{name} must be between {lo} and {hi}")
    return value


def page_params(query: Any) -> tuple[int, int]:
    """``page`` (from 1) and ``pageSize`` of a listing."""
    return (
        _number(query, "page", int, 1, 1, 1_000_000),
        _number(query, "pageSize", int, 20, 1, MAX_PAGE_SIZE),
    )


MAX_ID = 2**63 - 1  # SQLite's INTEGER
MAX_EPOCH_S = 1e11  # the year 5138: past any expiry a person means


def _epoch(value: object, name: str) -> float | None:
    """A time in epoch seconds, or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CloudrecError(ErrorCode.PARAM_ERR, f"{name} must be epoch seconds or null")
    if not 0 <= value <= MAX_EPOCH_S:  # NaN fails this too
        raise CloudrecError(ErrorCode.PARAM_ERR, f"{name} must be between 0 and {MAX_EPOCH_S:.0f}")
    return float(value)


MAX_QUERY_TEXT_BYTES = 255


def _text(query: Any, name: str) -> str | None:
    """A text parameter as SQLite can hold it: UTF-8 (a %-escape of a lone
    surrogate decodes to one), bounded."""
    raw = query.get(name)
    if not raw:
        return None
    try:
        size = len(raw.encode("utf-8"))
    except UnicodeEncodeError:
        raise CloudrecError(ErrorCode.PARAM_ERR, f"{name} is not UTF-8") from None
    if size > MAX_QUERY_TEXT_BYTES:
        raise CloudrecError(
            ErrorCode.PARAM_ERR, f"{name} is longer than {MAX_QUERY_TEXT_BYTES} bytes"
        )
    return str(raw)


def parse_id(value: object, name: str = "id") -> int:
    try:
        recording_id = int(str(value))
    except ValueError:
        raise CloudrecError(ErrorCode.PARAM_ERR, f"{name} must be an integer") from None
    if not 0 <= recording_id <= MAX_ID:
        raise CloudrecError(ErrorCode.PARAM_ERR, f"{name} must be between 0 and {MAX_ID}")
    return recording_id


def recorded_file(config: Config, rec: Recording) -> Path:
    """The recording's file, if it is there to serve (storage/paths.py served_file)."""
    path = served_file(config.recordings_dir, Path(rec.path))
    if path is None:
        raise CloudrecError(
            ErrorCode.FILEORDIRECTORYNOTEXISTS, f"file of recording {rec.id} is gone"
        )
    return path


def file_response(config: Config, rec: Recording) -> web.FileResponse:
    """Range (206/416), ETag and conditional requests come from aiohttp."""
    return web.FileResponse(
        recorded_file(config, rec),
        headers={
            "Content-Type": content_type(rec.file_name),
            "Content-Disposition": content_disposition(rec.base_name),
        },
    )


def content_disposition(name: str) -> str:
    """RFC 6266: an ASCII fallback, and the real name in UTF-8 (RFC 5987)."""
    fallback = "".join(
        ch if ch.isascii() and ch.isprintable() and ch not in '"\\' else "_" for ch in name
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def valid_segment(rec: Recording, folder: str, name: str) -> bool:
    """Whether ``folder/name`` can be a segment of the HLS recording ``rec``,
    or one of the pictures of the snapshot output ``rec``."""
    path = Path(rec.path)
    return folder == segment_dir(path).name and is_segment_name(path, name)


def segment_file(config: Config, rec: Recording, folder: str, name: str) -> Path:
    """One segment of an HLS recording (or a picture of snapshots), found in
    that recording's own folder."""
    if valid_segment(rec, folder, name):
        found = served_file(config.recordings_dir, segment_dir(Path(rec.path)) / name)
        if found is not None:
            return found
    raise CloudrecError(ErrorCode.FILEORDIRECTORYNOTEXISTS, f"no segment '{folder}/{name}'")


async def pictures(rec: Recording, store: ObjectStore | None) -> list[str]:
    """A snapshot output's pictures, in order, each named as the segment route
    serves it (``.../recordings/{id}/{folder}/{name}``); from ``store`` if given."""
    folder = segment_dir(Path(rec.path)).name
    if store is not None:
        keys = await store.keys(store.config.key(f"{rec.directory}{folder}/"))
        names = [key.rsplit("/", 1)[-1] for key, _ in keys]
    else:
        names = [p.name for p in segments(Path(rec.path))]
    return [f"{folder}/{name}" for name in names if valid_segment(rec, folder, name)]


class FilesApi:
    """A recording in the object store is served by a redirect to a presigned
    link of the store: the store answers Range, HEAD and ETag itself, and its
    bytes do not pass through this node (the store must be reachable by whoever
    downloads; docs/deploy.md)."""

    def __init__(self, config: Config, recordings: Recordings) -> None:
        self._config = config
        self._recordings = recordings
        self._index = recordings.index
        self._store = recordings.store

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/v1/recordings", self.list),
            web.get("/api/v1/recordings/{id}", self.get),
            web.get("/api/v1/recordings/{id}/download", self.download),
            web.get("/api/v1/recordings/{id}/poster", self.poster),
            web.get("/api/v1/recordings/{id}/{folder}/{segment}", self.segment),
            web.delete("/api/v1/recordings/{id}", self.delete),
            web.patch("/api/v1/recordings/{id}", self.patch),
            web.get("/download/{id}", self.signed_download),
            web.get("/download/{id}/{folder}/{segment}", self.signed_segment),
        ]

    def _json(self, request: web.Request, rec: Recording) -> dict[str, Any]:
        return {
            **rec.to_json(),
            "downUrl": download_url(self._config, origin(request), rec.id),
        }

    def _visible(self, request: web.Request) -> Recording:
        """The recording named in the path, if the caller's grants reach it."""
        who = identity(request)
        recording_id = parse_id(request.match_info["id"])
        rec = self._index.get(recording_id)
        if rec is None:
            raise CloudrecError(ErrorCode.FILEORDIRECTORYNOTEXISTS, f"no recording {recording_id}")
        who.require("files", rec.room)
        return rec

    async def list(self, request: web.Request) -> web.Response:
        who = identity(request)
        q = request.query
        room = _text(q, "room")
        if who.room != "*":
            room = room or who.room
        who.require("files", room)
        page, size = page_params(q)
        result = self._index.query(
            room=room,
            since=_number(q, "since", float, None, 0, 1e11),
            until=_number(q, "until", float, None, 0, 1e11),
            name=_text(q, "name"),
            as_of=_number(q, "asOf", float, None, 0, 1e11),
            offset=(page - 1) * size,
            limit=size,
        )
        return web.json_response(
            {
                "recordings": [self._json(request, r) for r in result.items],
                "total": result.total,
                "page": page,
                "pageSize": size,
                "asOf": result.as_of,
            }
        )

    async def get(self, request: web.Request) -> web.Response:
        rec = self._visible(request)
        parts = [
            {"id": p.id, "part": p.part, "fileName": p.file_name} for p in self._index.parts(rec)
        ]
        answer = {**self._json(request, rec), "parts": parts}
        if rec.container == SNAPSHOT_CONTAINER:
            store = self._store if self._from_store(rec) else None
            answer["pictures"] = await pictures(rec, store)
        return web.json_response(answer)

    async def download(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(self._visible(request))

    def _from_store(self, rec: Recording) -> bool:
        """Whether the recording is served from the store: it is there, and not
        on this disk too (--keep-local keeps a copy, served from here)."""
        return (
            self._store is not None
            and bool(rec.object_key)
            and served_file(self._config.recordings_dir, Path(rec.path)) is None
        )

    async def _stored_url(self, rec: Recording, key: str = "") -> str | None:
        """A presigned link to the recording's object (or its ``key``), if it is
        served from the store."""
        if self._store is None or not self._from_store(rec):
            return None
        return await self._store.presigned_get(
            key or rec.object_key,
            self._config.download_ttl_s,
            "" if key else content_disposition(rec.base_name),
        )

    async def _serve(self, rec: Recording) -> web.StreamResponse:
        if not self._from_store(rec):
            return file_response(self._config, rec)
        if rec.container == HLS_CONTAINER:
            # Served from here: its relative segment links must reach this
            # node's segment route (and its credentials), not the bucket.
            return web.Response(
                text=await self._playlist(rec),
                content_type=CONTENT_TYPES[HLS_CONTAINER],
                headers={"Content-Disposition": content_disposition(rec.base_name)},
            )
        url = await self._stored_url(rec)
        assert url is not None
        raise web.HTTPFound(url)

    async def _playlist(self, rec: Recording) -> str:
        if self._store is not None and self._from_store(rec):
            return (await self._store.get(rec.object_key)).decode(errors="replace")
        return recorded_file(self._config, rec).read_text()

    async def _segment(self, rec: Recording, folder: str, name: str) -> web.StreamResponse:
        if self._store is not None and valid_segment(rec, folder, name):
            key = self._store.config.key(f"{rec.directory}{folder}/{name}")
            url = await self._stored_url(rec, key)
            if url is not None:
                raise web.HTTPFound(url)
        path = segment_file(self._config, rec, folder, name)
        return web.FileResponse(path, headers={"Content-Type": content_type(name)})

    async def poster(self, request: web.Request) -> web.Response:
        """A picture of a video recording (JPEG), for a list of recordings."""
        rec = self._visible(request)
        url = await self._stored_url(rec)
        source = url if url is not None else recorded_file(self._config, rec)
        # Decoding up to a second of video is not for the event loop.
        jpeg = await asyncio.to_thread(poster_jpeg, source)
        if jpeg is None:
            raise CloudrecError(
                ErrorCode.FILEORDIRECTORYNOTEXISTS, f"recording {rec.id} has no picture to show"
            )
        return web.Response(body=jpeg, content_type="image/jpeg")

    async def segment(self, request: web.Request) -> web.StreamResponse:
        """An HLS recording's segment, named as its playlist names it, so the
        playlist fetched from .../download plays with the same credentials."""
        rec = self._visible(request)
        return await self._segment(rec, request.match_info["folder"], request.match_info["segment"])

    async def delete(self, request: web.Request) -> web.Response:
        rec = self._visible(request)
        await self._recordings.delete(rec, "api")
        return web.json_response({"deleted": rec.id})

    async def patch(self, request: web.Request) -> web.Response:
        """Sets when the recording is deleted (``expiresAt``, epoch seconds; null
        goes back to the retention period)."""
        rec = self._visible(request)
        body = await json_object(request)
        if set(body) != {"expiresAt"}:
            raise CloudrecError(ErrorCode.PARAM_ERR, 'the body must be {"expiresAt": ...}')
        self._recordings.expire_at(rec, _epoch(body["expiresAt"], "expiresAt"))
        updated = self._index.get(rec.id)
        if updated is None:  # swept at once: it was due
            raise CloudrecError(ErrorCode.FILEORDIRECTORYNOTEXISTS, f"no recording {rec.id}")
        return web.json_response(self._json(request, updated))

    def _signed(self, request: web.Request) -> Recording:
        """The recording a signed link names, if its signature holds."""
        recording_id = parse_id(request.match_info["id"])
        expires = parse_id(request.query.get("expires", "0"), "expires")
        signature = request.query.get("signature", "")
        if not check_download(self._config.api_secret, recording_id, expires, signature):
            raise CloudrecError(ErrorCode.PERMISSIONDENIED, "download link is invalid or expired")
        rec = self._index.get(recording_id)
        if rec is None:
            raise CloudrecError(ErrorCode.FILEORDIRECTORYNOTEXISTS, "no such recording")
        return rec

    async def signed_download(self, request: web.Request) -> web.StreamResponse:
        rec = self._signed(request)
        if rec.container != HLS_CONTAINER:
            return await self._serve(rec)
        playlist = signed_playlist(await self._playlist(rec), rec.id, request.query_string)
        return web.Response(
            text=playlist,
            content_type=CONTENT_TYPES[HLS_CONTAINER],
            headers={"Content-Disposition": content_disposition(rec.base_name)},
        )

    async def signed_segment(self, request: web.Request) -> web.StreamResponse:
        rec = self._signed(request)
        return await self._segment(rec, request.match_info["folder"], request.match_info["segment"])
