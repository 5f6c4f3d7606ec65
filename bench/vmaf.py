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
    """Scores every ``every``-th frame of a clip."""

    def __init__(self, every: int) -> None:
        import torch
        from vmaf_torch import VMAF

        self.torch: Any = torch
        # Clipped to 0..100, as libvmaf clips the default model's scores.
        self.model: Any = VMAF(clip_score=True).eval()
        self.every = every

    def reference(self, source: list[np.ndarray]) -> VmafReference:
        """``source``: luma planes, frame by frame."""
        return VmafReference(self, source)


class VmafReference:
    """A source clip, ready for every encoding of it to be scored against.
    Motion, the one feature that looks at neighbouring frames and the one
    that depends on the source alone, is taken once over the whole clip, so a
    sampled frame is scored as it would be in the whole clip."""

    def __init__(self, meter: Vmaf, source: list[np.ndarray]) -> None:
        self._meter = meter
        self._chosen = list(range(meter.every // 2, len(source), meter.every))
        with meter.torch.no_grad():
            whole = meter.torch.from_numpy(np.stack(source)).float()[:, None]
            self._motion = meter.model.compute_motion2(whole)[self._chosen]
            self._frames = whole[self._chosen]

    def score(self, decoded: list[np.ndarray]) -> float:
        """Mean VMAF of ``decoded`` (luma planes, frame by frame) on the sampled frames."""
        torch, model = self._meter.torch, self._meter.model
        scores = []
        with torch.no_grad():
            for first in range(0, len(self._chosen), BATCH_FRAMES):
                batch = slice(first, first + BATCH_FRAMES)
                planes = [decoded[n] for n in self._chosen[batch]]
                dist = torch.from_numpy(np.stack(planes)).float()[:, None]
                ref = self._frames[batch]
                adm = model.compute_adm_score(ref, dist)
                vif = model.compute_vif_features(ref, dist)
                scores.append(model.predict(adm, self._motion[batch], vif))
            return float(torch.cat(scores).mean())


def vmaf_meter(every: int) -> Vmaf | None:
    """A meter, or None where vmaf-torch is not installed."""
    try:
        return Vmaf(every)
    except ImportError:
        return None
