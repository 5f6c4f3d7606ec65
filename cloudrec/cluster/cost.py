"""How many cores a recording job is expected to take, before it runs: what
placement reserves on a worker until the worker's own measurement shows it.

Fitted (least squares) to the recorder costs in bench/README.md, six cases of
2, 4 and 9 parties at 640x360@15 and 1280x720@30, one mix each; the fit is
within 0.042 cores (10 %) of every case. Mode-1 files (one per participant)
are an encode each. A different machine scales all of it with ``scale``
(``--cost-scale``).
"""

from __future__ import annotations

from cloudrec.wire import MixerCfg, StartRequest

# The bot process whatever it records: its event loop, receiving, the clocks.
BOT_CORES = 0.090
# Composing and encoding, per million output pixels a second.
CORES_PER_MPIXEL_S = 0.0090
# Receiving and decoding each party's camera; its tile grows with the canvas.
CORES_PER_PARTY = 0.0032
CORES_PER_PARTY_MPIXEL_S = 0.00050
# Mixing and encoding one audio-only output (AAC or Opus of a few voices).
AUDIO_ONLY_CORES = 0.010
# Each output past a mixer's first: muxing, or a live push's socket.
EXTRA_OUTPUT_CORES = 0.005


def mixer_cores(cfg: MixerCfg, parties: int) -> float:
    if cfg.video is None:
        return AUDIO_ONLY_CORES
    mpixel_s = cfg.video.width * cfg.video.height * cfg.video.frame_rate / 1e6
    if cfg.individual:  # a file per participant, each its own encode
        return parties * (CORES_PER_MPIXEL_S * mpixel_s + CORES_PER_PARTY)
    return CORES_PER_MPIXEL_S * mpixel_s + parties * (
        CORES_PER_PARTY + CORES_PER_PARTY_MPIXEL_S * mpixel_s
    )


def job_cores(request: StartRequest, parties: int, scale: float = 1.0) -> float:
    """Cores the whole job should take with ``parties`` publishers in the room."""
    parties = max(parties, 1)
    total = BOT_CORES
    for cfg in request.cfgs:
        total += mixer_cores(cfg, parties)
    for outputs in request.outputs:
        total += EXTRA_OUTPUT_CORES * max(len(outputs.output) - 1, 0)
    return round(total * scale, 4)
