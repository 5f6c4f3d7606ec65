"""Pre-rendered translucent overlays (text, placeholders) blended onto a canvas.

Rendering text is slow compared with blending it, so an overlay is rendered once
per distinct content, converted to premultiplied I420 planes, and kept; each
frame only blends.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from compositor.planes import I420
from compositor.text import Run, measure, render

PLACEHOLDER_BACKGROUND = "#202020"
PLACEHOLDER_TEXT = "#D0D0D0"


@dataclass(frozen=True)
class Plane:
    """One plane of an overlay: ``premul`` = value x alpha, ``inv`` = 1 - alpha."""

    premul: np.ndarray  # float32
    inv: np.ndarray  # float32

    def blend(self, target: np.ndarray, x: int, y: int) -> None:
        h = min(self.inv.shape[0], target.shape[0] - y)
        w = min(self.inv.shape[1], target.shape[1] - x)
        if h <= 0 or w <= 0:
            return
        roi = target[y : y + h, x : x + w]
        roi[...] = (roi * self.inv[:h, :w] + self.premul[:h, :w]).astype(np.uint8)


@dataclass(frozen=True)
class Overlay:
    y: Plane
    u: Plane
    v: Plane

    def blend_onto(self, canvas: I420, x: int, y: int) -> None:
        """``x`` and ``y`` are luma pixels; odd ones are taken down to even."""
        x, y = x & ~1, y & ~1
        self.y.blend(canvas.y, x, y)
        self.u.blend(canvas.u, x // 2, y // 2)
        self.v.blend(canvas.v, x // 2, y // 2)


def from_bgra(bgr: np.ndarray, alpha: np.ndarray) -> Overlay:
    """Straight (not premultiplied) BGR and alpha in 0..1 -> premultiplied I420
    planes. Chroma and its alpha are averaged over 2x2 blocks, premultiplied, so
    edges keep their colour."""
    h, w = alpha.shape[0] // 2 * 2, alpha.shape[1] // 2 * 2
    yuv = I420.from_bgr(bgr[:h, :w])
    a = alpha[:h, :w].astype(np.float32)
    a2 = cv2.resize(a, (w // 2, h // 2), interpolation=cv2.INTER_AREA)

    def plane(values: np.ndarray, weight: np.ndarray) -> Plane:
        return Plane(values.astype(np.float32) * weight, 1.0 - weight)

    return Overlay(plane(yuv.y, a), plane(yuv.u, a2), plane(yuv.v, a2))


def render_text_box(
    text: str,
    width: int,
    height: int,
    *,
    color: str,
    background: str,
    font_px: int,
    margin: int,
    font: Path | None,
) -> Overlay:
    """One line, left-aligned on a filled (possibly translucent) box, its size
    reduced to fit the box's width where it would overflow."""
    font_px = fitting_size(text, font_px, max(1, width - 2 * margin), font)
    bgr, alpha = render(
        [[Run(text, color, font_px)]],
        width,
        height,
        background=background,
        margin=margin,
        font=font,
    )
    return from_bgra(bgr, alpha)


def fitting_size(text: str, font_px: int, room: int, font: Path | None) -> int:
    """The font size, reduced where one line of ``text`` would be wider than ``room``."""
    text_w, _ = measure([[Run(text, "#FFFFFF", font_px)]], font)
    return max(6, font_px * room // text_w) if text_w > room else font_px


def render_markup(
    lines: list[list[Run]],
    width: int,
    height: int,
    *,
    background: str,
    margin: int,
    font: Path | None,
) -> Overlay:
    bgr, alpha = render(lines, width, height, background=background, margin=margin, font=font)
    return from_bgra(bgr, alpha)


def render_placeholder(label: str, width: int, height: int, font: Path | None) -> Overlay:
    """An opaque dark tile naming whose video is missing."""
    font_px = fitting_size(label, max(8, min(40, height // 5)), max(1, width - 8), font)
    line = [[Run(label, PLACEHOLDER_TEXT, font_px)]]
    bgr, alpha = render(
        line, width, height, background=PLACEHOLDER_BACKGROUND, margin=4, font=font, align="center"
    )
    return from_bgra(bgr, alpha)


class OverlayCache:
    """A small LRU of rendered overlays; keys are everything that changes the pixels."""

    def __init__(self, capacity: int = 64) -> None:
        self._items: OrderedDict[tuple[object, ...], Overlay] = OrderedDict()
        self._capacity = capacity

    def get(self, key: tuple[object, ...]) -> Overlay | None:
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
        return item

    def put(self, key: tuple[object, ...], overlay: Overlay) -> None:
        self._items[key] = overlay
        if len(self._items) > self._capacity:
            self._items.popitem(last=False)
