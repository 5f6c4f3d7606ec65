"""A client of the signaling WebSocket protocol (docs/protocol.md).

Used by the recording bot and by participants alike, so both go through the
same boundary a browser does.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from cloudrec.errors import CloudrecError, ErrorCode

log = logging.getLogger(__name__)

Message = dict[str, Any]
Handler = Callable[[Message], Awaitable[None] | None]
REQUEST_TIMEOUT_S = 20.0


class SignalingClient:
    """Sends requests (replies matched by ``rid``) and dispatches everything else
    to handlers registered per message ``type``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._rids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Message]] = {}
        self._handlers: dict[str, list[Handler]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.closed = asyncio.Event()

    def on(self, msg_type: str, handler: Handler) -> None:
        self._handlers.setdefault(msg_type, []).append(handler)

    def off(self, msg_type: str, handler: Handler) -> None:
        handlers = self._handlers.get(msg_type, [])
        if handler in handlers:
            handlers.remove(handler)

    async def connect(self) -> None:
        self._session = aiohttp.ClientSession()
        try:
            self._ws = await self._session.ws_connect(self.url, heartbeat=20.0)
        except BaseException:
            await self._session.close()
            raise
        self._reader = asyncio.create_task(self._read(self._ws))

    async def send(self, message: Message) -> None:
        if self._ws is None or self._ws.closed:
            raise CloudrecError(ErrorCode.SERVER_EXCEPTION, "not connected to the signaling server")
        await self._ws.send_str(json.dumps(message))

    async def request(self, message: Message, timeout: float = REQUEST_TIMEOUT_S) -> Message:
        """Sends and waits for the reply; a non-zero ``err`` raises CloudrecError."""
        rid = next(self._rids)
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        try:
            await self.send({**message, "rid": rid})
            reply = await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(rid, None)
        err = int(reply.get("err", 0))
        if err:
            raise CloudrecError(ErrorCode(err), str(reply.get("message", "")))
        return reply

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await self._reader
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                data = json.loads(msg.data)
                self._dispatch(data)
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(
                        CloudrecError(ErrorCode.SERVER_EXCEPTION, "signaling connection closed")
                    )
            self.closed.set()

    def _dispatch(self, data: Message) -> None:
        if data.get("type") == "reply":
            future = self._pending.get(int(data.get("rid", 0)))
            if future is not None and not future.done():
                future.set_result(data)
            return
        for handler in list(self._handlers.get(str(data.get("type")), [])):
            result = handler(data)
            if asyncio.iscoroutine(result):
                # Handlers run concurrently so a slow one (an SDP answer) never
                # stalls the reader, which must keep matching replies.
                task = asyncio.create_task(self._guard(result))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _guard(self, coro: Awaitable[None]) -> None:
        try:
            await coro
        except Exception:
            log.exception("signaling handler failed")
