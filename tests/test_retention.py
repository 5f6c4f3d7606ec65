"""Retention: recordings past their expiry (their own, or the retention
period's) are deleted, file, row and all, and the deletion is told; one still
being written is never touched."""

from __future__ import annotations

import time
from typing import Any

import aiohttp

from signaling.server import RunningServer
from tests.conftest import ServerFactory
from tests.helpers import (
    API_AUTH,
    RED,
    EventLog,
    file_output,
    full_canvas,
    record_briefly,
    synthetic_participant,
    token,
)
from tests.receiver import ReceiverFactory

CONTENT = [{"id": "1", "content": [full_canvas("alice")]}]
CFG = [{"id": "1", "cfg": {"width": 640, "height": 360, "frameRate": 15}}]
# A retention this short (0.86 s) passes while a recording is still written.
BRIEF_RETENTION_DAYS = 1e-5


async def patch(server: RunningServer, rec_id: int, body: Any, auth: dict[str, str]) -> Any:
    url = f"{server.base_url}/api/v1/recordings/{rec_id}"
    async with aiohttp.ClientSession(headers=auth) as http, http.patch(url, json=body) as r:
        return r.status, await r.json()


async def test_an_expired_recording_goes_and_a_running_one_stays(
    make_server: ServerFactory, receiver_factory: ReceiverFactory
) -> None:
    receiver, url = await receiver_factory()
    server = await make_server(webhook_url=url, retention_days=BRIEF_RETENTION_DAYS)
    alice = await synthetic_participant(server.base_url, "keep", "alice", RED[0], RED[2])
    log = EventLog()
    log.attach(alice)
    name = "/keep/running.mp4"
    try:
        await alice.start_svr_mixer(CFG, CONTENT, file_output(name))
        # Past the retention period, and past an expiry of its own, while written.
        await log.wait_output(name, duration=2000)
        rec = server.recordings.index.by_name(name)
        assert rec is not None
        status, body = await patch(server, rec.id, {"expiresAt": time.time() - 60}, API_AUTH)
        assert status == 200 and body["expiresAt"] < time.time()
        await log.wait_output(name, duration=3000)
        assert server.recordings.index.get(rec.id) is not None, "never swept while recording"
        await alice.stop_svr_mixer()
        await log.wait_state(0)
    finally:
        await alice.leave()

    # Once finished it is due, and goes at once: file, row, and a told deletion.
    await receiver.wait(lambda: "recording.deleted" in receiver.kinds())
    deleted = next(b["data"] for b in receiver.bodies() if b.get("type") == "recording.deleted")
    assert deleted["recordingId"] == rec.id and deleted["reason"] == "retention"
    assert server.recordings.index.get(rec.id) is None
    assert not (server.config.recordings_dir / "keep" / "running.mp4").exists()


async def test_a_recordings_own_expiry_wins_and_bad_ones_are_refused(
    make_server: ServerFactory, receiver_factory: ReceiverFactory
) -> None:
    receiver, url = await receiver_factory()
    server = await make_server(webhook_url=url)  # kept for ever, unless told
    await record_briefly(server.base_url, "own", "/own/a.mp4")
    await record_briefly(server.base_url, "own", "/own/b.mp4")
    a = server.recordings.index.by_name("/own/a.mp4")
    b = server.recordings.index.by_name("/own/b.mp4")
    assert a is not None and b is not None and a.expires_at is None

    bad: object
    for bad in ({"expiresAt": "tomorrow"}, {"expiresAt": -1}, {"expiresAt": 1, "x": 2}, []):
        status, body = await patch(server, a.id, bad, API_AUTH)
        assert status == 400 and body["err"] == 5, bad
    other = {"Authorization": f"Bearer {token('elsewhere', 'eve')}"}
    status, _ = await patch(server, a.id, {"expiresAt": 0}, other)
    assert status == 403, "another room's token"
    status, _ = await patch(server, 999_999, {"expiresAt": 0}, API_AUTH)
    assert status == 404

    later = time.time() + 3600
    status, body = await patch(server, b.id, {"expiresAt": later}, API_AUTH)
    assert status == 200 and body["expiresAt"] == later
    own = {"Authorization": f"Bearer {token('own', 'alice')}"}
    status, _ = await patch(server, a.id, {"expiresAt": time.time()}, own)
    assert status in (200, 404), "due now: it may be gone before the answer"
    await receiver.wait(lambda: "recording.deleted" in receiver.kinds())
    assert server.recordings.index.get(a.id) is None
    assert not (server.config.recordings_dir / "own" / "a.mp4").exists()
    kept = server.recordings.index.get(b.id)
    assert kept is not None and kept.expires_at == later
    assert (server.config.recordings_dir / "own" / "b.mp4").exists()
