"""The SDK family's netdisk endpoints (SPEC §3), so existing server integrations
work unchanged: POST /CLOUDROOM-API/netDisk/query and /delete."""

from __future__ import annotations

import math
import time
from datetime import datetime
from typing import Any

from aiohttp import web

from cloudrec.auth import same, secret_key
from cloudrec.config import Config
from cloudrec.errors import CloudrecError
from cloudrec.storage.index import Recording
from signaling.bodies import json_object
from signaling.files_api import download_url, origin, parse_id
from signaling.recordings import Recordings

RSP_OK, RSP_NO_PERMISSION, RSP_NO_ACCOUNT, RSP_BAD_SECRET, RSP_BAD_PARAM, RSP_UNKNOWN = range(6)
CTIME_FORMAT = "%Y-%m-%d %H:%M:%S"
MAX_PAGE_SIZE = 50
MAX_DIGITS = 15  # as many as a float holds exactly: epoch milliseconds for ages
MAX_SEARCH_MS = 10**14  # the year 5138


class NetdiskError(Exception):
    def __init__(self, code: int, desc: str) -> None:
        super().__init__(desc)
        self.code = code
        self.desc = desc


def _answer(
    request_id: Any, code: int, desc: str, data: dict[str, Any] | None = None
) -> web.Response:
    body: dict[str, Any] = {"RequestId": request_id, "RspCode": code, "RspDesc": desc}
    if data is not None:
        body["Data"] = data
    return web.json_response(body)


def _digits(value: str) -> bool:
    """ASCII digits alone, few enough for any field here ("²" is a digit to
    str.isdigit() and no number to int())."""
    return 0 < len(value) <= MAX_DIGITS and value.isascii() and value.isdigit()


def _int_field(body: dict[str, Any], name: str, default: int, lo: int, hi: int) -> int:
    value = body.get(name, default)
    if isinstance(value, str) and _digits(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise NetdiskError(RSP_BAD_PARAM, f"{name} must be an integer from {lo} to {hi}")
    return value


def parse_search_time(value: Any) -> float | None:
    """SearchTime: epoch milliseconds (what query answers) or 'YYYY-MM-DD HH:MM:SS'."""
    if value in (None, ""):
        return None
    ms: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        ms = float(value) if abs(value) <= MAX_SEARCH_MS else None
    elif isinstance(value, str) and _digits(value):
        ms = float(value)
    elif isinstance(value, str):
        try:
            ms = datetime.strptime(value, CTIME_FORMAT).timestamp() * 1000
        except (ValueError, OverflowError, OSError):
            ms = None
    if ms is None or not math.isfinite(ms) or not 0 <= ms <= MAX_SEARCH_MS:
        raise NetdiskError(
            RSP_BAD_PARAM, "SearchTime must be epoch milliseconds or 'YYYY-MM-DD HH:MM:SS'"
        )
    return ms / 1000


def _directory(value: Any) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or ".." in value.split("/") or "\x00" in value:
        raise NetdiskError(RSP_BAD_PARAM, "FilePath must be a directory path like /2026-11-25/")
    return "/" + value.strip("/") + "/" if value.strip("/") else "/"


class Netdisk:
    def __init__(self, config: Config, recordings: Recordings) -> None:
        self._config = config
        self._recordings = recordings
        self._index = recordings.index

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/CLOUDROOM-API/netDisk/query", self.query),
            web.post("/CLOUDROOM-API/netDisk/delete", self.delete),
        ]

    async def _body(self, request: web.Request) -> dict[str, Any]:
        try:
            return await json_object(request)
        except CloudrecError as exc:
            raise NetdiskError(RSP_BAD_PARAM, exc.message) from None

    def _authenticate(self, body: dict[str, Any]) -> None:
        if self._config.dev:
            return
        comp_id, key = body.get("CompID"), body.get("SecretKey")
        if not isinstance(comp_id, str | int) or not comp_id:
            raise NetdiskError(RSP_BAD_PARAM, "CompID is required")
        if not same(str(comp_id), self._config.api_key):
            raise NetdiskError(RSP_NO_ACCOUNT, f"no account '{comp_id}'")
        expected = secret_key(self._config.api_key, self._config.api_secret)
        if not isinstance(key, str) or not same(key.lower(), expected):
            raise NetdiskError(RSP_BAD_SECRET, "SecretKey is wrong")

    def _file(self, request: web.Request, rec: Recording) -> dict[str, Any]:
        return {
            "id": rec.id,
            "fileName": rec.base_name,
            "filePath": rec.directory,
            "fileSize": rec.size,
            "downUrl": download_url(self._config, origin(request), rec.id),
            "ctime": time.strftime(CTIME_FORMAT, time.localtime(rec.created_at)),
        }

    async def query(self, request: web.Request) -> web.Response:
        request_id: Any = None
        try:
            body = await self._body(request)
            request_id = body.get("RequestId")
            self._authenticate(body)
            page = _int_field(body, "PageNumber", 1, 1, 1_000_000)
            size = _int_field(body, "PageSize", 20, 1, MAX_PAGE_SIZE)
            directory = _directory(body.get("FilePath"))
            name = body.get("FileName") or None
            if name is not None and not isinstance(name, str):
                raise NetdiskError(RSP_BAD_PARAM, "FileName must be a string")
            as_of = parse_search_time(body.get("SearchTime"))
            result = self._index.query(
                name=name, directory=directory, as_of=as_of, offset=(page - 1) * size, limit=size
            )
            dirs = self._index.subdirectories(directory, result.as_of) if directory else []
        except NetdiskError as exc:
            return _answer(request_id, exc.code, exc.desc)
        data = {
            "fileList": [self._file(request, r) for r in result.items],
            "dirData": [{"dirName": d.rstrip("/").rsplit("/", 1)[-1], "dirPath": d} for d in dirs],
            "fileNum": result.total,
            "searchTime": int(result.as_of * 1000),
        }
        return _answer(request_id, RSP_OK, "success", data)

    async def delete(self, request: web.Request) -> web.Response:
        request_id: Any = None
        try:
            body = await self._body(request)
            request_id = body.get("RequestId")
            self._authenticate(body)
            file_id, file_name = body.get("FileID"), body.get("FileName")
            if file_id not in (None, ""):  # FileID wins over FileName
                try:
                    rec = self._index.get(parse_id(file_id, "FileID"))
                except CloudrecError as exc:
                    raise NetdiskError(RSP_BAD_PARAM, exc.message) from None
            elif isinstance(file_name, str) and file_name:
                rec = self._index.by_name("/" + file_name.lstrip("/"))
            else:
                raise NetdiskError(RSP_BAD_PARAM, "FileName or FileID is required")
            if rec is None:
                raise NetdiskError(RSP_BAD_PARAM, "no such file")
            await self._recordings.delete(rec, "netdisk")
        except NetdiskError as exc:
            return _answer(request_id, exc.code, exc.desc)
        except CloudrecError as exc:
            return _answer(request_id, RSP_NO_PERMISSION, exc.message)
        return _answer(request_id, RSP_OK, "success")
