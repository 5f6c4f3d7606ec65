"""MIXVTP_PIC: images registered over REST, shown by resourceid, alpha blended."""

from __future__ import annotations

import io

import aiohttp
import pytest
from PIL import Image, ImageDraw

from cloudrec.errors import CloudrecError
from signaling.server import RunningServer
from tests.helpers import (
    API_AUTH,
    BLUE,
    file_output,
    full_canvas,
    participant,
    record_for,
    synthetic_participant,
)
from tests.media import decode, shows_color
from tests.openapi_check import validate

PIC_RECT = (160, 60, 320, 240)


def red_disc_png() -> bytes:
    """A red disc on a fully transparent square."""
    image = Image.new("RGBA", (200, 200), (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse((40, 40, 160, 160), fill=(255, 0, 0, 255))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


async def _register(server: RunningServer, data: bytes) -> tuple[int, dict]:  # type: ignore[type-arg]
    async with (
        aiohttp.ClientSession(headers=API_AUTH) as http,
        http.post(
            f"{server.base_url}/api/v1/resources", data=data, headers={"Content-Type": "image/png"}
        ) as resp,
    ):
        return resp.status, await resp.json()


async def test_picture_with_alpha_over_a_camera(server: RunningServer) -> None:
    status, body = await _register(server, red_disc_png())
    assert status == 201
    validate("Resource", body)
    assert (await _register(server, red_disc_png()))[1]["resourceid"] == body["resourceid"]
    bob = await synthetic_participant(server.base_url, "pic", "bob", BLUE[0], BLUE[2])
    x, y, w, h = PIC_RECT
    contents = [
        {
            "id": "1",
            "content": [
                full_canvas("bob"),
                {
                    "type": 1,
                    "left": x,
                    "top": y,
                    "width": w,
                    "height": h,
                    "keepAspectRatio": 1,
                    "param": {"resourceid": body["resourceid"]},
                },
            ],
        }
    ]
    cfgs = [{"id": "1", "cfg": {"width": 640, "height": 360, "frameRate": 15}}]
    await record_for(bob, cfgs, contents, file_output("/p/p.mp4"), 2500)
    frame = decode(server.config.recordings_dir / "p" / "p.mp4").frame_at(2.0)
    # The picture is fitted into 320x240 as a 240x240 square centred at (320, 180).
    assert shows_color(frame, (290, 150, 60, 60), (255, 0, 0)), "the disc"
    assert shows_color(frame, (206, 66, 30, 30), BLUE[1]), "the camera through transparency"


async def test_unknown_and_bad_images_are_refused(server: RunningServer) -> None:
    status, body = await _register(server, b"not an image")
    assert status == 400 and body["err"] == 5
    cfgs = [{"id": "1", "cfg": {"width": 640, "height": 360}}]
    contents = [
        {
            "id": "1",
            "content": [
                {
                    "type": 1,
                    "left": 0,
                    "top": 0,
                    "width": 100,
                    "height": 100,
                    "param": {"resourceid": "0" * 16},
                }
            ],
        }
    ]
    async with participant(server.base_url, "pic2", "alice") as alice:
        with pytest.raises(CloudrecError) as caught:
            await alice.start_svr_mixer(
                cfgs, contents, [{"id": "1", "output": [{"type": 0, "filename": "/p/x.mp4"}]}]
            )
    assert int(caught.value.code) == 5
    assert "contents[0].content[0].param.resourceid" in caught.value.message
