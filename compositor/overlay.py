"""Pre-rendered RGBA overlays (text, placeholders) blended onto a canvas.

Rendering text is slow compared with blending it, so an overlay is rendered once
per distinct content and kept; each frame only blends.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import cv2
import numpy as np

from compositor.color import parse_color

FONT = cv2.FONT_HERSHEY_SIMPLEX
PLACEHOLDER_BACKGROUND = "#202020"
PLACEHOLDER_TEXT = "#D0D0D0"
# Pixel height of FONT's capital letters at scale 1.0.
_CAP_PX_AT_SCALE_1 = 22.0
# font-size is a CSS em size in pixels; capitals are about 0.7 em tall.
_CAP_PER_EM = 0.7


def _font_scale(font_px: int) -> float:
    return font_px * _CAP_PER_EM / _CAP_PX_AT_SCALE_1


def _thickness(scale: float) -> int:
    return max(1, round(scale * 2))


@dataclass(frozen=True)
class Overlay:
    """``color`` premultiplied by alpha, and ``inv_alpha`` = 1 - alpha, per pixel."""

    color: np.ndarray  # float32 HxWx3
    inv_alpha: np.ndarray  # float32 HxWx1

    def blend_onto(self, canvas: np.ndarray, x: int, y: int) -> None:
        h, w = self.inv_alpha.shape[:2]
        h = min(h, canvas.shape[0] - y)
        w = min(w, canvas.shape[1] - x)
        if h <= 0 or w <= 0:
            return
        roi = canvas[y : y + h, x : x + w]
        mixed = roi * self.inv_alpha[:h, :w] + self.color[:h, :w]
        roi[...] = mixed.astype(np.uint8)


def render_text_box(
    text: str, width: int, height: int, *, color: str, background: str, font_px: int, margin: int
) -> Overlay:
    """Text left-aligned and vertically centred on a filled (possibly translucent) box,
    shrunk to fit the box's width where it would overflow."""
    scale = _font_scale(font_px)
    (tw, _), _ = cv2.getTextSize(text, FONT, scale, _thickness(scale))
    room = max(1, width - 2 * margin)
    if tw > room:
        scale *= room / tw
    thickness = _thickness(scale)
    bgr = np.zeros((height, width, 3), np.uint8)
    alpha = np.zeros((height, width), np.uint8)
    bb, bg, br, ba = parse_color(background)
    bgr[:] = (bb, bg, br)
    alpha[:] = ba
    (_, th), _ = cv2.getTextSize(text, FONT, scale, thickness)
    origin = (margin, (height + th) // 2)
    fb, fg, fr, fa = parse_color(color)
    mask = np.zeros((height, width), np.uint8)
    cv2.putText(mask, text, origin, FONT, scale, 255, thickness, cv2.LINE_AA)
    coverage = mask.astype(np.float32) / 255.0
    text_alpha = coverage * (fa / 255.0)
    base_alpha = alpha.astype(np.float32) / 255.0
    out_alpha = text_alpha + base_alpha * (1.0 - text_alpha)
    fg_color = np.array((fb, fg, fr), np.float32)
    premul = (
        fg_color * text_alpha[..., None]
        + bgr.astype(np.float32) * (base_alpha * (1.0 - text_alpha))[..., None]
    )
    return Overlay(premul, (1.0 - out_alpha)[..., None])


def render_placeholder(label: str, width: int, height: int) -> Overlay:
    """An opaque dark tile naming whose video is missing."""
    font_px = max(8, min(32, height // 5))
    return render_text_box(
        label,
        width,
        height,
        color=PLACEHOLDER_TEXT,
        background=PLACEHOLDER_BACKGROUND,
        font_px=font_px,
        margin=max(2, (width - _text_width(label, font_px)) // 2),
    )


def _text_width(text: str, font_px: int) -> int:
    scale = _font_scale(font_px)
    (tw, _), _ = cv2.getTextSize(text, FONT, scale, _thickness(scale))
    return int(tw)


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
