"""Text rendered with FreeType (Pillow), so any script the font covers draws as
itself, CJK included. MIXVTP_TEXT's markup is a subset of HTML:
``<span style='font-size:14px;color:#e21918'>...</span>`` around plain text,
``<br>`` or newlines between lines, and ``%timestamp%`` for the time."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from compositor.color import parse_color

# Searched in order; the first that exists is used. WenQuanYi Micro Hei covers
# Latin and CJK (Debian: fonts-wqy-microhei); DejaVu covers Latin at least.
FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
)
LINE_SPACING = 1.2

_SPAN = re.compile(r"<span\s+style\s*=\s*(['\"])(.*?)\1\s*>(.*?)</span\s*>", re.S | re.I)
_BREAK = re.compile(r"<br\s*/?>", re.I)


@dataclass(frozen=True)
class Run:
    text: str
    color: str
    font_px: int


def find_font(configured: str = "") -> Path | None:
    if configured:
        return Path(configured)
    return next((p for p in FONT_CANDIDATES if p.exists()), None)


@lru_cache(maxsize=64)
def _font(path: Path | None, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if path is None:
        return ImageFont.load_default(size)
    return ImageFont.truetype(str(path), size)


def parse_markup(text: str, color: str, font_px: int) -> list[list[Run]]:
    """Lines of runs. Unknown tags are dropped, entities unescaped."""
    lines: list[list[Run]] = [[]]
    text = _BREAK.sub("\n", text)
    pos = 0
    pieces: list[Run] = []
    for match in _SPAN.finditer(text):
        pieces.append(Run(match.string[pos : match.start()], color, font_px))
        style = dict(
            (k.strip().lower(), v.strip())
            for k, _, v in (part.partition(":") for part in match.group(2).split(";"))
            if k.strip()
        )
        run_color = style.get("color", color)
        if not re.fullmatch(r"#[0-9A-Fa-f]{6}([0-9A-Fa-f]{2})?", run_color):
            run_color = color
        size = re.fullmatch(r"(\d{1,3})(px)?", style.get("font-size", ""))
        pieces.append(Run(match.group(3), run_color, int(size.group(1)) if size else font_px))
        pos = match.end()
    pieces.append(Run(text[pos:], color, font_px))
    for piece in pieces:
        plain = html.unescape(re.sub(r"<[^>]*>", "", piece.text))
        for i, part in enumerate(plain.split("\n")):
            if i:
                lines.append([])
            if part:
                lines[-1].append(Run(part, piece.color, max(6, min(200, piece.font_px))))
    return lines


def measure(lines: list[list[Run]], font: Path | None) -> tuple[int, int]:
    width = height = 0
    for line in lines:
        line_px = max((r.font_px for r in line), default=0)
        width = max(width, sum(int(_font(font, r.font_px).getlength(r.text)) for r in line))
        height += round(line_px * LINE_SPACING)
    return width, height


def render(
    lines: list[list[Run]],
    width: int,
    height: int,
    *,
    background: str,
    margin: int,
    font: Path | None,
    align: str = "left",
) -> tuple[np.ndarray, np.ndarray]:
    """Straight BGR and alpha (0..1) of the text on its box, lines centred
    vertically; runs that do not fit are clipped by the box."""
    bb, bg, br, ba = parse_color(background)
    image = Image.new("RGBA", (width, height), (br, bg, bb, ba))
    draw = ImageDraw.Draw(image)
    _, text_h = measure(lines, font)
    y = max(0, (height - text_h) // 2)
    for line in lines:
        line_px = max((r.font_px for r in line), default=0)
        line_w = sum(int(_font(font, r.font_px).getlength(r.text)) for r in line)
        x = margin if align == "left" else max(margin, (width - line_w) // 2)
        baseline = y + round(line_px * LINE_SPACING * 0.8)
        for run in line:
            face = _font(font, run.font_px)
            b, g, r, a = parse_color(run.color)
            draw.text((x, baseline), run.text, font=face, fill=(r, g, b, a), anchor="ls")
            x += int(face.getlength(run.text))
        y += round(line_px * LINE_SPACING)
    rgba = np.asarray(image)
    bgr = np.ascontiguousarray(rgba[..., 2::-1])
    return bgr, rgba[..., 3].astype(np.float32) / 255.0
