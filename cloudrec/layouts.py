"""Layouts generated for the people present, as wire-format contents: pure
functions from who is there to rectangles."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from cloudrec.sources import SourceId

Content = dict[str, Any]


def _even(value: float) -> int:
    return int(value) // 2 * 2


def camera(user: str, x: int, y: int, w: int, h: int) -> Content:
    """A user's default camera in a rectangle, letterboxed."""
    return {
        "type": 0,
        "left": x,
        "top": y,
        "width": w,
        "height": h,
        "keepAspectRatio": 1,
        "param": {"camid": str(SourceId.camera(user))},
    }


def grid(users: Sequence[str], width: int, height: int) -> list[Content]:
    """Everyone in a near-square grid of equal tiles; the last row centred."""
    if not users:
        return []
    cols = math.ceil(math.sqrt(len(users)))
    rows = math.ceil(len(users) / cols)
    tw, th = _even(width / cols), _even(height / rows)
    contents = []
    for i, user in enumerate(users):
        row, col = divmod(i, cols)
        in_row = min(cols, len(users) - row * cols)
        offset = _even((width - in_row * tw) / 2)
        contents.append(camera(user, offset + col * tw, row * th, tw, th))
    return contents


def screen_focus(sharer: str, users: Sequence[str], width: int, height: int) -> list[Content]:
    """The share takes the stage (three quarters of the width); cameras in a
    column beside it."""
    stage_w = _even(width * 3 / 4)
    contents: list[Content] = [
        {
            "type": 2,
            "left": 0,
            "top": 0,
            "width": stage_w,
            "height": height,
            "keepAspectRatio": 1,
            "param": {"userid": sharer},
        }
    ]
    if users:
        side_w = width - stage_w
        th = min(_even(height / len(users)), _even(side_w * 9 / 16))
        for i, user in enumerate(users):
            contents.append(camera(user, stage_w, i * th, side_w, th))
    return contents


def adaptive(
    users: Sequence[str], sharer: str | None, width: int, height: int, *, timestamp: bool = True
) -> list[Content]:
    """Grid of everyone; a screen share, while one runs, takes the stage."""
    contents = screen_focus(sharer, users, width, height) if sharer else grid(users, width, height)
    if timestamp:
        contents.append({"type": 4, "left": 0, "top": 0, "width": 176, "height": 32})
    return contents
