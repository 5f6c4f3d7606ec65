"""One participant as the recording bot receives them."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from functools import partial
from typing import Any

import av
from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.sdp import candidate_from_sdp

from cloudrec.contract import TrackMeta
from cloudrec.sources import SHARE_KINDS, SoundId, SourceId
from compositor.planes import I420
from recorder.aiortc_hooks import (
    ask_bitrate,
    keep_sent_timestamps,
    observe_sender_reports,
    receive_directly,
    repeat_nacks,
    take_audio_packets,
)
from recorder.arrival import LeastDelay
from recorder.audio import SAMPLE_RATE, AudioStream
from recorder.capture import VIDEO_CLOCK_RATE, VIDEO_STEADY_FRAMES, StreamClock
from recorder.demand import Shown, asked_bitrate
from recorder.ingest import Sink, drain, tap_receiver
from recorder.opus import advertise_fec
from recorder.preview import PreviewTrack
from recorder.receive import arrival_time
from recorder.tracks import CameraSlot, TrackRegistry

SizeRequest = list[dict[str, Any]]
# How often packets still missing are asked for again: a lost retransmission
# costs the picture this long, not a stall until the next loss (aiortc asks
# only when it sees a gap). Longer than a round trip on a LAN, so a packet on
# its way is rarely asked for twice.
NACK_REPEAT_S = 0.100
# How often each sender hears the bitrate asked of it (REMB) while its box
# stays the same (a new box is told at the next NACK_REPEAT_S): browsers hold
# the last they heard.
BITRATE_REPEAT_S = 1.0


def rtc_configuration() -> RTCConfiguration:
    """No ICE servers (media stays on the host's own addresses); max-bundle,
    because aiortc's default ('balanced') strands a second video m-line on a
    transport it discards when a browser bundles everything onto its first,
    audio, m-line: a browser's screen share would never be received."""
    return RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


class Publisher:
    """Owns what the bot receives from one participant: their connection (and,
    when they watch the mix, the preview sent back to them), what each of its
    m-lines carries, a video slot per source in the room's registry, a buffer
    per sound, and the sizes last asked of them. close() ends all of it."""

    def __init__(
        self, user: str, registry: TrackRegistry, estimate_bandwidth: bool = False
    ) -> None:
        self.user = user
        self._registry = registry
        # True: aiortc estimates each video's bandwidth from its packets' timing
        # (REMB), else each is asked for the bitrate its box needs.
        self._estimate_bandwidth = estimate_bandwidth
        self._pc: RTCPeerConnection | None = None
        self._preview: RTCPeerConnection | None = None
        self._tracks: dict[str | None, TrackMeta] = {}
        self._videos: dict[SourceId, tuple[str, CameraSlot]] = {}  # source -> (mid, slot)
        self._boxes: dict[SourceId, Shown] = {}  # the shown ones' boxes
        self.sounds: dict[SoundId, AudioStream] = {}
        # Their wall clock on ours, shared by all they send (recorder/capture.py).
        self._sender = LeastDelay()
        self.asked: SizeRequest | None = None  # the last size request they heard
        self._readers: set[asyncio.Task[None]] = set()

    @property
    def videos(self) -> Mapping[SourceId, str]:
        """Each video received, by source, with its m-line."""
        return {source: mid for source, (mid, _) in self._videos.items()}

    def show(self, boxes: Mapping[SourceId, Shown]) -> None:
        """Decodes only the videos some layout shows (recorder/ingest.py), and
        asks for each at the bitrate of the box it is shown in."""
        for source, (_, slot) in self._videos.items():
            slot.shown = source in boxes
        self._boxes = {s: boxes[s] for s in self._videos if s in boxes}

    async def answer(self, sdp: str, tracks: Sequence[TrackMeta]) -> RTCSessionDescription:
        """Takes an offer; ``tracks`` say what its m-lines carry (checked by the
        server on the way). Publishers offer afresh when what they send changes
        (a share starts or stops): the new connection replaces the old, whose
        tracks end."""
        self._tracks = {t.mid: t for t in tracks}
        self.asked = None  # a new connection's senders start unconstrained
        if self._pc is not None:
            await self._pc.close()
        pc = self._pc = RTCPeerConnection(rtc_configuration())
        self._sender = LeastDelay()  # a new connection: its senders start over
        pc.on("track", lambda track: self._on_track(pc, track))
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        for transport in {t.receiver.transport for t in pc.getTransceivers()}:
            receive_directly(transport)
        local = pc.localDescription
        return RTCSessionDescription(sdp=advertise_fec(local.sdp), type=local.type)

    async def add_candidate(self, candidate: Mapping[str, Any]) -> None:
        if self._pc is None or not candidate.get("candidate"):
            return
        found = candidate_from_sdp(str(candidate["candidate"]).removeprefix("candidate:"))
        found.sdpMid = candidate.get("sdpMid")
        found.sdpMLineIndex = candidate.get("sdpMLineIndex")
        await self._pc.addIceCandidate(found)

    async def answer_preview(
        self, sdp: str, canvas: Callable[[], I420 | None]
    ) -> RTCSessionDescription:
        """Sends them the mix they offered to receive."""
        if self._preview is not None:
            await self._preview.close()
        pc = self._preview = RTCPeerConnection(rtc_configuration())
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        pc.addTrack(PreviewTrack(canvas))
        await pc.setLocalDescription(await pc.createAnswer())
        return pc.localDescription

    async def close(self) -> None:
        """They left (or the bot ends): their connections close, their tracks end."""
        self._registry.user_left(self.user)
        self.sounds.clear()
        self._videos.clear()
        connections = [pc for pc in (self._pc, self._preview) if pc is not None]
        self._pc = self._preview = None
        await asyncio.gather(*(pc.close() for pc in connections), return_exceptions=True)
        for task in list(self._readers):
            task.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)

    def _on_track(self, pc: RTCPeerConnection, track: MediaStreamTrack) -> None:
        """Called while the offer is applied, before the receiver starts: the
        place to route its frames (see recorder/ingest.py)."""
        transceiver = next((t for t in pc.getTransceivers() if t.receiver.track is track), None)
        mid = transceiver.mid if transceiver is not None else None
        meta = self._tracks.get(mid)
        said = meta.source if meta is not None else None
        wanted = None
        playout = self._registry.playout
        if track.kind == "video":
            cam = meta.cam_id if meta is not None and meta.cam_id is not None else 0
            source = (
                SourceId.share(self.user, said)
                if said in SHARE_KINDS
                else SourceId.camera(self.user, cam)
            )
            slot = self._registry.add(source)
            if mid is not None:
                self._videos[source] = (mid, slot)
            clock = StreamClock(VIDEO_CLOCK_RATE, self._sender, playout, steady=VIDEO_STEADY_FRAMES)
            sink: Sink = _video_sink(slot, clock)
            wanted = partial(getattr, slot, "shown")  # read before each frame is decoded
            follow = self._follow_video(source, slot, track, sink, clock)
            name = str(source)
        else:
            sound = SoundId(self.user, shared_file=said == "media")
            clock = StreamClock(SAMPLE_RATE, self._sender, playout)
            stream = self.sounds[sound] = AudioStream(clock, playout)
            sink = _no_frames  # aiortc decodes none: its packets go to the stream
            follow = self._follow_audio(sound, stream, track)
            name = str(sound)
        if transceiver is not None:
            receiver = transceiver.receiver
            tap = tap_receiver(receiver, name, sink, wanted)
            observe_sender_reports(receiver, clock.report)
            if track.kind == "video":
                keep_sent_timestamps(receiver)
                # Unless aiortc estimates it, the bitrate its box needs.
                bitrate = None if self._estimate_bandwidth else ask_bitrate(receiver)
                box = partial(self._box, source)
                nack_again = repeat_nacks(receiver, tap.resume_at_keyframe)
                self._spawn(_feedback(track, nack_again, bitrate, box))
            else:
                take_audio_packets(receiver, partial(_push_packet, stream))
        self._spawn(follow)

    def _box(self, source: SourceId) -> Shown | None:
        return self._boxes.get(source)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """A task that lives as long as this publisher at most."""
        task = asyncio.create_task(work)
        self._readers.add(task)
        task.add_done_callback(self._readers.discard)

    async def _follow_video(
        self,
        source: SourceId,
        slot: CameraSlot,
        track: MediaStreamTrack,
        sink: Sink,
        clock: StreamClock,
    ) -> None:
        await drain(track, sink)
        clock.close()  # its lateness no longer holds the playout delay up
        self._registry.ended(source)
        # A re-offer's track may have taken the source before this one ended.
        with contextlib.suppress(KeyError):
            if self._videos[source][1] is slot:
                del self._videos[source]

    async def _follow_audio(
        self, sound: SoundId, stream: AudioStream, track: MediaStreamTrack
    ) -> None:
        await drain(track, _no_frames)
        stream.close()
        if self.sounds.get(sound) is stream:
            del self.sounds[sound]


def _video_sink(slot: CameraSlot, clock: StreamClock) -> Sink:
    def store(frame: av.VideoFrame) -> None:
        now = time.monotonic()
        # Shown by when it was captured (recorder/capture.py).
        captured = clock.place(frame.pts, now)[1] if frame.pts is not None else now
        slot.push(captured, frame, now, clock.reading)

    return store


async def _feedback(
    track: MediaStreamTrack,
    nack_again: Callable[[], Awaitable[None]],
    ask_bitrate: Callable[[int], Awaitable[None]] | None,
    box: Callable[[], Shown | None],
) -> None:
    """While a video's track lasts: asks again for its missing packets every
    NACK_REPEAT_S, and (``ask_bitrate``) for the bitrate its box needs, every
    BITRATE_REPEAT_S and as soon as the box changes."""
    asked, since = 0, 0.0
    while track.readyState != "ended":
        await asyncio.sleep(NACK_REPEAT_S)
        with contextlib.suppress(ConnectionError):
            await nack_again()
            if ask_bitrate is None:
                continue
            bitrate, now = asked_bitrate(box()), time.monotonic()
            if bitrate != asked or now - since >= BITRATE_REPEAT_S:
                await ask_bitrate(bitrate)
                asked, since = bitrate, now


def _push_packet(stream: AudioStream, timestamp: int, packet: bytes) -> None:
    stream.push(timestamp, packet, arrival_time())


def _no_frames(_frame: Any) -> None:
    """An audio receiver's tap: aiortc decodes none of its packets."""
