"""VMAF of a decoded clip against its source, for bench.quality.

Neither PyAV's FFmpeg nor Debian's is built with libvmaf, so this uses
vmaf-torch, a PyTorch port of libvmaf's default model (v0.6.1) that its
authors measured within 0.03 points of libvmaf on Netflix's public dataset.
It is optional (``pip install -e .[vmaf]``): PyTorch is large, and only this
benchmark needs it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Frames scored at once: bounds memory (a 1280x720 frame's features take
# about 100 MB of intermediate tensors).
BATCH_FRAMES = 8


class Vmaf:
    """Mean VMAF of every ``every``-th frame. Motion, the one feature that
    looks at neighbouring frames, is taken over the whole source, so a sampled
    frame is scored as it would be in the whole clip."""

    def __init__(self, every: int) -> None:
        import torch
        from vmaf_torch import VMAF

        self._torch: Any = torch
        # Clipped to 0..100, as libvmaf clips the default model's scores.
        self._model: Any = VMAF(clip_score=True).eval()
        self._every = every

    def __call__(self, source: list[np.ndarray], decoded: list[np.ndarray]) -> float:
        """``source``, ``decoded``: luma planes, frame by frame."""
        torch = self._torch
        with torch.no_grad():
            ref = torch.from_numpy(np.stack(source)).float()[:, None]
            motion = self._model.compute_motion2(ref)
            scores = []
            chosen = list(range(self._every // 2, len(source), self._every))
            for first in range(0, len(chosen), BATCH_FRAMES):
                frames = chosen[first : first + BATCH_FRAMES]
                dist = torch.from_numpy(np.stack([decoded[n] for n in frames])).float()[:, None]
                adm = self._model.compute_adm_score(ref[frames], dist)
                vif = self._model.compute_vif_features(ref[frames], dist)
                scores.append(self._model.predict(adm, motion[frames], vif))
            return float(torch.cat(scores).mean())


def vmaf_meter(every: int) -> Vmaf | None:
    """A meter, or None where vmaf-torch is not installed."""
    try:
        return Vmaf(every)
    except ImportError:
        return None
