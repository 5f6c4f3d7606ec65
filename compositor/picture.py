"""A still image with transparency, as the compositor takes it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass(frozen=True, eq=False)
class Picture:
    bgr: np.ndarray  # uint8 HxWx3, straight colour
    alpha: np.ndarray  # float32 HxW, 0..1


def load_picture(path: Path) -> Picture:
    """A PNG as the compositor takes it (BGR and alpha apart)."""
    with Image.open(path) as image:
        rgba = np.asarray(image.convert("RGBA"))
    return Picture(np.ascontiguousarray(rgba[..., 2::-1]), rgba[..., 3].astype(np.float32) / 255)
