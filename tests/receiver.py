"""A real webhook receiver on a loopback port, for the tests that are told things."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

# From an event to its delivery: the outbox's retries back off to 2 s by then.
DELIVERY_TIMEOUT_S = 20.0


class Receiver:
    """Answers 503 to its first ``failures`` requests, then takes each."""

    def __init__(self, failures: int = 0) -> None:
        self.taken: list[tuple[dict[str, str], str]] = []  # headers, body
        self.attempts = 0
        self._failures = failures
        self.changed = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        self.attempts += 1
        if self.attempts <= self._failures:
            self.changed.set()
            return web.Response(status=503)
        self.taken.append((dict(request.headers), await request.text()))
        self.changed.set()
        return web.Response(text="ok")

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.taken]

    def kinds(self) -> list[str]:
        return [b.get("type") or b["EventType"] for b in self.bodies()]

    async def wait(self, done: Callable[[], bool]) -> None:
        async def until() -> None:
            while not done():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(until(), DELIVERY_TIMEOUT_S)


ReceiverFactory = Callable[..., Awaitable[tuple[Receiver, str]]]
