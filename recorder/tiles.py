"""What each tile of a recording showed, measured tick by tick: how long it
was frozen on an old frame and how long it showed a placeholder."""

from __future__ import annotations

from dataclasses import dataclass

from cloudrec.contract import TileStats
from cloudrec.sources import SourceId
from recorder.tracks import FrameRef

# A tile counts as frozen while the frame it shows was captured this long before
# its tick: a quarter of a second is a visible stall for a camera (a frame
# every 33 to 67 ms), and above a sender's usual frame-to-frame jitter. A
# screen share that sends only on change reads as frozen too, as it looks.
FROZEN_AFTER_S = 0.25


@dataclass
class _Tally:
    ticks: int = 0
    frozen: int = 0
    placeholder: int = 0


class TileMeter:
    """One mixer's tiles (by the source each shows), counted on its clock."""

    def __init__(self, mixer_id: str, frame_rate: int) -> None:
        self._mixer_id = mixer_id
        self._frame_rate = frame_rate
        self._tallies: dict[SourceId, _Tally] = {}

    def count(self, shown: dict[SourceId, FrameRef]) -> None:
        """One tick's frames."""
        for source, ref in shown.items():
            tally = self._tallies.get(source)
            if tally is None:
                tally = self._tallies[source] = _Tally()
            tally.ticks += 1
            if ref.frame is None:
                tally.placeholder += 1
            elif ref.age > FROZEN_AFTER_S:
                tally.frozen += 1

    def stats(self) -> tuple[TileStats, ...]:
        ms = 1000 / self._frame_rate
        return tuple(
            TileStats(
                self._mixer_id,
                str(source),
                round(t.ticks * ms),
                round(t.frozen * ms),
                round(t.placeholder * ms),
            )
            for source, t in sorted(self._tallies.items(), key=lambda item: str(item[0]))
        )
