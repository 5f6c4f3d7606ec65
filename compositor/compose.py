"""One output frame from a layout, the latest input images and the wall clock."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from cloudrec.wire import Content, ContentType, split_camid
from compositor.geometry import Placement, Rect, fit
from compositor.overlay import OverlayCache, render_placeholder, render_text_box

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
DEFAULT_TEXT_COLOR = "#FFFFFF"
DEFAULT_TEXT_BACKGROUND = "#0000007D"
DEFAULT_FONT_PX = 18
DEFAULT_TEXT_MARGIN = 5


@dataclass(frozen=True)
class VideoSource:
    """What a camera content shows now: its latest image, or a placeholder label."""

    image: np.ndarray | None
    label: str


def placeholder_label(camid: str) -> str:
    try:
        return split_camid(camid)[0]
    except ValueError:
        return camid


def format_timestamp(wallclock: float) -> str:
    return time.strftime(TIMESTAMP_FORMAT, time.localtime(wallclock))


class Compositor:
    """Draws layouts onto a fixed-size canvas.

    Holds only caches (rendered overlays, the last scaled image of each tile) so
    that unchanged inputs cost a copy rather than a rescale or a text render.
    """

    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self._overlays = OverlayCache()
        self._scaled: dict[int, tuple[np.ndarray, Placement, np.ndarray]] = {}

    def compose(
        self, contents: Sequence[Content], sources: Mapping[str, VideoSource], wallclock: float
    ) -> np.ndarray:
        canvas = np.zeros((self.height, self.width, 3), np.uint8)
        for index, content in enumerate(contents):
            if content.type is ContentType.VIDEO:
                source = sources.get(content.camid)
                if source is None:
                    source = VideoSource(None, placeholder_label(content.camid))
                self._draw_video(canvas, index, content, source)
            elif content.type is ContentType.TIMESTAMP:
                self._draw_text(canvas, content, format_timestamp(wallclock))
        return canvas

    def _draw_video(
        self, canvas: np.ndarray, index: int, content: Content, source: VideoSource
    ) -> None:
        rect = Rect(content.left, content.top, content.width, content.height)
        if source.image is None:
            self._draw_placeholder(canvas, rect, source.label)
            return
        image = source.image
        placement = fit(image.shape[1], image.shape[0], rect, content.keep_aspect)
        cached = self._scaled.get(index)
        if cached is not None and cached[0] is image and cached[1] == placement:
            scaled = cached[2]
        else:
            scaled = scale_region(image, placement)
            self._scaled[index] = (image, placement, scaled)
        # Letterbox bars are black even where an earlier content lies beneath.
        canvas[rect.y : rect.y + rect.h, rect.x : rect.x + rect.w] = 0
        d = placement.dst
        canvas[d.y : d.y + d.h, d.x : d.x + d.w] = scaled

    def _draw_placeholder(self, canvas: np.ndarray, rect: Rect, label: str) -> None:
        key = ("placeholder", label, rect.w, rect.h)
        overlay = self._overlays.get(key)
        if overlay is None:
            overlay = render_placeholder(label, rect.w, rect.h)
            self._overlays.put(key, overlay)
        overlay.blend_onto(canvas, rect.x, rect.y)

    def _draw_text(self, canvas: np.ndarray, content: Content, text: str) -> None:
        p = content.param
        color = p.get("color", DEFAULT_TEXT_COLOR)
        background = p.get("background", DEFAULT_TEXT_BACKGROUND)
        font_px = int(p.get("font-size", DEFAULT_FONT_PX))
        margin = int(p.get("text-margin", DEFAULT_TEXT_MARGIN))
        key = ("text", text, content.width, content.height, color, background, font_px, margin)
        overlay = self._overlays.get(key)
        if overlay is None:
            overlay = render_text_box(
                text,
                content.width,
                content.height,
                color=color,
                background=background,
                font_px=font_px,
                margin=margin,
            )
            self._overlays.put(key, overlay)
        overlay.blend_onto(canvas, content.left, content.top)


def scale_region(image: np.ndarray, placement: Placement) -> np.ndarray:
    s, d = placement
    region = image[s.y : s.y + s.h, s.x : s.x + s.w]
    if (s.w, s.h) == (d.w, d.h):
        return region
    shrinking = d.w < s.w and d.h < s.h
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(region, (d.w, d.h), interpolation=interpolation)
