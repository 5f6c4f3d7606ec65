"""I420 images: a full-size luma plane and two half-size chroma planes in one
contiguous buffer, the layout decoders give and encoders take. Compositing in
it skips the colour conversions a BGR canvas costs on every frame."""

from __future__ import annotations

import cv2
import numpy as np

BLACK_Y, NEUTRAL_C = 16, 128  # BT.601 limited range, what the codecs here use


class Yuv420:
    """A 4:2:0 picture as three planes wherever they lie (full-size luma,
    half-size chroma), each row to row at a stride of its own: what the
    compositor reads its inputs from."""

    __slots__ = ("height", "u", "v", "width", "y")

    def __init__(self, y: np.ndarray, u: np.ndarray, v: np.ndarray) -> None:
        self.y, self.u, self.v = y, u, v
        self.height, self.width = y.shape


class I420(Yuv420):
    """A 4:2:0 picture in one contiguous buffer, the planes one after another:
    what the compositor draws on and encoders take."""

    __slots__ = ("data",)

    def __init__(self, data: np.ndarray, width: int, height: int) -> None:
        """``data`` is (height * 3 / 2) x width uint8; width and height are even."""
        quarter = (height // 2) * (width // 2)
        flat = data.reshape(-1)
        super().__init__(
            data[:height],
            flat[width * height : width * height + quarter].reshape(height // 2, width // 2),
            flat[width * height + quarter :].reshape(height // 2, width // 2),
        )
        self.data = data

    @classmethod
    def blank(cls, width: int, height: int) -> I420:
        data = np.empty((height * 3 // 2, width), np.uint8)
        data[:height] = BLACK_Y
        data[height:] = NEUTRAL_C
        return cls(data, width, height)

    @classmethod
    def from_bgr(cls, bgr: np.ndarray) -> I420:
        height, width = bgr.shape[0] // 2 * 2, bgr.shape[1] // 2 * 2
        data = cv2.cvtColor(np.ascontiguousarray(bgr[:height, :width]), cv2.COLOR_BGR2YUV_I420)
        return cls(data, width, height)

    def to_bgr(self) -> np.ndarray:
        return cv2.cvtColor(self.data, cv2.COLOR_YUV2BGR_I420)

    def fill(self, x: int, y: int, w: int, h: int) -> None:
        """Paints black; the rectangle is in luma pixels, even-aligned."""
        self.y[y : y + h, x : x + w] = BLACK_Y
        self.u[y // 2 : (y + h) // 2, x // 2 : (x + w) // 2] = NEUTRAL_C
        self.v[y // 2 : (y + h) // 2, x // 2 : (x + w) // 2] = NEUTRAL_C
