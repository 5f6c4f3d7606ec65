"""Received media decoded straight into the recorder's buffers.

aiortc decodes each received track on a thread of its own, then hands every
decoded frame back to the event loop (a cross-thread wake-up, a new task and a
queue hop per frame) for a reader task to store. In a recorder that loop also
carries every RTP packet of the room, and the hops cost it a third of its time
(bench/README.md). A :class:`DecodeTap` takes
the encoded frames where aiortc would queue them for its decoder, decodes them
(large frames on a thread per track, as aiortc does; small ones in place) and
hands each frame to a sink that stores it (a camera slot), with no hop.

The tap takes the place of aiortc's decoder queue (recorder/aiortc_hooks.py
holds that hook) and uses aiortc's own decoders. Audio packets skip it: they go
straight to the recorder's audio streams (recorder/audio.py), which decode
them when they are played.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import av
from aiortc import MediaStreamTrack, RTCRtpCodecParameters, RTCRtpReceiver
from aiortc.mediastreams import MediaStreamError

from recorder.aiortc_hooks import Decoder, JitterFrame, get_decoder, take_decoder_queue

log = logging.getLogger(__name__)

Sink = Callable[[Any], None]

# While a video waits for a keyframe to resume on, how often to ask for one: a
# request per frame would flood the sender, and a lost one must be repeated.
KEYFRAME_REQUEST_INTERVAL_S = 0.5
# Video frames up to this many pixels are decoded right on the event loop once
# one of that size has been seen: a 320x180 VP8 frame decodes in less time
# than handing it to a thread costs (bench/README.md has the runs). Larger
# frames (640x360 takes 0.6 ms, a 720p keyframe several) stay on the thread,
# so the loop never waits long on one.
INLINE_DECODE_MAX_PIXELS = 320 * 240


VP8_START_CODE = b"\x9d\x01\x2a"


def is_keyframe(codec_name: str, data: bytes) -> bool:
    """Whether an encoded frame decodes on its own; True where the codec's
    frames are not understood here (they are then always decoded)."""
    if codec_name == "VP8":
        # RFC 6386 9.1: a 0 bit marks a key frame, whose start code follows the
        # frame tag; both, so that a frame reassembled from its middle is none.
        return len(data) >= 6 and not data[0] & 1 and data[3:6] == VP8_START_CODE
    if codec_name == "H264":
        # Annex B, as aiortc reassembles it: an IDR slice is NAL unit type 5.
        return any(unit and unit[0] & 0x1F == 5 for unit in data.split(b"\x00\x00\x01"))
    return True


class DecodeTap:
    """Stands in for a receiver's decoder queue. aiortc puts ``(codec,
    encoded_frame)`` items here from the event loop and ``None`` when the
    receiver stops; its own decoder thread waits in :meth:`get` until then and
    ends the track as usual, so a reader of the track still learns it ended.

    ``inline_pixels``: None decodes every frame right here on the loop (audio: a
    20 ms Opus frame decodes in tens of microseconds, less than handing it to a
    thread costs). A number (video) decodes on a thread of the tap's own, except
    while the last frame decoded had at most that many pixels: then the next one
    is decoded here, once the thread has none left, so frames keep their order
    and the decoder is never used by both.

    ``wanted``: asked before each frame; while it says no (a video no layout
    shows) frames are not decoded, and once it says yes again decoding resumes
    at the next keyframe, which is asked of the sender."""

    def __init__(
        self,
        name: str,
        sink: Sink,
        *,
        inline_pixels: int | None,
        wanted: Callable[[], bool] | None = None,
    ) -> None:
        self._name = name
        self._sink = sink
        # Set to have aiortc ask the sender for a keyframe (tap_receiver wires it).
        self.decode_error = threading.Event()
        self._inline_pixels = inline_pixels
        self._inline = inline_pixels is None
        self._wanted = wanted
        self._resuming = False  # skipped frames: the next decoded must be a keyframe
        self._asked_at = -KEYFRAME_REQUEST_INTERVAL_S
        self._decoder: Decoder | None = None
        self._codec_name = ""
        self._items: queue.SimpleQueue[tuple[Any, Any] | None] = queue.SimpleQueue()
        # Items handed to the thread and not yet decoded; only the thread lowers it,
        # after decoding, so the loop reading 0 means the decoder is free.
        self._queued = 0
        self._queued_lock = threading.Lock()
        self._drained = threading.Condition(self._queued_lock)
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    # -- aiortc's side of its decoder queue --------------------------------------

    def put(self, item: tuple[Any, Any] | None) -> None:
        if item is None:
            self._stopped.set()
            self._items.put(None)  # ends the decoding thread, if one runs
        elif self._inline and not self._queued:
            self._decode(*item)
        else:
            with self._queued_lock:
                self._queued += 1
            if self._thread is None:
                # Started by the first frame: a receiver that never ran never stops.
                self._thread = threading.Thread(
                    target=self._run, name=f"{self._name}-decode", daemon=True
                )
                self._thread.start()
            self._items.put(item)

    def get(self) -> None:
        self._stopped.wait()

    def wait_idle(self, timeout: float) -> bool:
        """Whether the decoding thread is left with nothing within ``timeout``:
        from then on, frames are decoded where they are put (while small)."""
        with self._queued_lock:
            return self._drained.wait_for(lambda: not self._queued, timeout)

    # -- decoding -----------------------------------------------------------------

    def _run(self) -> None:
        while (item := self._items.get()) is not None:
            try:
                self._decode(*item)
            finally:
                with self._queued_lock:
                    self._queued -= 1
                    if not self._queued:
                        self._drained.notify_all()

    def _decode(self, codec: RTCRtpCodecParameters, encoded_frame: JitterFrame) -> None:
        if self._wanted is not None and not self._wanted():
            self._resuming = True
            return
        if self._resuming:
            if not is_keyframe(codec.name, encoded_frame.data):
                self._ask_keyframe()
                return
            self._resuming = False
        if self._decoder is None or codec.name != self._codec_name:
            self._decoder, self._codec_name = get_decoder(codec), codec.name
        try:
            frames = self._decoder.decode(encoded_frame)
        except av.FFmpegError as exc:
            # The decoder keeps its state; a keyframe request repairs the picture.
            log.warning("%s: decoding %s failed: %s", self._name, codec.name, exc)
            self._ask_keyframe()
            return
        if self._inline_pixels is not None and frames:
            last = frames[-1]
            if isinstance(last, av.VideoFrame):
                self._inline = last.width * last.height <= self._inline_pixels
        for frame in frames:
            try:
                self._sink(frame)
            except Exception:
                # One bad frame must not end the track's decoding for good.
                log.exception("%s: storing a decoded frame failed", self._name)

    def resume_at_keyframe(self) -> None:
        """What came was lost in part for good: the frames after it would
        decode against a picture the decoder never had, so they are skipped
        until a keyframe, which is asked for now."""
        self._resuming = True
        self._asked_at = -KEYFRAME_REQUEST_INTERVAL_S
        self._ask_keyframe()

    def _ask_keyframe(self) -> None:
        """aiortc sends the sender a picture loss indication with its next packet."""
        now = time.monotonic()
        if now - self._asked_at >= KEYFRAME_REQUEST_INTERVAL_S:
            self._asked_at = now
            self.decode_error.set()


def tap_receiver(
    receiver: RTCRtpReceiver, name: str, sink: Sink, wanted: Callable[[], bool] | None = None
) -> DecodeTap:
    """Routes ``receiver``'s frames, decoded, to ``sink``; call it before the
    receiver starts (from the peer connection's ``track`` event)."""
    tap = DecodeTap(
        name,
        sink,
        inline_pixels=INLINE_DECODE_MAX_PIXELS if receiver.track.kind == "video" else None,
        wanted=wanted,
    )
    tap.decode_error = take_decoder_queue(receiver, tap)
    return tap


async def drain(track: MediaStreamTrack, sink: Sink) -> None:
    """Hands what ``track.recv()`` gives to ``sink`` until the track ends: every
    frame where the receiver could not be tapped; none where it was (the tap
    stores them), and this only waits for the end."""
    with contextlib.suppress(MediaStreamError):
        while True:
            sink(await track.recv())
