from __future__ import annotations

import numpy as np
import pytest

from cloudrec.sources import SourceId
from cloudrec.wire import Content, ContentType, KeepAspect
from compositor.compose import Compositor, VideoSource, resize
from compositor.geometry import Placement, Rect, even, fit
from compositor.planes import I420

S = SourceId.parse

RED = (0, 0, 255)  # BGR
GREEN = (0, 255, 0)
BLACK = (0, 0, 0)
# I420 keeps colour at half resolution and in limited range: a BGR round trip
# moves a flat colour by a few levels.
LEVELS = 6


@pytest.mark.parametrize(
    ("src", "rect", "mode", "expected"),
    [
        (
            (320, 240),
            Rect(0, 0, 320, 360),
            KeepAspect.STRETCH,
            Placement(Rect(0, 0, 320, 240), Rect(0, 0, 320, 360)),
        ),
        (
            (320, 240),
            Rect(0, 0, 320, 360),
            KeepAspect.KEEP,
            Placement(Rect(0, 0, 320, 240), Rect(0, 60, 320, 240)),
        ),
        (
            (640, 360),
            Rect(100, 0, 200, 200),
            KeepAspect.KEEP,
            Placement(Rect(0, 0, 640, 360), Rect(100, 44, 200, 112)),
        ),
        (
            (320, 240),
            Rect(0, 0, 320, 360),
            KeepAspect.CROP,
            Placement(Rect(53, 0, 213, 240), Rect(0, 0, 320, 360)),
        ),
        (
            (640, 360),
            Rect(0, 0, 100, 100),
            KeepAspect.CROP,
            Placement(Rect(140, 0, 360, 360), Rect(0, 0, 100, 100)),
        ),
    ],
)
def test_fit(src: tuple[int, int], rect: Rect, mode: KeepAspect, expected: Placement) -> None:
    assert fit(*src, rect, mode) == expected


def test_even_alignment_for_chroma() -> None:
    assert even(Rect(53, 7, 213, 1)) == Rect(52, 6, 212, 2)


def video(
    x: int, y: int, w: int, h: int, camid: str, keep: KeepAspect = KeepAspect.KEEP
) -> Content:
    return Content(ContentType.VIDEO, x, y, w, h, keep, {"camid": camid})


def solid(color: tuple[int, int, int], w: int = 320, h: int = 240) -> I420:
    return I420.from_bgr(np.full((h, w, 3), color, np.uint8))


def near(pixel: np.ndarray, color: tuple[int, int, int]) -> bool:
    return bool(np.all(np.abs(pixel.astype(int) - np.array(color)) <= LEVELS))


def test_letterbox_and_black_canvas() -> None:
    canvas = Compositor(640, 360).compose(
        [video(0, 0, 320, 360, "a.-1")], {S("a.-1"): VideoSource(solid(RED), "a")}, 0.0
    )
    assert (canvas.width, canvas.height, canvas.data.shape) == (640, 360, (540, 640))
    bgr = canvas.to_bgr()
    assert near(bgr[180, 160], RED)
    assert near(bgr[10, 160], BLACK), "letterbox bar"
    assert near(bgr[180, 500], BLACK), "uncovered canvas is black"


def test_stretch_and_crop_fill_the_rectangle() -> None:
    image = np.full((240, 320, 3), RED, np.uint8)
    image[:, :40] = GREEN  # the left edge: cropped away in a tall rectangle
    for mode, corner in ((KeepAspect.STRETCH, GREEN), (KeepAspect.CROP, RED)):
        canvas = Compositor(640, 360).compose(
            [video(0, 0, 320, 360, "a.0", mode)],
            {S("a.0"): VideoSource(I420.from_bgr(image), "a")},
            0.0,
        )
        bgr = canvas.to_bgr()
        assert near(bgr[5, 5], corner), mode
        assert near(bgr[355, 315], RED), mode


def test_list_order_is_z_order() -> None:
    sources = {
        S("a.0"): VideoSource(solid(RED), "a"),
        S("b.0"): VideoSource(solid(GREEN), "b"),
    }
    contents = [
        video(0, 0, 640, 360, "a.0", KeepAspect.STRETCH),
        video(100, 100, 100, 100, "b.0", KeepAspect.STRETCH),
    ]
    assert near(Compositor(640, 360).compose(contents, sources, 0.0).to_bgr()[150, 150], GREEN)
    assert near(Compositor(640, 360).compose(contents[::-1], sources, 0.0).to_bgr()[150, 150], RED)


def test_missing_camera_shows_a_placeholder_naming_the_user() -> None:
    comp = Compositor(640, 360)
    canvas = comp.compose([video(0, 0, 320, 360, "carol.-1")], {}, 0.0).to_bgr()
    assert near(canvas[5, 5], (0x20, 0x20, 0x20))
    assert canvas[:, :320].max() > 150, "the name is drawn"
    assert near(canvas[5, 400], BLACK)
    other = comp.compose([video(0, 0, 320, 360, "dave.-1")], {}, 0.0).to_bgr()
    assert not np.array_equal(canvas, other), "each placeholder names its own user"


def test_timestamp_changes_with_the_second_and_is_translucent() -> None:
    comp = Compositor(640, 360)
    stamp = [Content(ContentType.TIMESTAMP, 0, 0, 176, 32, KeepAspect.KEEP, {})]
    a = comp.compose(stamp, {}, 1_000_000.0).to_bgr()
    b = comp.compose(stamp, {}, 1_000_000.5).to_bgr()
    c = comp.compose(stamp, {}, 1_000_001.0).to_bgr()
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a[:32, :176].max() > 200 and a[40:, :].max() <= LEVELS
    under = (
        Compositor(640, 360)
        .compose(
            [video(0, 0, 640, 360, "a.0", KeepAspect.STRETCH), *stamp],
            {S("a.0"): VideoSource(solid(GREEN, 640, 360), "a")},
            0.0,
        )
        .to_bgr()
    )
    box = under[2, 170]  # inside the box, right of the text: green through #0000007D
    assert 100 < box[1] < 200 and box[2] < 40


def test_scaled_tile_reused_while_the_input_is_unchanged() -> None:
    comp = Compositor(640, 360)
    image = solid(RED, 640, 480)  # needs scaling into the tile
    contents = [video(0, 0, 320, 360, "a.0")]
    first = comp.compose(contents, {S("a.0"): VideoSource(image, "a")}, 0.0).data.copy()
    # The same object again is taken as the same frame: the scaled tile is reused.
    image.data[:] = 128
    second = comp.compose(contents, {S("a.0"): VideoSource(image, "a")}, 0.0).data
    assert np.array_equal(first, second)
    third = comp.compose(contents, {S("a.0"): VideoSource(solid(GREEN, 640, 480), "a")}, 0.0)
    assert near(third.to_bgr()[180, 160], GREEN)


@pytest.mark.parametrize(
    ("src", "dst"),
    [
        ((640, 360), (212, 118)),
        ((640, 360), (480, 270)),
        ((320, 180), (640, 360)),
        ((640, 360), (160, 90)),
    ],
)
def test_resize_keeps_the_picture(src: tuple[int, int], dst: tuple[int, int]) -> None:
    ramp = np.tile(np.linspace(16, 235, src[0]).astype(np.uint8), (src[1], 1))
    out = resize(ramp, dst)
    assert (out.shape[1], out.shape[0]) == dst
    expected = np.linspace(16, 235, dst[0])
    assert np.abs(out[dst[1] // 2].astype(float) - expected).max() < 6
