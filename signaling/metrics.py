"""What a control node counts for ``/metrics``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from cloudrec.contract import MixerStats

# The bot's counters that become the node's, summed over recordings.
STATS_COUNTERS = {
    "late_video_ticks": "video clock ticks that woke over 16 ms late",
    "late_audio_ticks": "audio clock ticks that woke late",
    "frames_dropped": "output video frames dropped",
    "audio_underruns": "audio mixes that found a party's buffer empty",
    "audio_concealed_ms": "ms of a party's sound lost on the way and made up for",
    "audio_stretched_ms": "ms of a party's sound drawn out while the playout delay rose",
    "live_frames_dropped": "frames a live push could not take",
    "packets_received": "UDP datagrams the recording bots received",
    "upload_bytes": "bytes sent to the object store",
    "upload_retries": "uploads to the object store tried again",
    "upload_failures": "files that could not go up to the object store (kept, retried later)",
    "frozen_ms": "ms of recording a tile showed a frame that arrived over 250 ms before",
    "placeholder_ms": "ms of recording a tile showed a placeholder (no video from its source)",
}


class ControlMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.running = Gauge(
            "cloudrec_recordings_running", "recordings running", registry=self.registry
        )
        self.placements = Counter(
            "cloudrec_placements",
            "attempts to place a recording: placed, or refused (no_capacity,"
            " redis_unreachable, no_recorder_joined)",
            ["result"],
            registry=self.registry,
        )
        self.failovers = Counter(
            "cloudrec_failovers",
            "recordings moved to another worker after theirs was lost: moved, or failed",
            ["result"],
            registry=self.registry,
        )
        self.worker_cores = Gauge(
            "cloudrec_worker_cores",
            "each live worker's cores: capacity, used (measured), reserved, free",
            ["worker", "kind"],
            registry=self.registry,
        )
        self.workers_alive = Gauge(
            "cloudrec_workers_alive",
            "workers heartbeating, draining or not",
            registry=self.registry,
        )
        self.stats = {
            name: Counter(f"cloudrec_{name}", text, registry=self.registry)
            for name, text in STATS_COUNTERS.items()
        }

    def count_stats(self, before: MixerStats | None, now: MixerStats) -> None:
        """Adds what a bot's counters grew by since its last report."""
        for name, counter in self.stats.items():
            grown = getattr(now, name) - (getattr(before, name) if before else 0)
            if grown > 0:
                counter.inc(grown)
