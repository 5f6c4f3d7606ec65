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
ReplyHook = Callable[[Message], None]
REQUEST_TIMEOUT_S = 20.0
# aiohttp's own default: a participant does not know its server's limit, and
# the server sends nothing larger than that limit (64 KiB by default).
DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024


def checked(reply: Message) -> Message:
    """A reply to a request, or the CloudrecError its ``err`` names."""
    err = int(reply.get("err", 0))
    if err:
        raise CloudrecError(ErrorCode(err), str(reply.get("message", "")))
    return reply


class SignalingClient:
    """Sends requests (replies matched by ``rid``) and dispatches everything else
    to handlers registered per message ``type``."""

    def __init__(self, url: str, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> None:
        self.url = url
        self._max_bytes = max_message_bytes
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._rids = itertools.count(1)
        self._pending: dict[int, tuple[asyncio.Future[Message], ReplyHook | None]] = {}
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
            self._ws = await self._session.ws_connect(
                self.url, heartbeat=20.0, max_msg_size=self._max_bytes
            )
        except BaseException:
            await self._session.close()
            raise
        self._reader = asyncio.create_task(self._read(self._ws))

    async def send(self, message: Message) -> None:
        if self._ws is None or self._ws.closed:
            raise CloudrecError(ErrorCode.SERVER_EXCEPTION, "not connected to the signaling server")
        await self._ws.send_str(json.dumps(message))

    async def request(
        self,
        message: Message,
        timeout: float = REQUEST_TIMEOUT_S,
        on_reply: ReplyHook | None = None,
    ) -> Message:
        """Sends and waits for the reply; a non-zero ``err`` raises CloudrecError.
        ``on_reply`` sees a successful reply before any message that follows it
        is dispatched (a join's state, completed by the parts sent after it)."""
        rid = next(self._rids)
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[rid] = (future, on_reply)
        try:
            await self.send({**message, "rid": rid})
            reply = await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(rid, None)
        return checked(reply)

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
                try:
                    data = json.loads(msg.data)
                except ValueError:
                    log.error("signaling: a message that is not JSON was dropped")
                    continue
                if isinstance(data, dict):
                    self._dispatch(data)
        finally:
            for future, _ in self._pending.values():
                if not future.done():
                    future.set_exception(
                        CloudrecError(ErrorCode.SERVER_EXCEPTION, "signaling connection closed")
                    )
            self.closed.set()

    def _dispatch(self, data: Message) -> None:
        if data.get("type") == "reply":
            rid = data.get("rid")
            pending = self._pending.get(rid) if isinstance(rid, int) else None
            if pending is None or pending[0].done():
                return
            future, on_reply = pending
            if on_reply is not None and not data.get("err"):
                try:
                    on_reply(data)
                except Exception as exc:  # the caller hears of it, not the reader
                    future.set_exception(exc)
                    return
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
