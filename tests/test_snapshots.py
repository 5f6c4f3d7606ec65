"""Snapshot outputs: a JPEG of the composite every interval, each kept and
listed with the recording, the latest under the output's own name."""

from __future__ import annotations

from typing import Any

import aiohttp
import cv2
import numpy as np
import pytest

from cloudrec.errors import CloudrecError, ErrorCode
from signaling.server import RunningServer
from tests.helpers import (
    API_AUTH,
    CFG_360P15,
    RED,
    EventLog,
    full_canvas,
    synthetic_participant,
)
from tests.media import COLOR_TOLERANCE

CONTENT = [{"id": "1", "content": [full_canvas("alice")]}]
INTERVAL_S = 1
PICTURES = 3


def picture(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "a JPEG"
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def shows_red(image: np.ndarray) -> bool:
    middle = image[90:270, 160:480].reshape(-1, 3).mean(axis=0)
    return bool(np.all(np.abs(middle - np.array(RED[1])) <= COLOR_TOLERANCE))


async def test_a_picture_each_interval_listed_with_the_recording(server: RunningServer) -> None:
    alice = await synthetic_participant(server.base_url, "snap", "alice", RED[0], RED[2])
    log = EventLog()
    log.attach(alice)
    outputs = [
        {
            "id": "1",
            "output": [
                {"type": 0, "filename": "/snap/room.mp4"},
                {"type": 0, "filename": "/snap/room.jpg", "interval": INTERVAL_S},
            ],
        }
    ]
    try:
        await alice.start_svr_mixer(CFG_360P15, CONTENT, outputs)
        await log.wait_output("/snap/room.jpg", duration=(PICTURES * INTERVAL_S * 1000) + 500)
        await alice.stop_svr_mixer()
        await log.wait_state(0)
    finally:
        await alice.leave()

    last = [
        e.data for e in log.named("svrMixerOutputInfo") if e.data["fileName"] == "/snap/room.jpg"
    ]
    assert last[-1]["state"] == 3 and last[-1]["fileSize"] > 0
    rec = server.recordings.index.by_name("/snap/room.jpg")
    assert rec is not None and rec.container == "jpg" and rec.state == "finished"
    base = f"{server.base_url}/api/v1/recordings/{rec.id}"
    async with aiohttp.ClientSession(headers=API_AUTH) as http:
        async with http.get(base) as resp:
            listed: dict[str, Any] = await resp.json()
        names = listed["pictures"]
        assert len(names) >= PICTURES
        assert [n.rsplit("/", 1)[1] for n in names[:PICTURES]] == ["00001.jpg", "00002.jpg",
                                                                     "00003.jpg"]  # fmt: skip
        taken = []
        for name in names:
            async with http.get(f"{base}/{name}") as resp:
                assert resp.status == 200 and resp.content_type == "image/jpeg"
                taken.append(await resp.read())
        async with http.get(f"{base}/download") as resp:
            latest = await resp.read()
    assert latest == taken[-1], "the output's own name holds the latest"
    images = [picture(data) for data in taken]
    assert all(image.shape == (360, 640, 3) for image in images)
    assert all(shows_red(image) for image in images[1:]), "the composite: alice's camera"

    # Deleted, its pictures go with it.
    async with aiohttp.ClientSession(headers=API_AUTH) as http, http.delete(base) as resp:
        assert resp.status == 200
    assert not list((server.config.recordings_dir / "snap").glob(".room.jpg*"))
    assert not (server.config.recordings_dir / "snap" / "room.jpg").exists()


@pytest.mark.parametrize(
    ("output", "cfgs", "says"),
    [
        ({"filename": "/s/a.jpg", "interval": 0}, CFG_360P15, "interval must be between"),
        ({"filename": "/s/a.jpg", "maxFileSeconds": 5}, CFG_360P15, "is not split"),
        ({"filename": "/s/a.mp4", "interval": 5}, CFG_360P15, "for a snapshot output"),
        (
            {"filename": "/s/a.jpg"},
            [{"id": "1", "streamTypes": 1, "acfg": {"channelType": 1, "audioFormat": 0}}],
            "must end in one of: m4a",
        ),
    ],
)
async def test_bad_snapshot_outputs_are_refused(
    server: RunningServer, output: dict[str, Any], cfgs: list[dict[str, Any]], says: str
) -> None:
    alice = await synthetic_participant(server.base_url, "badsnap", "alice", RED[0], RED[2])
    try:
        with pytest.raises(CloudrecError, match=says) as refused:
            await alice.start_svr_mixer(cfgs, [], [{"id": "1", "output": [{"type": 0, **output}]}])
        assert refused.value.code in (ErrorCode.PARAM_ERR, ErrorCode.INVALIDFILENAME)
    finally:
        await alice.leave()
