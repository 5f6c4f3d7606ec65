from __future__ import annotations

import numpy as np
import pytest

from cloudrec.wire import Content, ContentType, KeepAspect
from compositor.compose import Compositor, VideoSource
from compositor.geometry import Placement, Rect, fit
from compositor.overlay import PLACEHOLDER_BACKGROUND

RED = (0, 0, 255)  # BGR
GREEN = (0, 255, 0)


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


def video(
    x: int, y: int, w: int, h: int, camid: str, keep: KeepAspect = KeepAspect.KEEP
) -> Content:
    return Content(ContentType.VIDEO, x, y, w, h, keep, {"camid": camid})


def solid(color: tuple[int, int, int], w: int = 320, h: int = 240) -> np.ndarray:
    return np.full((h, w, 3), color, np.uint8)


def test_letterbox_and_black_canvas() -> None:
    canvas = Compositor(640, 360).compose(
        [video(0, 0, 320, 360, "a.-1")], {"a.-1": VideoSource(solid(RED), "a")}, 0.0
    )
    assert canvas.shape == (360, 640, 3)
    assert tuple(canvas[180, 160]) == RED
    assert tuple(canvas[10, 160]) == (0, 0, 0), "letterbox bar"
    assert tuple(canvas[180, 500]) == (0, 0, 0), "uncovered canvas is black"


def test_stretch_and_crop_fill_the_rectangle() -> None:
    image = solid(RED)
    image[:, :40] = GREEN  # the left edge: cropped away in a tall rectangle
    for mode, corner in ((KeepAspect.STRETCH, GREEN), (KeepAspect.CROP, RED)):
        canvas = Compositor(640, 360).compose(
            [video(0, 0, 320, 360, "a.0", mode)], {"a.0": VideoSource(image, "a")}, 0.0
        )
        assert tuple(canvas[5, 5]) == corner, mode
        assert tuple(canvas[355, 315]) == RED, mode


def test_list_order_is_z_order() -> None:
    sources = {"a.0": VideoSource(solid(RED), "a"), "b.0": VideoSource(solid(GREEN), "b")}
    contents = [
        video(0, 0, 640, 360, "a.0", KeepAspect.STRETCH),
        video(100, 100, 100, 100, "b.0", KeepAspect.STRETCH),
    ]
    canvas = Compositor(640, 360).compose(contents, sources, 0.0)
    assert tuple(canvas[150, 150]) == GREEN
    canvas = Compositor(640, 360).compose(contents[::-1], sources, 0.0)
    assert tuple(canvas[150, 150]) == RED


def test_missing_camera_shows_a_placeholder_naming_the_user() -> None:
    comp = Compositor(640, 360)
    canvas = comp.compose([video(0, 0, 320, 360, "carol.-1")], {}, 0.0)
    bg = tuple(int(PLACEHOLDER_BACKGROUND[i : i + 2], 16) for i in (5, 3, 1))
    assert tuple(canvas[5, 5]) == bg
    assert canvas[:, :320].max() > 150, "the name is drawn"
    assert tuple(canvas[5, 400]) == (0, 0, 0)
    other = comp.compose([video(0, 0, 320, 360, "dave.-1")], {}, 0.0)
    assert not np.array_equal(canvas, other), "each placeholder names its own user"


def test_timestamp_changes_with_the_second_and_is_cached() -> None:
    comp = Compositor(640, 360)
    stamp = [Content(ContentType.TIMESTAMP, 0, 0, 175, 32, KeepAspect.KEEP, {})]
    a = comp.compose(stamp, {}, 1_000_000.0)
    b = comp.compose(stamp, {}, 1_000_000.5)
    c = comp.compose(stamp, {}, 1_000_001.0)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a[:32, :175].max() > 200 and a[40:, :].max() == 0


def test_scaled_tile_reused_while_the_input_is_unchanged() -> None:
    comp = Compositor(640, 360)
    image = solid(RED, 640, 480)  # needs scaling into the tile
    contents = [video(0, 0, 320, 360, "a.0")]
    first = comp.compose(contents, {"a.0": VideoSource(image, "a")}, 0.0)
    # The same object again is taken as the same frame: the scaled tile is reused.
    image[:] = GREEN
    second = comp.compose(contents, {"a.0": VideoSource(image, "a")}, 0.0)
    assert np.array_equal(first, second)
    third = comp.compose(contents, {"a.0": VideoSource(solid(GREEN), "a")}, 0.0)
    assert tuple(third[180, 160]) == GREEN
