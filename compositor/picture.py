"""A still image with transparency, as the compositor takes it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Picture:
    bgr: np.ndarray  # uint8 HxWx3, straight colour
    alpha: np.ndarray  # float32 HxW, 0..1
