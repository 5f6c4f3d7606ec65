"""Where a source image lands in a layout rectangle, for each aspect mode."""

from __future__ import annotations

from typing import NamedTuple

from cloudrec.wire import KeepAspect


class Rect(NamedTuple):
    x: int
    y: int
    w: int
    h: int


class Placement(NamedTuple):
    src: Rect  # the part of the source image that is shown
    dst: Rect  # where it is drawn on the canvas


def fit(src_w: int, src_h: int, rect: Rect, mode: KeepAspect) -> Placement:
    """Stretch fills the rectangle; keep fits inside it (letterbox); crop fills it
    and cuts the overflow, centred. Sizes are never rounded below one pixel."""
    full = Rect(0, 0, src_w, src_h)
    if mode is KeepAspect.STRETCH:
        return Placement(full, rect)
    if mode is KeepAspect.KEEP:
        scale = min(rect.w / src_w, rect.h / src_h)
        w = max(1, min(rect.w, round(src_w * scale)))
        h = max(1, min(rect.h, round(src_h * scale)))
        return Placement(full, Rect(rect.x + (rect.w - w) // 2, rect.y + (rect.h - h) // 2, w, h))
    scale = max(rect.w / src_w, rect.h / src_h)
    cw = max(1, min(src_w, round(rect.w / scale)))
    ch = max(1, min(src_h, round(rect.h / scale)))
    return Placement(Rect((src_w - cw) // 2, (src_h - ch) // 2, cw, ch), rect)


def even(rect: Rect) -> Rect:
    """Taken to even coordinates and sizes (at least 2), so the half-size chroma
    planes line up with luma."""
    return Rect(rect.x & ~1, rect.y & ~1, max(2, rect.w & ~1), max(2, rect.h & ~1))


def even_placement(placement: Placement) -> Placement:
    return Placement(even(placement.src), even(placement.dst))
