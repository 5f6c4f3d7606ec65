"""Pre-rendered translucent overlays (text, placeholders) blended onto a canvas.

Rendering text is slow compared with blending it, so an overlay is rendered once
per distinct content, converted to premultiplied I420 planes, and kept; each
frame only blends.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import cv2
import numpy as np

from compositor.color import parse_color
from compositor.planes import I420

PLACEHOLDER_BACKGROUND = "#202020"
PLACEHOLDER_TEXT = "#D0D0D0"
FONT = cv2.FONT_HERSHEY_SIMPLEX
# Pixel height of FONT's capital letters at scale 1.0.
_CAP_PX_AT_SCALE_1 = 22.0
# font-size is a CSS em size in pixels; capitals are about 0.7 em tall.
_CAP_PER_EM = 0.7


def _font_scale(font_px: int) -> float:
    return font_px * _CAP_PER_EM / _CAP_PX_AT_SCALE_1


def _thickness(scale: float) -> int:
    return max(1, round(scale * 2))


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
    (_, th), _ = cv2.getTextSize(text, FONT, scale, thickness)
    mask = np.zeros((height, width), np.uint8)
    cv2.putText(mask, text, (margin, (height + th) // 2), FONT, scale, 255, thickness, cv2.LINE_AA)
    coverage = mask.astype(np.float32) / 255.0
    fb, fg, fr, fa = parse_color(color)
    bb, bg, br, ba = parse_color(background)
    text_alpha = coverage * (fa / 255.0)
    base_alpha = ba / 255.0
    alpha = text_alpha + base_alpha * (1.0 - text_alpha)
    # Straight colour of each pixel: text over box, weighted by their alphas.
    weight_text = np.divide(text_alpha, alpha, out=np.zeros_like(alpha), where=alpha > 0)
    fg_color = np.array((fb, fg, fr), np.float32)
    bg_color = np.array((bb, bg, br), np.float32)
    straight = fg_color * weight_text[..., None] + bg_color * (1.0 - weight_text[..., None])
    return from_bgra(straight.round().astype(np.uint8), alpha)


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
