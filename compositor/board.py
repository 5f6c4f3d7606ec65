"""The whiteboard drawn into a rectangle, keeping the board's 16:9 aspect."""

from __future__ import annotations

import cv2
import numpy as np

from cloudrec.whiteboard import BOARD_HEIGHT, BOARD_WIDTH, BoardSnapshot
from compositor.color import parse_color
from compositor.planes import I420

# Points are drawn at this many fractional bits: sub-pixel, anti-aliased strokes.
_SHIFT = 4


def render_board(board: BoardSnapshot, width: int, height: int) -> I420:
    """A white board of exactly width x height (even) with every stroke, in order."""
    image = np.full((height, width, 3), 255, np.uint8)
    scale = width / BOARD_WIDTH
    for stroke in board.strokes:
        points = np.array(
            [(x * (width - 1), y * (height - 1)) for x, y in stroke.points], np.float64
        )
        fixed = np.round(points * (1 << _SHIFT)).astype(np.int32).reshape(-1, 1, 2)
        b, g, r, _ = parse_color(stroke.color)
        thickness = max(1, round(stroke.width * scale))
        if len(fixed) == 1:
            cv2.circle(
                image,
                tuple(fixed[0, 0]),
                max(1, thickness // 2) << _SHIFT,
                (b, g, r),
                -1,
                cv2.LINE_AA,
                _SHIFT,
            )
        else:
            cv2.polylines(image, [fixed], False, (b, g, r), thickness, cv2.LINE_AA, _SHIFT)
    return I420.from_bgr(image)


def board_size(width: int, height: int) -> tuple[int, int]:
    """The board's size inside a width x height rectangle (keep aspect, even)."""
    scale = min(width / BOARD_WIDTH, height / BOARD_HEIGHT)
    return max(2, round(BOARD_WIDTH * scale) & ~1), max(2, round(BOARD_HEIGHT * scale) & ~1)
