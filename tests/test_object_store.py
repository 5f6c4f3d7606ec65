"""Recordings kept in a real S3-compatible store (moto's server, over HTTP,
through our real client): uploads, retries, downloads, and what a lost
worker leaves behind."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from cloudrec.storage.index import RecordingIndex
from cloudrec.storage.objects import ObjectStore, StoreConfig
from cloudrec.storage.uploading import SWEEP_AFTER_S, UploadCounters, pending_marker, sweep
from cloudrec.wire import OutputState
from tests.cluster import needs_redis, running_redis, workers
from tests.conftest import ServerFactory
from tests.helpers import (
    API_AUTH,
    CFG_360P15,
    RED,
    EventLog,
    add_row,
    file_output,
    side_by_side,
    synthetic_participant,
    write_media_file,
)
from tests.media import decode
from tests.objectstore import CREDENTIALS, FailingProxy, moto_server, needs_moto

pytestmark = [needs_moto, pytest.mark.timeout(180)]

BUCKET = "recordings"
PREFIX = "rec/"
# What a worker lost for good takes of its part: the piece not yet sent (2 s,
# recorder/uploads.py), the fragment being written (0.5 s), and the upload;
# the output info it is measured against is up to a second old.
STORE_LOSS_S = 3.5


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)


def _store_options(endpoint: str) -> dict[str, Any]:
    return {"s3_endpoint": endpoint, "s3_bucket": BUCKET, "s3_prefix": PREFIX}


async def _get(url: str, **headers: str) -> tuple[int, bytes, str]:
    """Follows the redirect to the store, as a browser or curl -L would."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(url, headers={**API_AUTH, **headers}) as resp,
    ):
        return resp.status, await resp.read(), str(resp.url)


async def _api(method: str, url: str) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession(headers=API_AUTH) as http,
        http.request(method, url) as resp,
    ):
        text = await resp.text()
        return resp.status, json.loads(text) if resp.content_type.endswith("json") else text


async def _record(base_url: str, room: str, name: str, ms: int) -> EventLog:
    alice = await synthetic_participant(base_url, room, "alice", RED[0], RED[2])
    log = EventLog()
    log.attach(alice)
    try:
        await alice.start_svr_mixer(CFG_360P15, side_by_side("alice", "bob"), file_output(name))
        await log.wait_output(name, duration=ms)
        await alice.stop_svr_mixer()
        await log.wait_output(name, state=int(OutputState.UPLOADSUCCESS))
    finally:
        await alice.leave()
    return log


def _states(log: EventLog, name: str) -> list[int]:
    seen: list[int] = []
    for e in log.named("svrMixerOutputInfo"):
        if e.data["fileName"] == name and (not seen or seen[-1] != e.data["state"]):
            seen.append(e.data["state"])
    return seen


async def test_a_recording_goes_up_and_downloads_from_the_store_honour_range(
    tmp_path: Path, make_server: ServerFactory
) -> None:
    async with moto_server() as endpoint:
        server = await make_server(**_store_options(endpoint))
        log = await _record(server.base_url, "up", "/s/up.mp4", 1500)
        assert _states(log, "/s/up.mp4")[-3:] == [
            int(OutputState.CLOSED),
            int(OutputState.UPLOADING),
            int(OutputState.UPLOADSUCCESS),
        ]
        assert not (server.config.recordings_dir / "s" / "up.mp4").exists()  # gone up
        rec = server.recordings.index.by_name("/s/up.mp4")
        assert rec is not None and rec.object_key == "rec/s/up.mp4"

        base = f"{server.base_url}/api/v1/recordings/{rec.id}"
        status, whole, where = await _get(base + "/download")
        assert status == 200 and where.startswith(endpoint)  # served by the store
        assert len(whole) == rec.size
        status, head, _ = await _get(base + "/download", Range="bytes=0-99")
        assert status == 206 and head == whole[:100]
        status, tail, _ = await _get(base + "/download", Range=f"bytes={len(whole) - 10}-")
        assert status == 206 and tail == whole[-10:]
        (tmp_path / "back.mp4").write_bytes(whole)
        assert decode(tmp_path / "back.mp4").duration >= 1.4
        # The signed link and the poster reach it too.
        down_url = (await _api("GET", base))[1]["downUrl"]
        assert (await _get(down_url))[1] == whole
        status, jpeg, _ = await _get(base + "/poster")
        assert status == 200 and jpeg[:2] == b"\xff\xd8"
        # Deleting the recording deletes its object.
        assert (await _api("DELETE", base))[0] == 200
        store = ObjectStore(StoreConfig(endpoint, BUCKET, PREFIX))
        await store.open()
        try:
            assert await store.size("rec/s/up.mp4") is None
        finally:
            await store.close()


async def test_failed_uploads_are_retried_and_nothing_is_lost(
    tmp_path: Path, make_server: ServerFactory
) -> None:
    async with moto_server() as endpoint:
        proxy = FailingProxy(endpoint)
        await proxy.start()
        try:
            # The store refuses the file itself twice (its pieces go through).
            proxy.fails = lambda method, path: (
                method == "PUT" and path == f"/{BUCKET}/rec/s/retry.mp4" and proxy.failed < 2
            )
            # --keep-local: the file stays on disk too, and is served from there.
            server = await make_server(**_store_options(proxy.url), keep_local=True)
            log = await _record(server.base_url, "retry", "/s/retry.mp4", 1500)
        finally:
            await proxy.close()
        assert proxy.failed == 2
        assert _states(log, "/s/retry.mp4")[-3:] == [3, 5, 6]
        metrics = (await _api("GET", f"{server.base_url}/metrics"))[1]
        assert "cloudrec_upload_retries_total 2.0" in metrics
        assert "cloudrec_upload_failures_total 0.0" in metrics
        rec = server.recordings.index.by_name("/s/retry.mp4")
        assert rec is not None and rec.object_key
        local = server.config.recordings_dir / "s" / "retry.mp4"
        assert local.stat().st_size == rec.size
        status, body, where = await _get(f"{server.base_url}/api/v1/recordings/{rec.id}/download")
        assert status == 200 and where.startswith(server.base_url) and body == local.read_bytes()
        store = ObjectStore(StoreConfig(endpoint, BUCKET, PREFIX))
        await store.open()
        try:
            assert await store.size(rec.object_key) == rec.size
            assert await store.pieces("/s/retry.mp4") == []  # tidied once whole
        finally:
            await store.close()


async def test_a_file_that_did_not_go_up_is_sent_by_the_sweep(tmp_path: Path) -> None:
    recordings = tmp_path / "recordings"
    path = recordings / "d" / "late.mp4"
    path.parent.mkdir(parents=True)
    write_media_file(path)
    pending_marker(path).touch()
    size = path.stat().st_size
    fresh = recordings / "d" / "sending.mp4"  # marked a moment ago: its sender still tries
    write_media_file(fresh)
    pending_marker(fresh).touch()
    old = time.time() - SWEEP_AFTER_S - 1
    os.utime(pending_marker(path), (old, old))
    async with moto_server() as endpoint:
        store = ObjectStore(StoreConfig(endpoint, BUCKET, PREFIX))
        await store.open()
        try:
            await store.ensure_bucket()
            counters = UploadCounters()
            assert await sweep(store, recordings, False, counters) == 1
            assert await store.size("rec/d/late.mp4") == size == counters.bytes
            assert not path.exists() and not pending_marker(path).exists()
            assert await sweep(store, recordings, False, counters) == 0
            assert fresh.exists() and await store.size("rec/d/sending.mp4") is None
        finally:
            await store.close()


async def test_a_missing_bucket_is_made_and_an_unreachable_store_stops_start_up(
    tmp_path: Path, make_server: ServerFactory
) -> None:
    from cloudrec.config import ConfigError

    with pytest.raises(ConfigError) as refused:
        await make_server(**_store_options("http://127.0.0.1:9"))
    assert f"bucket {BUCKET} at http://127.0.0.1:9 cannot be reached" in str(refused.value)
    async with moto_server() as endpoint:
        await make_server(**{**_store_options(endpoint), "s3_bucket": "made-at-start"})
        store = ObjectStore(StoreConfig(endpoint, "made-at-start"))
        await store.open()
        try:
            assert await store.keys("") == []  # it exists, empty
        finally:
            await store.close()


@needs_redis
async def test_a_killed_worker_whose_disk_is_gone_leaves_its_part_in_the_store(
    tmp_path: Path, make_server: ServerFactory
) -> None:
    async with moto_server() as endpoint, running_redis(tmp_path) as redis:
        # Each machine its own disk: the control node's, and each worker's.
        disks = {name: tmp_path / name for name in ("control", "w1", "w2")}
        options = _store_options(endpoint)
        async with workers(redis.url, disks, {"w1": 2.0, "w2": 2.0}, store=options) as started:
            server = await make_server(redis=redis.url, data_dir=disks["control"], **options)
            alice = await synthetic_participant(server.base_url, "gone", "alice", RED[0], RED[2])
            log = EventLog()
            log.attach(alice)
            try:
                await alice.start_svr_mixer(
                    CFG_360P15, side_by_side("alice", "bob"), file_output("/g/gone.mp4")
                )
                mixer = await _api("GET", f"{server.base_url}/api/v1/rooms/gone/mixer")
                first = mixer[1]["worker"]
                reached = await log.wait_output("/g/gone.mp4", duration=3000)
                started[first].signal(signal.SIGKILL)
                shutil.rmtree(disks[first])  # the machine, and its disk, gone for good
                await log.wait_for(
                    lambda e: e.name == "svrMixerStateChanged" and e.data.get("part") == 2, 10.0
                )
                await log.wait_output("/g/gone.part2.mp4", duration=1000)
                await alice.stop_svr_mixer()
                await log.wait_output("/g/gone.part2.mp4", state=int(OutputState.UPLOADSUCCESS))
            finally:
                await alice.leave()

        index = server.recordings.index
        part1, part2 = index.by_name("/g/gone.mp4"), index.by_name("/g/gone.part2.mp4")
        assert part1 is not None and part2 is not None
        assert part1.state == "interrupted" and part1.object_key and part2.object_key
        for rec in (part1, part2):
            status, body, _ = await _get(f"{server.base_url}/api/v1/recordings/{rec.id}/download")
            assert status == 200
            (tmp_path / f"part{rec.part}.mp4").write_bytes(body)
        recorded_s = reached.data["duration"] / 1000
        kept = decode(tmp_path / "part1.mp4").duration
        assert recorded_s - STORE_LOSS_S <= kept, (recorded_s, kept)
        assert decode(tmp_path / "part2.mp4").duration >= 0.9


async def test_hls_segments_go_up_as_they_close_and_play_from_the_store(
    tmp_path: Path, make_server: ServerFactory
) -> None:
    async with moto_server() as endpoint:
        server = await make_server(**_store_options(endpoint))
        store = ObjectStore(StoreConfig(endpoint, BUCKET, PREFIX))
        await store.open()
        alice = await synthetic_participant(server.base_url, "hls", "alice", RED[0], RED[2])
        log = EventLog()
        log.attach(alice)
        name = "/h/show.m3u8"
        try:
            await alice.start_svr_mixer(
                CFG_360P15,
                side_by_side("alice", "bob"),
                [{"id": "1", "output": [{"type": 0, "filename": name}]}],
            )
            await log.wait_output(name, duration=5000)
            # While it records: the closed segments, then the playlist naming them.
            segments = await store.keys("rec/h/.show.m3u8.segments/")
            assert segments, "no segment went up while recording"
            listed = (await store.get("rec/h/show.m3u8")).decode()
            assert all(key.rsplit("/", 1)[1] in listed for key, _ in segments)
            await alice.stop_svr_mixer()
            await log.wait_output(name, state=int(OutputState.UPLOADSUCCESS))
            final = (await store.get("rec/h/show.m3u8")).decode()
            assert "#EXT-X-ENDLIST" in final
        finally:
            await alice.leave()
            await store.close()
        assert not (server.config.recordings_dir / "h" / "show.m3u8").exists()
        rec = server.recordings.index.by_name(name)
        assert rec is not None and rec.object_key
        down_url = (await _api("GET", f"{server.base_url}/api/v1/recordings/{rec.id}"))[1][
            "downUrl"
        ]
        # FFmpeg follows the playlist's signed segment links to the store (in
        # a thread: this test's loop serves the playlist and the redirects).
        assert (await asyncio.to_thread(decode, down_url)).duration >= 4.5


async def test_start_up_joins_the_pieces_of_a_file_whose_disk_is_gone(
    tmp_path: Path, make_server: ServerFactory
) -> None:
    media = tmp_path / "made.mp4"
    write_media_file(media)
    data = media.read_bytes()
    index = RecordingIndex(tmp_path / "data" / "recordings.sqlite3")
    gone = tmp_path / "data" / "recordings" / "p" / "lost.mp4"  # never on this disk
    row = add_row(index, "r", "/p/lost.mp4", gone)
    index.close()
    async with moto_server() as endpoint:
        config = StoreConfig(endpoint, BUCKET, PREFIX)
        store = ObjectStore(config)
        await store.open()
        try:
            await store.ensure_bucket()
            third = len(data) // 3
            for seq, piece in enumerate((data[:third], data[third : 2 * third], data[2 * third :])):
                await store.put(config.piece_key("/p/lost.mp4", seq + 1), piece)
            server = await make_server(data_dir=tmp_path / "data", **_store_options(endpoint))
            rec = server.recordings.index.get(row)
            assert rec is not None and rec.state == "interrupted"
            assert rec.object_key == "rec/p/lost.mp4" and rec.size == len(data)
            assert await store.pieces("/p/lost.mp4") == []
            (tmp_path / "joined.mp4").write_bytes(await store.get(rec.object_key))
        finally:
            await store.close()
    assert decode(tmp_path / "joined.mp4").duration >= 3.9


async def test_a_file_another_node_sent_up_is_tied_to_its_row(
    tmp_path: Path, make_server: ServerFactory
) -> None:
    async with moto_server() as endpoint:
        server = await make_server(**_store_options(endpoint))
        index = server.recordings.index
        gone = server.config.recordings_dir / "w" / "sent.mp4"  # on a worker's disk, not here
        row = add_row(index, "r", "/w/sent.mp4", gone, state="finished")
        store = ObjectStore(StoreConfig(endpoint, BUCKET, PREFIX))
        await store.open()
        try:
            await server.recordings.sweep()
            unsent = index.get(row)
            assert unsent is not None and unsent.object_key == ""  # nothing there yet
            await store.put("rec/w/sent.mp4", b"x" * 10)
            await server.recordings.sweep()
        finally:
            await store.close()
        rec = index.get(row)
        assert rec is not None and rec.object_key == "rec/w/sent.mp4"
