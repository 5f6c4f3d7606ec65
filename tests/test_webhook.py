"""RECORD_FINISH reaches a real local receiver, signed; a failing or absent
receiver never disturbs the recording."""

from __future__ import annotations

import asyncio
import hashlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from tests.conftest import ServerFactory
from tests.helpers import API_KEY, API_SECRET, record_briefly
from tests.media import decode

DELIVERY_TIMEOUT_S = 10.0


class Receiver:
    def __init__(self, failures: int = 0) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.attempts = 0
        self._failures = failures
        self.received = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        self.attempts += 1
        if self.attempts <= self._failures:
            return web.Response(status=500)
        self.bodies.append(await request.json())
        self.received.set()
        return web.Response(text="ok")


@pytest.fixture
async def receiver_factory() -> AsyncIterator[Any]:
    runners: list[web.AppRunner] = []

    async def start(failures: int = 0) -> tuple[Receiver, str]:
        receiver = Receiver(failures)
        app = web.Application()
        app.router.add_post("/hook", receiver.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        return receiver, f"http://127.0.0.1:{runner.addresses[0][1]}/hook"

    yield start
    for runner in runners:
        await runner.cleanup()


async def test_record_finish_is_delivered_and_signed(
    make_server: ServerFactory, receiver_factory: Any
) -> None:
    receiver, url = await receiver_factory()
    server = await make_server(webhook_url=url)
    await record_briefly(server.base_url, "hooked", "/2026-11-25/wh.mp4")
    await asyncio.wait_for(receiver.received.wait(), DELIVERY_TIMEOUT_S)
    (body,) = receiver.bodies
    assert body["EventType"] == "RECORD_FINISH"
    expected = hashlib.md5(f"{API_KEY}&{API_SECRET}&{body['Time']}".encode()).hexdigest()
    assert body["Signature"] == expected
    assert body["Details"] == {"RoomId": "hooked", "DirPath": "/2026-11-25/", "FileName": "wh.mp4"}


async def test_a_failing_receiver_is_retried(
    make_server: ServerFactory, receiver_factory: Any
) -> None:
    receiver, url = await receiver_factory(failures=2)
    server = await make_server(webhook_url=url)
    await record_briefly(server.base_url, "retry", "/r/retry.mp4")
    await asyncio.wait_for(receiver.received.wait(), DELIVERY_TIMEOUT_S)
    assert receiver.attempts == 3 and len(receiver.bodies) == 1


async def test_a_receiver_that_is_down_does_not_disturb_recording(
    make_server: ServerFactory,
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = await make_server(webhook_url=f"http://127.0.0.1:{port}/hook")
    await record_briefly(server.base_url, "down", "/r/down.mp4")
    rec = server.recordings.index.by_name("/r/down.mp4")
    assert rec is not None and rec.state == "finished"
    assert len(decode(server.config.recordings_dir / "r" / "down.mp4").frames) > 10
    await record_briefly(server.base_url, "down", "/r/down2.mp4")  # the server goes on
    assert server.recordings.webhook.delivered == 0
    assert server.recordings.webhook.pending == 2, "both deliveries retry in the background"
