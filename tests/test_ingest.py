"""Received media decoded straight into sinks: two real aiortc peers over
loopback, one sending a colour camera and a tone, one receiving as the
recorder does."""

from __future__ import annotations

import asyncio
import fractions
import itertools
import threading
import tomllib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import av
import numpy as np
import pytest
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpCodecParameters,
)
from packaging.requirements import Requirement

from cloudrec.synthetic import ColorVideoTrack, ToneAudioTrack, encode_video_loop, rgb_to_yuv
from recorder.aiortc_hooks import (
    JitterFrame,
    UnsupportedAiortcError,
    ask_bitrate,
    keep_sent_timestamps,
    observe_sender_reports,
    receive_directly,
    repeat_nacks,
    run_now,
    take_audio_packets,
    take_decoder_queue,
)
from recorder.ingest import DecodeTap, drain, is_keyframe, tap_receiver

# Frames to see per track before a path counts as working: a few, not one, so a
# keyframe alone does not pass.
ENOUGH_FRAMES = 5
WAIT_S = 10.0
# VP8 at aiortc's default bitrate moves a flat colour's luma by a few steps.
LUMA_TOLERANCE = 8


@dataclass
class Received:
    """What one receiving peer's sinks got, and on which threads."""

    frames: dict[str, list[Any]] = field(default_factory=lambda: {"audio": [], "video": []})
    threads: dict[str, set[str]] = field(default_factory=lambda: {"audio": set(), "video": set()})
    taps: dict[str, DecodeTap | None] = field(default_factory=dict)
    drains: list[asyncio.Task[None]] = field(default_factory=list)
    enough: asyncio.Event = field(default_factory=asyncio.Event)
    video_on_loop: asyncio.Event = field(default_factory=asyncio.Event)

    def sink(self, kind: str, loop: asyncio.AbstractEventLoop) -> Callable[[Any], None]:
        def store(frame: Any) -> None:
            self.frames[kind].append(frame)
            self.threads[kind].add(threading.current_thread().name)
            if all(len(got) >= ENOUGH_FRAMES for got in self.frames.values()):
                loop.call_soon_threadsafe(self.enough.set)
            if kind == "video" and threading.current_thread() is threading.main_thread():
                loop.call_soon_threadsafe(self.video_on_loop.set)

        return store


async def connect(sender: RTCPeerConnection, receiver: RTCPeerConnection) -> None:
    """``sender`` sends a green camera and a tone to ``receiver``."""
    sender.addTrack(ColorVideoTrack("#00FF00", 320, 180, 15))
    sender.addTrack(ToneAudioTrack(440.0))
    await sender.setLocalDescription(await sender.createOffer())
    await receiver.setRemoteDescription(sender.localDescription)
    await receiver.setLocalDescription(await receiver.createAnswer())
    await sender.setRemoteDescription(receiver.localDescription)


@asynccontextmanager
async def peers(*, tap: bool) -> AsyncIterator[tuple[RTCPeerConnection, Received]]:
    """A sender of a camera and a tone, and a receiver that routes both tracks
    into sinks (through a tap when ``tap``, else only through drain())."""
    loop = asyncio.get_running_loop()
    sender = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    receiver = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    got = Received()

    @receiver.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        rtp_receiver = next(
            t.receiver for t in receiver.getTransceivers() if t.receiver.track is track
        )
        sink = got.sink(track.kind, loop)
        if tap:
            got.taps[track.kind] = tap_receiver(rtp_receiver, f"test.{track.kind}", sink)
        got.drains.append(asyncio.create_task(drain(track, sink)))

    await connect(sender, receiver)
    try:
        yield receiver, got
    finally:
        await sender.close()
        await receiver.close()
        for task in got.drains:
            task.cancel()


async def test_tapped_tracks_decode_without_hops_and_still_end() -> None:
    async with peers(tap=True) as (receiver, got):
        # The aiortc this project installs is the one the tap knows.
        assert all(isinstance(got.taps[kind], DecodeTap) for kind in ("audio", "video"))
        await asyncio.wait_for(got.enough.wait(), WAIT_S)
        # The first video frame is decoded on the tap's thread; at 320x180 the
        # next ones are decoded right on the loop, as audio is (once the thread
        # has none left: under load a few may queue behind the first). None
        # comes back through the tracks' queues.
        await asyncio.wait_for(got.video_on_loop.wait(), WAIT_S)
        loop_thread = threading.main_thread().name
        assert got.threads["video"] == {"test.video-decode", loop_thread}
        assert got.threads["audio"] == {loop_thread}
        video = got.frames["video"][-1]
        assert (video.width, video.height) == (320, 180)
        luma = float(np.mean(video.to_ndarray()[:180]))
        assert abs(luma - rgb_to_yuv((0, 255, 0))[0]) < LUMA_TOLERANCE
        assert got.frames["audio"][-1].sample_rate == 48_000
        await receiver.close()
        # The tracks end as usual, so whoever follows them learns it.
        await asyncio.wait_for(asyncio.gather(*got.drains), WAIT_S)


async def test_an_untapped_track_is_read_through_recv() -> None:
    async with peers(tap=False) as (_receiver, got):
        await asyncio.wait_for(got.enough.wait(), WAIT_S)
        assert got.threads["video"] == {threading.main_thread().name}


async def test_a_started_receiver_is_refused() -> None:
    async with peers(tap=False) as (receiver, got):
        await asyncio.wait_for(got.enough.wait(), WAIT_S)
        started = receiver.getReceivers()[0]
        with pytest.raises(ValueError, match="started"):
            tap_receiver(started, "late", got.sink("video", asyncio.get_running_loop()))


def test_an_aiortc_laid_out_otherwise_is_refused_loudly() -> None:
    """No silent fallback that would turn decode gating and keyframe resume
    off, or place media by arrival instead of capture."""
    laid_out_otherwise: Any = SimpleNamespace()
    for hook in (
        lambda r: take_decoder_queue(r, object()),
        keep_sent_timestamps,
        lambda r: observe_sender_reports(r, lambda _ts, _ntp: None),
        lambda r: take_audio_packets(r, lambda _ts, _data: None),
        ask_bitrate,
        lambda r: repeat_nacks(r, lambda: None),
        receive_directly,
    ):
        with pytest.raises(UnsupportedAiortcError, match=r"pyproject\.toml"):
            hook(laid_out_otherwise)


async def test_audio_packets_come_straight_and_timestamps_as_sender_reports_say() -> None:
    """The hooks recorder/capture.py stands on, with real peers: audio packets
    as they come (aiortc decodes none), video frames stamped as sent, and
    sender reports of both in the same timestamps."""
    sender = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    receiver = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    packets: list[tuple[int, bytes]] = []
    reports: dict[str, list[tuple[int, float]]] = {"audio": [], "video": []}
    frames: list[Any] = []
    decoded_audio: list[Any] = []
    reported = asyncio.Event()
    drains = []

    def report(kind: str) -> Callable[[int, float], None]:
        def seen(timestamp: int, ntp_s: float) -> None:
            reports[kind].append((timestamp, ntp_s))
            if all(reports.values()):
                reported.set()

        return seen

    @receiver.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        rtp = next(t.receiver for t in receiver.getTransceivers() if t.receiver.track is track)
        sink = frames.append if track.kind == "video" else decoded_audio.append
        tap_receiver(rtp, f"test.{track.kind}", sink)
        observe_sender_reports(rtp, report(track.kind))
        if track.kind == "video":
            keep_sent_timestamps(rtp)
        else:
            take_audio_packets(rtp, lambda ts, data: packets.append((ts, data)))
        drains.append(asyncio.create_task(drain(track, sink)))

    await connect(sender, receiver)
    try:
        await asyncio.wait_for(reported.wait(), WAIT_S)
    finally:
        await sender.close()
        await receiver.close()
        await asyncio.gather(*drains, return_exceptions=True)
    assert len(packets) > ENOUGH_FRAMES and not decoded_audio
    steps = {(b[0] - a[0]) % (1 << 32) for a, b in itertools.pairwise(packets)}
    assert steps == {960}, "20 ms Opus packets, in order on loopback"
    # A report speaks of the timestamps the media carries (aiortc's sender
    # stamps it with the last it sent): within a second of them.
    for kind, stamps, rate in (
        ("audio", [ts for ts, _ in packets], 48_000),
        ("video", [f.pts for f in frames], 90_000),
    ):
        timestamp, _ = reports[kind][-1]
        nearest = min(abs((timestamp - ts + (1 << 31)) % (1 << 32) - (1 << 31)) for ts in stamps)
        assert nearest < rate, (kind, nearest)


def test_the_installed_aiortc_and_aioice_are_releases_the_hooks_were_tested_with() -> None:
    project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
    for name in ("aiortc", "aioice"):
        pinned = next(d for d in project["project"]["dependencies"] if d.startswith(name))
        assert Requirement(pinned).specifier.contains(version(name)), pinned


def test_a_frame_that_fails_to_decode_asks_for_a_keyframe() -> None:
    frames: list[av.VideoFrame] = []
    tap = DecodeTap("unit", frames.append, inline_pixels=None)
    error = tap.decode_error
    vp8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90_000, payloadType=96)
    tap.put((vp8, JitterFrame(data=b"\x00not vp8 at all", timestamp=0)))
    assert error.is_set() and not frames
    tap.put((vp8, JitterFrame(data=_vp8_keyframe(), timestamp=3000)))
    assert len(frames) == 1
    # aiortc's own decoder thread waits in get() until the receiver stops.
    waiter = threading.Thread(target=tap.get)
    waiter.start()
    tap.put(None)
    waiter.join(WAIT_S)
    assert not waiter.is_alive()


def test_an_unshown_video_is_not_decoded_and_resumes_at_a_keyframe() -> None:
    packets = encode_video_loop("#FF0000", 64, 64, 15)  # one keyframe, then deltas
    error = threading.Event()
    frames: list[av.VideoFrame] = []
    shown = [True]
    tap = DecodeTap("unit", frames.append, inline_pixels=None, wanted=lambda: shown[0])
    error = tap.decode_error
    vp8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90_000, payloadType=96)

    def put(*indices: int) -> None:
        for i in indices:
            tap.put((vp8, JitterFrame(data=packets[i], timestamp=i * 6000)))

    put(0, 1, 2)
    assert len(frames) == 3
    shown[0] = False
    put(3, 4, 5)
    assert len(frames) == 3 and not error.is_set()
    shown[0] = True
    put(6)  # a delta frame after a gap would decode wrong: skipped, a keyframe asked for
    assert len(frames) == 3 and error.is_set()
    error.clear()
    put(7)
    assert not error.is_set(), "asked again at once"
    put(0, 1)  # the keyframe the sender was asked for, and what follows it
    assert len(frames) == 5


def test_frames_after_a_loss_for_good_wait_for_a_keyframe() -> None:
    packets = encode_video_loop("#FF0000", 64, 64, 15)  # one keyframe, then deltas
    frames: list[av.VideoFrame] = []
    tap = DecodeTap("unit", frames.append, inline_pixels=None)
    vp8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90_000, payloadType=96)

    def put(*indices: int) -> None:
        for i in indices:
            tap.put((vp8, JitterFrame(data=packets[i], timestamp=i * 6000)))

    put(0, 1, 2)
    tap.resume_at_keyframe()  # frame 3 was lost for good
    assert tap.decode_error.is_set(), "a keyframe is asked for at once"
    tap.decode_error.clear()
    put(4, 5)
    assert len(frames) == 3, "the frames after the loss are not decoded"
    put(0, 1)
    assert len(frames) == 5


@pytest.mark.parametrize(("size", "inline_after_first"), [((64, 64), True), ((96, 96), False)])
def test_small_video_frames_are_decoded_in_place_and_in_order(
    size: tuple[int, int], inline_after_first: bool
) -> None:
    """With a limit of 64x64 pixels: the first frame (of a size not yet known)
    goes to the thread, and so do those put while the thread still holds it;
    after a small one, the rest are decoded in place, and larger ones all stay
    on the thread. Frames leave in the order they came."""
    packets = encode_video_loop("#FF0000", *size, 15)
    stored: list[tuple[int | None, str]] = []
    each = threading.Semaphore(0)
    holding, release = threading.Event(), threading.Event()

    def sink(frame: av.VideoFrame) -> None:
        if not stored:  # the first frame, decoded: held until the next ones are put
            holding.set()
            release.wait(WAIT_S)
        stored.append((frame.pts, threading.current_thread().name))
        each.release()

    tap = DecodeTap("unit", sink, inline_pixels=64 * 64)
    vp8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90_000, payloadType=96)

    def put(i: int) -> None:
        tap.put((vp8, JitterFrame(data=packets[i], timestamp=i * 6000)))

    burst = 5
    put(0)
    assert holding.wait(WAIT_S)
    for i in range(1, burst):
        put(i)
    release.set()
    for _ in range(burst):
        assert each.acquire(timeout=WAIT_S)
    # The thread lets go of the last after storing it.
    assert tap.wait_idle(WAIT_S)
    for i in range(burst, len(packets)):
        put(i)  # one at a time, as a camera's frames come
        assert each.acquire(timeout=WAIT_S)
    tap.put(None)
    assert [pts for pts, _ in stored] == [i * 6000 for i in range(len(packets))]
    threads = [name for _, name in stored]
    assert threads[:burst] == ["unit-decode"] * burst
    in_place = threading.current_thread().name if inline_after_first else "unit-decode"
    assert set(threads[burst:]) == {in_place}


def test_keyframes_are_told_from_delta_frames() -> None:
    vp8 = encode_video_loop("#FF0000", 64, 64, 15)
    assert is_keyframe("VP8", vp8[0]) and not any(is_keyframe("VP8", p) for p in vp8[1:])
    # A keyframe reassembled from its middle (its first packets given up on)
    # whose first byte happens to read as a key frame's tag: none.
    middle = next(vp8[0][i:] for i in range(1, len(vp8[0])) if not vp8[0][i] & 1)
    assert not is_keyframe("VP8", middle)
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = 64, 64, "yuv420p"
    codec.time_base = fractions.Fraction(1, 15)
    codec.options = {"tune": "zerolatency", "keyint": "100"}
    h264 = []
    for n in range(5):
        frame = av.VideoFrame.from_ndarray(np.full((96, 64), n * 40, np.uint8), format="yuv420p")
        frame.pts = n
        h264 += [bytes(p) for p in codec.encode(frame)]
    assert is_keyframe("H264", h264[0]) and not any(is_keyframe("H264", p) for p in h264[1:])
    assert is_keyframe("unknown", b"")  # not understood: always decoded


def _vp8_keyframe() -> bytes:
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = 64, 64, "yuv420p"
    codec.time_base = fractions.Fraction(1, 15)
    frame = av.VideoFrame.from_ndarray(np.zeros((96, 64), np.uint8), format="yuv420p")
    frame.pts = 0
    packets = [*codec.encode(frame), *codec.encode(None)]
    return bytes(packets[0])


@pytest.fixture(autouse=True)
def _no_leftover_decoder_threads() -> Any:
    yield
    # Taps' threads end when their receivers stop.
    lingering = [t for t in threading.enumerate() if t.name.endswith("-decode")]
    for thread in lingering:
        thread.join(WAIT_S)
    assert not any(t.is_alive() for t in lingering)


# aiortc's sender encodes at the bitrate its last REMB named.
ASKED_BITRATE = 250_000
# Frames the sender encodes after the REMB, in which its estimator (were it
# running) would have sent its own.
FRAMES_AFTER_ASKING = 20


async def test_media_is_taken_directly_and_the_sender_keeps_to_the_asked_bitrate() -> None:
    """receive_directly with real peers: audio and video arrive whole through
    the short ways, and a video's sender encodes at the bitrate asked of it,
    with no estimate of the receiver's overriding it."""
    sender = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    receiver = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    packets: list[tuple[int, bytes]] = []
    frames: list[Any] = []
    asks: list[Callable[[int], Awaitable[None]]] = []
    enough = asyncio.Event()
    drains = []

    def store_frame(frame: Any) -> None:
        frames.append(frame)
        if len(frames) >= ENOUGH_FRAMES and len(packets) >= ENOUGH_FRAMES:
            enough.set()

    @receiver.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        rtp = next(t.receiver for t in receiver.getTransceivers() if t.receiver.track is track)
        if track.kind == "video":
            tap_receiver(rtp, "test.video", store_frame)
            asks.append(ask_bitrate(rtp))
        else:
            tap_receiver(rtp, "test.audio", lambda _frame: None)
            take_audio_packets(rtp, lambda ts, data: packets.append((ts, data)))
        drains.append(asyncio.create_task(drain(track, lambda _frame: None)))

    sender.addTrack(ColorVideoTrack("#00FF00", 320, 180, 15))
    sender.addTrack(ToneAudioTrack(440.0))
    await sender.setLocalDescription(await sender.createOffer())
    await receiver.setRemoteDescription(sender.localDescription)
    await receiver.setLocalDescription(await receiver.createAnswer())
    (transport,) = {t.receiver.transport for t in receiver.getTransceivers()}
    receive_directly(transport)
    receive_directly(transport)  # once per transport: a second call changes nothing
    await sender.setRemoteDescription(receiver.localDescription)
    video_sender = next(s for s in sender.getSenders() if s.track and s.track.kind == "video")
    try:
        await asyncio.wait_for(enough.wait(), WAIT_S)
        (ask,) = asks
        await ask(ASKED_BITRATE)
        encoder = await _until_set(lambda: getattr(video_sender, "_RTCRtpSender__encoder", None))
        await _until_set(lambda: encoder.target_bitrate == ASKED_BITRATE or None)
        seen = len(frames)
        await _until_set(lambda: len(frames) >= seen + FRAMES_AFTER_ASKING or None)
        assert encoder.target_bitrate == ASKED_BITRATE
        # aiortc's own way (its queue and transport task) carried only ICE,
        # DTLS and RTCP: fewer datagrams than the audio alone.
        assert transport._RTCDtlsTransport__rx_packets < len(packets)  # type: ignore[attr-defined]
    finally:
        await sender.close()
        await receiver.close()
        await asyncio.gather(*drains, return_exceptions=True)
    steps = {(b[0] - a[0]) % (1 << 32) for a, b in itertools.pairwise(packets)}
    assert steps == {960}, "20 ms Opus packets, whole and in order"
    assert all(np.asarray(f.to_ndarray(format="yuv420p")).size for f in frames)


async def test_taken_directly_a_video_kept_to_the_estimate_still_gets_one() -> None:
    """With ``--estimate-bandwidth`` aiortc's estimator stays, fed the packets'
    arrival times by the direct path: the sender hears an estimate (REMB) and
    moves its encoder to it."""
    sender = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    receiver = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    drains = []

    @receiver.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        drains.append(asyncio.create_task(drain(track, lambda _frame: None)))

    sender.addTrack(ColorVideoTrack("#00FF00", 320, 180, 15))
    await sender.setLocalDescription(await sender.createOffer())
    await receiver.setRemoteDescription(sender.localDescription)
    await receiver.setLocalDescription(await receiver.createAnswer())
    (transport,) = {t.receiver.transport for t in receiver.getTransceivers()}
    receive_directly(transport)
    await sender.setRemoteDescription(receiver.localDescription)
    (video_sender,) = sender.getSenders()
    try:
        encoder = await _until_set(lambda: getattr(video_sender, "_RTCRtpSender__encoder", None))
        first = encoder.target_bitrate
        await _until_set(lambda: encoder.target_bitrate != first or None)
    finally:
        await sender.close()
        await receiver.close()
        await asyncio.gather(*drains, return_exceptions=True)


def test_run_now_finishes_what_does_not_wait_and_hands_on_what_does() -> None:
    async def main() -> None:
        done: list[str] = []
        later: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        async def quick() -> None:
            done.append("quick")

        async def waits() -> None:
            done.append(await later)

        run_now(quick())
        assert done == ["quick"], "ran to its end before run_now returned"
        run_now(waits())
        later.set_result("waited")
        await asyncio.wait_for(_until_set(lambda: len(done) == 2 or None), WAIT_S)
        assert done == ["quick", "waited"]

    asyncio.run(main())


async def _until_set(value: Callable[[], Any]) -> Any:
    """Polls ``value`` every 10 ms until it is not None (bounded by WAIT_S):
    aiortc's sender state has no event to wait on."""

    async def poll() -> Any:
        while (found := value()) is None:
            await asyncio.sleep(0.01)
        return found

    return await asyncio.wait_for(poll(), WAIT_S)
