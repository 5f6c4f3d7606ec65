"""The recorder asks each publisher for no more than its layouts show: the
sizes it computes, and real publishers following them during a recording."""

from __future__ import annotations

import asyncio
from typing import Any

import av
import pytest

from cloudrec.client import Participant
from cloudrec.layouts import camera as preset_camera
from cloudrec.sources import SourceId
from cloudrec.synthetic import ColorVideoTrack, ReplayVideoTrack, ToneAudioTrack, scaled_size
from cloudrec.wire import Content, ContentType, KeepAspect
from recorder.demand import MIN_ASKED_BITRATE, Shown, asked_bitrate, shown_boxes, size_requests
from recorder.tracks import TrackRegistry
from tests.helpers import (
    CFG_360P15,
    EVENT_TIMEOUT_S,
    RED,
    EventLog,
    file_output,
    participant,
)
from tests.media import decode, shows_color

S = SourceId.parse


def camera(camid: str, w: int, h: int, x: int = 0, y: int = 0) -> Content:
    return Content(ContentType.VIDEO, x, y, w, h, KeepAspect.KEEP, {"camid": camid})


def registry_with(*sources: str) -> TrackRegistry:
    registry = TrackRegistry()
    for source in sources:
        registry.add(S(source))
    return registry


# -- what the recorder asks for ---------------------------------------------------


def test_a_source_shown_twice_is_asked_for_the_larger_of_each() -> None:
    registry = registry_with("alice.0", "bob.0")
    layouts = [
        ([camera("alice.-1", 320, 180), camera("bob.0", 160, 90, 320)], 15),
        ([camera("alice.0", 200, 300)], 30),
    ]
    boxes = shown_boxes(layouts, registry.key_of)
    assert boxes == {
        S("alice.0"): Shown(320, 300, 30),
        S("bob.0"): Shown(160, 90, 15),
    }


def test_sources_not_present_or_without_area_are_not_asked_for() -> None:
    registry = registry_with("alice.0")
    timestamp = Content(ContentType.TIMESTAMP, 0, 0, 175, 32, KeepAspect.KEEP)
    layouts = [([camera("carol.-1", 320, 180), camera("alice.0", 0, 0), timestamp], 15)]
    assert shown_boxes(layouts, registry.key_of) == {}


def test_whoever_shares_is_asked_for_the_share_box() -> None:
    registry = registry_with("alice.0", "bob.screen")
    share = Content(ContentType.REMOTE_SCREEN, 0, 0, 960, 540, KeepAspect.KEEP)
    assert shown_boxes([([share], 5)], registry.key_of) == {S("bob.screen"): Shown(960, 540, 5)}


def test_a_video_is_asked_for_twice_the_guide_bitrate_of_its_box() -> None:
    assert asked_bitrate(Shown(320, 180, 15)) == 250_000  # a quarter of 640x360's 2 x 500 k
    assert asked_bitrate(Shown(640, 360, 30)) == 1_000_000
    assert asked_bitrate(Shown(1280, 720, 30)) == 2_000_000
    assert asked_bitrate(Shown(64, 36, 15)) == MIN_ASKED_BITRATE
    # Unshown: not held back, as a 1080p box.
    assert asked_bitrate(None) == asked_bitrate(Shown(1920, 1080, 30)) == 4_000_000


def test_each_publisher_hears_about_every_video_it_sends() -> None:
    boxes = {S("alice.0"): Shown(320, 180, 15)}
    videos = {
        S("alice.screen"): ("alice", "2"),
        S("alice.0"): ("alice", "0"),
        S("bob.0"): ("bob", "0"),
    }
    assert size_requests(boxes, videos) == {
        "alice": [{"mid": "0", "width": 320, "height": 180, "frameRate": 15}, {"mid": "2"}],
        "bob": [{"mid": "0"}],
    }


@pytest.mark.parametrize(
    ("size", "box", "sent"),
    [
        ((640, 360), (320, 180), (320, 180)),
        ((640, 480), (320, 180), (320, 240)),  # covers the box at the camera's aspect
        ((640, 360), (1280, 720), (640, 360)),  # never scaled up
        ((640, 360), None, (640, 360)),
        ((1280, 720), (426, 240), (426, 240)),
        ((640, 360), (213, 120), (214, 120)),  # even pixels
    ],
)
def test_a_publisher_sends_the_smallest_size_covering_its_box(
    size: tuple[int, int], box: tuple[int, int] | None, sent: tuple[int, int]
) -> None:

    assert scaled_size(*size, box) == sent


async def test_a_replayed_camera_switches_to_a_smaller_loop_at_a_keyframe() -> None:
    track = ReplayVideoTrack("#FF0000", 640, 360, 15)
    first = await track.recv()
    await track.fit((320, 180))
    decoder = av.CodecContext.create("vp8", "r")
    switched = await track.recv()
    (frame,) = decoder.decode(switched)
    assert (frame.width, frame.height) == (320, 180)
    assert first.pts is not None
    assert switched.pts == first.pts + 6000  # the clock runs on across the switch
    track.stop()


# -- real publishers following a recording's layouts --------------------------------


class WatchedCamera(ColorVideoTrack):
    """A camera that notes the size of the frames it sends."""

    def __init__(self, color: str, width: int, height: int, fps: int) -> None:
        super().__init__(color, width, height, fps)
        self.size = (width, height)
        self._sent = asyncio.Condition()

    async def recv(self) -> av.VideoFrame:
        frame = await super().recv()
        async with self._sent:
            self.size = (frame.width, frame.height)
            self._sent.notify_all()
        return frame

    async def sends(self, size: tuple[int, int]) -> None:
        async with self._sent:
            await asyncio.wait_for(self._sent.wait_for(lambda: self.size == size), EVENT_TIMEOUT_S)


# aiortc's VP8 encoder starts at 500 kb/s and takes what a REMB says within
# 250 kb/s to 1.5 Mb/s.
VP8_MAX_BITRATE = 1_500_000
POLL_S = 0.01


async def encodes_at(publisher: Participant, bitrate: int) -> None:
    """Until the publisher's camera encoder targets ``bitrate`` (aiortc's
    encoder has no event for it: polled, bounded by EVENT_TIMEOUT_S)."""

    def target() -> int | None:
        for pc in publisher._pcs.values():
            for sender in pc.getSenders():
                encoder = getattr(sender, "_RTCRtpSender__encoder", None)
                if sender.kind == "video" and encoder is not None:
                    return int(encoder.target_bitrate)
        return None

    async def poll() -> None:
        while target() != bitrate:
            await asyncio.sleep(POLL_S)

    await asyncio.wait_for(poll(), EVENT_TIMEOUT_S)


def layout(*content: dict[str, Any]) -> list[dict[str, Any]]:
    timestamp = {"type": 4, "left": 0, "top": 0, "width": 175, "height": 32}
    return [{"id": "1", "content": [timestamp, *content]}]


async def test_a_camera_is_sent_at_the_size_the_layout_shows(server) -> None:  # type: ignore[no-untyped-def]
    alice = participant(server.base_url, "sized", "alice")
    await alice.join()
    camera_track = WatchedCamera(RED[0], 640, 360, 15)
    await alice.publish(video=camera_track, audio=ToneAudioTrack(RED[2]))
    log = EventLog()
    log.attach(alice)
    try:
        await alice.start_svr_mixer(
            CFG_360P15, layout(preset_camera("alice", 0, 0, 320, 180)), file_output("/sized/a.mp4")
        )
        await camera_track.sends((320, 180))
        # The bitrate goes with the box (REMB): from aiortc's default to the tile's.
        await encodes_at(alice, asked_bitrate(Shown(320, 180, 15)))
        await alice.update_svr_mixer_content(layout())  # not shown: sent as it is
        await camera_track.sends((640, 360))
        await encodes_at(alice, min(asked_bitrate(None), VP8_MAX_BITRATE))
        await alice.update_svr_mixer_content(layout(preset_camera("alice", 160, 90, 320, 180)))
        await camera_track.sends((320, 180))
        await encodes_at(alice, asked_bitrate(Shown(320, 180, 15)))
        recorded = max(e.data["duration"] for e in log.named("svrMixerOutputInfo"))
        await log.wait_duration(recorded + 2000)  # with the smaller picture
        await alice.stop_svr_mixer()
        await log.wait_state(0)
    finally:
        await alice.leave()
    (rec,) = server.recordings.index.all()
    media = decode(rec.path)
    # The smaller picture is what the recording shows, where the layout puts it.
    assert shows_color(media.frame_at(media.duration - 0.3), (200, 130, 240, 100), RED[1])
