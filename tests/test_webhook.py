"""Webhooks reach a real local receiver: every lifecycle event once, in order,
signed as Standard Webhooks prescribes (checked with its reference library),
through an outbox that outlives a restart; RECORD_FINISH in the SDK's form. A
receiver that fails or is absent never disturbs a recording."""

from __future__ import annotations

import hashlib
import socket
from typing import Any

import aiohttp
from standardwebhooks.webhooks import Webhook as ReferenceWebhook

from cloudrec.auth import webhook_secret
from signaling.server import RunningServer
from tests.conftest import ServerFactory
from tests.helpers import API_AUTH, API_KEY, API_SECRET, record_briefly, token
from tests.media import decode
from tests.receiver import ReceiverFactory

# The events of one brief recording, as they happen: the state going up, the
# file opened, running, stopping, the file closed, and back to NULL.
LIFECYCLE = [
    "recording.stateChanged",
    "output.started",
    "recording.stateChanged",
    "recording.started",
    "recording.stateChanged",
    "RECORD_FINISH",
    "output.finished",
    "recording.stateChanged",
]


async def deliveries(server: RunningServer, **query: str) -> dict[str, Any]:
    url = f"{server.base_url}/api/v1/webhooks/deliveries"
    async with aiohttp.ClientSession(headers=API_AUTH) as http, http.get(url, params=query) as r:
        assert r.status == 200
        answer: dict[str, Any] = await r.json()
        return answer


async def test_record_finish_is_delivered_in_the_sdks_form(
    make_server: ServerFactory, receiver_factory: ReceiverFactory
) -> None:
    receiver, url = await receiver_factory()
    server = await make_server(webhook_url=url)
    await record_briefly(server.base_url, "hooked", "/2026-11-25/wh.mp4")
    await receiver.wait(lambda: "RECORD_FINISH" in receiver.kinds())
    (body,) = [b for b in receiver.bodies() if b.get("EventType") == "RECORD_FINISH"]
    expected = hashlib.md5(f"{API_KEY}&{API_SECRET}&{body['Time']}".encode()).hexdigest()
    assert body["Signature"] == expected
    assert body["Details"] == {"RoomId": "hooked", "DirPath": "/2026-11-25/", "FileName": "wh.mp4"}


async def test_every_event_once_in_order_signed_across_a_restart(
    make_server: ServerFactory, receiver_factory: ReceiverFactory
) -> None:
    receiver, url = await receiver_factory(failures=3)
    first = await make_server(webhook_url=url)
    await record_briefly(first.base_url, "life", "/life/one.mp4")
    await receiver.wait(lambda: receiver.attempts >= 3)
    await first.close()  # the rest waits in the outbox

    again = await make_server(webhook_url=url)
    await receiver.wait(lambda: len(receiver.taken) >= len(LIFECYCLE))
    assert receiver.kinds() == LIFECYCLE
    ids = [headers["webhook-id"] for headers, _ in receiver.taken if "webhook-id" in headers]
    assert len(set(ids)) == len(ids), "each event once"

    reference = ReferenceWebhook(webhook_secret(API_SECRET))
    for headers, body in receiver.taken:
        if "webhook-id" in headers:  # RECORD_FINISH is signed in its body, as above
            verified = reference.verify(body, headers)
            assert verified["id"] == headers["webhook-id"]
    events = [b for b in receiver.bodies() if "type" in b]
    assert {e["data"]["room"] for e in events} == {"life"}
    assert [e["data"]["state"] for e in events if e["type"] == "recording.stateChanged"] == [
        1,
        2,
        4,
        0,
    ]
    finished = next(e["data"] for e in events if e["type"] == "output.finished")
    assert finished["fileName"] == "/life/one.mp4" and finished["output"]["state"] == 3

    listed = await deliveries(again)
    assert listed["total"] == len(LIFECYCLE)
    assert {d["state"] for d in listed["deliveries"]} == {"delivered"}
    retried = [d for d in listed["deliveries"] if d["attempts"] > 1]
    assert sum(d["attempts"] - 1 for d in retried) == 3, "the three refusals were retried"


async def test_the_delivery_log_is_the_operators(
    make_server: ServerFactory, receiver_factory: ReceiverFactory
) -> None:
    receiver, url = await receiver_factory(failures=1_000)
    server = await make_server(webhook_url=url)
    await record_briefly(server.base_url, "log", "/log/one.mp4")
    await receiver.wait(lambda: receiver.attempts >= 2)
    pending = await deliveries(server, state="pending")
    assert pending["total"] >= 1
    head = pending["deliveries"][-1]  # the oldest: the one being retried
    assert head["attempts"] >= 1 and head["lastError"] == "HTTP 503"
    assert head["nextAttemptAt"] is not None
    base = f"{server.base_url}/api/v1/webhooks/deliveries"
    bearer = {"Authorization": f"Bearer {token('log', 'alice')}"}
    async with aiohttp.ClientSession(headers=bearer) as http, http.get(base) as resp:
        assert resp.status == 403, "a room's token sees no other room's events"
    lost = {"state": "lost"}
    async with aiohttp.ClientSession(headers=API_AUTH) as http, http.get(base, params=lost) as resp:
        assert resp.status == 400 and "state" in (await resp.json())["message"]


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
    assert server.recordings.webhook.pending == 2 * len(LIFECYCLE), "all kept to retry"
