"""The live preview: the mix as a WebRTC video track, so an operator's page
shows exactly what is being recorded, as it is recorded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from fractions import Fraction

import av
from aiortc import MediaStreamTrack

from compositor.planes import I420
from recorder.clock import ClockStats, ticks

PREVIEW_FPS = 15
# Shown until a mixer has composed its first frame.
_WAITING = I420.blank(320, 180)


class PreviewTrack(MediaStreamTrack):
    """Serves a mixer's latest canvas at a steady rate; aiortc encodes it for
    each viewer, so a preview costs only while someone watches."""

    kind = "video"

    def __init__(self, latest: Callable[[], I420 | None], fps: int = PREVIEW_FPS) -> None:
        super().__init__()
        self._latest = latest
        self._fps = fps
        self._ticks: AsyncIterator[int] | None = None
        self._stats = ClockStats()

    async def recv(self) -> av.VideoFrame:
        if self._ticks is None:
            loop = asyncio.get_running_loop()
            self._ticks = ticks(loop.time(), Fraction(1, self._fps), self._stats, loop)
        n = await anext(self._ticks)
        canvas = self._latest() or _WAITING
        frame = av.VideoFrame.from_ndarray(canvas.data, format="yuv420p")  # copies
        frame.pts = n
        frame.time_base = Fraction(1, self._fps)
        return frame
