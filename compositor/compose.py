"""One output frame from a layout, the latest input images and the wall clock,
composed in I420 planes."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from cloudrec.sources import SourceId
from cloudrec.whiteboard import BoardSnapshot
from cloudrec.wire import Content, ContentType
from compositor.board import board_size, render_board
from compositor.geometry import Placement, Rect, even, even_placement, fit
from compositor.overlay import (
    OverlayCache,
    from_bgra,
    render_markup,
    render_placeholder,
    render_text_box,
)
from compositor.picture import Picture
from compositor.planes import I420, Yuv420
from compositor.text import find_font, measure, parse_markup

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
DEFAULT_TEXT_COLOR = "#FFFFFF"
DEFAULT_TEXT_BACKGROUND = "#0000007D"
DEFAULT_FONT_PX = 18
DEFAULT_TEXT_MARGIN = 5

Planes = tuple[np.ndarray, np.ndarray, np.ndarray]
EMPTY_BOARD = BoardSnapshot(0, ())


@dataclass(frozen=True)
class VideoSource:
    """What a camera content shows now: its latest image, or a placeholder label."""

    image: Yuv420 | None
    label: str


def text_style(content: Content) -> tuple[str, str, int, int]:
    """(colour, background, font size, margin) of a text or timestamp content."""
    p = content.param
    return (
        p.get("color", DEFAULT_TEXT_COLOR),
        p.get("background", DEFAULT_TEXT_BACKGROUND),
        int(p.get("font-size", DEFAULT_FONT_PX)),
        int(p.get("text-margin", DEFAULT_TEXT_MARGIN)),
    )


def format_timestamp(wallclock: float) -> str:
    return time.strftime(TIMESTAMP_FORMAT, time.localtime(wallclock))


class Compositor:
    """Draws layouts onto a fixed-size I420 canvas.

    Holds only caches (rendered overlays, the last scaled planes of each tile) so
    that unchanged inputs cost a copy rather than a rescale or a text render.
    """

    def __init__(self, width: int, height: int, font: Path | None = None) -> None:
        self.width = width
        self.height = height
        self._font = font if font is not None else find_font()
        self._overlays = OverlayCache()
        self._scaled: dict[int, tuple[Yuv420, Placement, Planes]] = {}
        self._boards: dict[tuple[object, ...], I420] = {}

    def compose(
        self,
        contents: Sequence[Content],
        sources: Mapping[SourceId, VideoSource],
        wallclock: float,
        board: BoardSnapshot | None = None,
        pictures: Mapping[str, Picture] | None = None,
    ) -> I420:
        canvas = I420.blank(self.width, self.height)
        for index, content in enumerate(contents):
            key = content.source
            if key is not None:
                source = sources.get(key) or VideoSource(None, key.user)
                self._draw_video(canvas, index, content, source)
            elif content.type is ContentType.TIMESTAMP:
                self._draw_text(canvas, content, format_timestamp(wallclock))
            elif content.type is ContentType.TEXT:
                self._draw_markup(canvas, content, wallclock)
            elif content.type is ContentType.WBOARD:
                self._draw_board(canvas, content, board or EMPTY_BOARD)
            elif content.type is ContentType.PIC:
                picture = (pictures or {}).get(content.param.get("resourceid", ""))
                if picture is not None:
                    self._draw_picture(canvas, content, picture)
        return canvas

    def _draw_picture(self, canvas: I420, content: Content, picture: Picture) -> None:
        """Scaled and converted once per rectangle; alpha-blended each frame."""
        rect = Rect(content.left, content.top, content.width, content.height)
        h, w = picture.alpha.shape
        placement = even_placement(fit(w, h, rect, content.keep_aspect))
        key = ("picture", picture, placement)
        overlay = self._overlays.get(key)
        if overlay is None:
            s, d = placement
            size = (d.w, d.h)
            bgr = resize_bgr(picture.bgr[s.y : s.y + s.h, s.x : s.x + s.w], size)
            # Cubic interpolation overshoots at hard edges; alpha must stay 0..1.
            alpha = np.clip(resize_bgr(picture.alpha[s.y : s.y + s.h, s.x : s.x + s.w], size), 0, 1)
            overlay = from_bgra(bgr, alpha)
            self._overlays.put(key, overlay)
        overlay.blend_onto(canvas, placement.dst.x, placement.dst.y)

    def _draw_board(self, canvas: I420, content: Content, board: BoardSnapshot) -> None:
        """Rendered again only when the board changes (its version)."""
        rect = even(Rect(content.left, content.top, content.width, content.height))
        width, height = board_size(rect.w, rect.h)
        key = ("board", board.version, width, height)
        cached = self._boards.get(key)
        if cached is None:
            cached = render_board(board, width, height)
            self._boards = {key: cached}  # one board per rectangle size is enough
        x, y = (rect.x + (rect.w - width) // 2) & ~1, (rect.y + (rect.h - height) // 2) & ~1
        canvas.fill(*rect)
        canvas.y[y : y + height, x : x + width] = cached.y
        canvas.u[y // 2 : (y + height) // 2, x // 2 : (x + width) // 2] = cached.u
        canvas.v[y // 2 : (y + height) // 2, x // 2 : (x + width) // 2] = cached.v

    def _draw_video(self, canvas: I420, index: int, content: Content, source: VideoSource) -> None:
        rect = Rect(content.left, content.top, content.width, content.height)
        if source.image is None:
            if content.type is ContentType.VIDEO:
                self._draw_placeholder(canvas, rect, source.label)
            else:
                canvas.fill(*even(rect))  # a share nobody is sharing is black
            return
        image = source.image
        placement = even_placement(fit(image.width, image.height, rect, content.keep_aspect))
        cached = self._scaled.get(index)
        if cached is not None and cached[0] is image and cached[1] == placement:
            planes = cached[2]
        else:
            planes = scale_planes(image, placement)
            self._scaled[index] = (image, placement, planes)
        # Letterbox bars are black even where an earlier content lies beneath.
        canvas.fill(*even(rect))
        d = placement.dst
        canvas.y[d.y : d.y + d.h, d.x : d.x + d.w] = planes[0]
        cy, cx, ch, cw = d.y // 2, d.x // 2, d.h // 2, d.w // 2
        canvas.u[cy : cy + ch, cx : cx + cw] = planes[1]
        canvas.v[cy : cy + ch, cx : cx + cw] = planes[2]

    def _draw_placeholder(self, canvas: I420, rect: Rect, label: str) -> None:
        key = ("placeholder", label, rect.w, rect.h)
        overlay = self._overlays.get(key)
        if overlay is None:
            overlay = render_placeholder(label, rect.w, rect.h, self._font)
            self._overlays.put(key, overlay)
        overlay.blend_onto(canvas, rect.x, rect.y)

    def _draw_text(self, canvas: I420, content: Content, text: str) -> None:
        color, background, font_px, margin = text_style(content)
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
                font=self._font,
            )
            self._overlays.put(key, overlay)
        overlay.blend_onto(canvas, content.left, content.top)

    def _draw_markup(self, canvas: I420, content: Content, wallclock: float) -> None:
        """MIXVTP_TEXT: rendered again only when its expanded text changes."""
        text = content.param.get("text", "").replace("%timestamp%", format_timestamp(wallclock))
        color, background, font_px, margin = text_style(content)
        key = ("markup", text, content.width, content.height, color, background, font_px, margin)
        overlay = self._overlays.get(key)
        if overlay is None:
            lines = parse_markup(text, color, font_px)
            width, height = content.width, content.height
            if not width or not height:  # 0: sized to the text
                text_w, text_h = measure(lines, self._font)
                width = width or min(self.width - content.left, text_w + 2 * margin)
                height = height or min(self.height - content.top, text_h + 2 * margin)
            overlay = render_markup(
                lines, width, height, background=background, margin=margin, font=self._font
            )
            self._overlays.put(key, overlay)
        overlay.blend_onto(canvas, content.left, content.top)


def scale_planes(image: Yuv420, placement: Placement) -> Planes:
    """The shown part of ``image`` at the placement's size, plane by plane."""
    s, d = placement

    def one(plane: np.ndarray, f: int) -> np.ndarray:
        region = plane[s.y // f : (s.y + s.h) // f, s.x // f : (s.x + s.w) // f]
        return resize(region, (d.w // f, d.h // f))

    return one(image.y, 1), one(image.u, 2), one(image.v, 2)


def resize(region: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Box-filters by the largest whole factor first, then bilinear for the rest.

    Bilinear alone aliases when shrinking more than 2x; OpenCV's area filter at a
    non-integer factor costs 5-20x a bilinear one, but at a whole factor it is as
    cheap. Together: area quality at close to bilinear cost."""
    w, h = size
    if (region.shape[1], region.shape[0]) == size:
        return region
    k = int(min(region.shape[1] / w, region.shape[0] / h))
    if k >= 2:
        rh, rw = region.shape[0] // k * k, region.shape[1] // k * k
        region = cv2.resize(region[:rh, :rw], (rw // k, rh // k), interpolation=cv2.INTER_AREA)
        if (region.shape[1], region.shape[0]) == size:
            return region
    return cv2.resize(region, size, interpolation=cv2.INTER_LINEAR)


def resize_bgr(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A still image's resize: quality over speed, done once per rectangle."""
    if (image.shape[1], image.shape[0]) == size:
        return image
    shrinking = size[0] < image.shape[1] and size[1] < image.shape[0]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    return cv2.resize(image, size, interpolation=interpolation)
