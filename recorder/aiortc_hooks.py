"""Everything the recorder uses of aiortc beyond its public API, in one place.

Five hooks on a receiver before it starts:
- the decode tap (recorder/ingest.py) takes the place of its decoder queue, so
  that video frames are decoded where they arrive;
- its frames keep their RTP timestamps as sent, which sender reports speak of
  (aiortc counts them from the first frame's), for recorder/capture.py;
- its sender reports are seen as they come, for the same;
- audio packets go straight to the recorder's own buffer (recorder/audio.py),
  which orders them itself and makes up for lost ones: aiortc's audio jitter
  buffer holds four packets, and a lost one stalls it until sixteen wait;
- video packets still missing are asked for again: aiortc asks once, when
  it sees the gap, and again only with the next gap, so a lost retransmission
  stalls its jitter buffer (and the picture) until the next loss; and one
  missing for too long is given up on: aiortc's jitter buffer would wait for
  it until 128 more packets came (seconds of a small video), where the
  picture resumes at a keyframe asked for at once.
A sixth, ``ask_bitrate``, replaces a video receiver's bandwidth estimator (a
delay-based estimate redone on every packet) with the bitrate the recorder
asks for. And ``receive_directly`` takes media packets off the ICE connection
as they are read, through SRTP and RTP parsing into their receiver right
there, instead of through aiortc's queue, transport task and five coroutines
per packet; ICE, DTLS and RTCP datagrams take aiortc's path as before.
These are private attributes and methods of aiortc's receiver and DTLS
transport and of aioice's connection and sockets. pyproject.toml
pins aiortc to the releases they were tested with, and tests/test_ingest.py
checks the installed one. An aiortc laid out otherwise is refused loudly,
never worked around.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Generator
from importlib.metadata import version
from typing import Any

import pylibsrtp
from aioice import Connection
from aioice.ice import StunProtocol
from aiortc import RTCDtlsTransport, RTCRtpReceiver
from aiortc.codecs import get_decoder, is_rtx
from aiortc.codecs.base import Decoder
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rate import RemoteBitrateEstimator
from aiortc.rtcdtlstransport import RtpRouter
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtpreceiver import NackGenerator, StreamStatistics, TimestampMapper
from aiortc.rtp import (
    RTCP_PSFB_APP,
    HeaderExtensionsMap,
    RtcpPsfbPacket,
    RtcpSrPacket,
    RtpPacket,
    is_rtcp,
    pack_remb_fci,
)

from recorder.receive import arrival_time

__all__ = [
    "Decoder",
    "JitterFrame",
    "ask_bitrate",
    "get_decoder",
    "keep_sent_timestamps",
    "observe_sender_reports",
    "receive_directly",
    "repeat_nacks",
    "take_audio_packets",
    "take_decoder_queue",
]

_QUEUE_ATTR = "_RTCRtpReceiver__decoder_queue"
_THREAD_ATTR = "_RTCRtpReceiver__decoder_thread"
# Set by the decoder after a failure: aiortc then asks the sender for a keyframe.
_ERROR_ATTR = "_RTCRtpReceiver__decoder_error"
_MAPPER_ATTR = "_RTCRtpReceiver__timestamp_mapper"
_JITTER_ATTR = "_RTCRtpReceiver__jitter_buffer"
_RTX_ATTR = "_RTCRtpReceiver__rtx_ssrc"
_NACK_ATTR = "_RTCRtpReceiver__nack_generator"
_ESTIMATOR_ATTR = "_RTCRtpReceiver__remote_bitrate_estimator"
_RTCP_SSRC_ATTR = "_RTCRtpReceiver__rtcp_ssrc"
# On an ICE connection once its media is taken off it (receive_directly).
_DIRECT_ATTR = "_cloudrec_direct"
_CODECS_ATTR = "_RTCRtpReceiver__codecs"
_STREAMS_ATTR = "_RTCRtpReceiver__remote_streams"
# On an audio receiver: its packets' short way (take_audio_packets).
_LEAN_ATTR = "_cloudrec_lean"
# A video packet missing this long is lost for good: asked for again every
# 100 ms (recorder/publisher.py), its retransmission would have come over any
# path a recording is made on; the sender may no longer hold it. A keyframe
# then arrives within a round trip, so a picture recovers within a second.
LOST_FOR_GOOD_S = 0.5
# NTP timestamps are 32.32 fixed point (RFC 3550 4).
_NTP_UNIT = 1 << 32

# A sender report: the RTP timestamp of an instant and its NTP time in seconds.
ReportSink = Callable[[int, float], None]
# An audio packet: its RTP timestamp and payload.
PacketSink = Callable[[int, bytes], None]


class UnsupportedAiortcError(RuntimeError):
    """This aiortc's receiver is not laid out as the recorder expects."""


def take_decoder_queue(receiver: RTCRtpReceiver, stand_in: Any) -> threading.Event:
    """Puts ``stand_in`` (``put(item)``, ``get()``) where ``receiver``'s decoder
    thread takes its encoded frames from; returns the event that, once set, has
    aiortc ask the sender for a keyframe. Before the receiver starts (from the
    peer connection's ``track`` event)."""
    current = getattr(receiver, _QUEUE_ATTR, None)
    error = getattr(receiver, _ERROR_ATTR, None)
    if not isinstance(current, queue.Queue) or not isinstance(error, threading.Event):
        raise UnsupportedAiortcError(
            f"aiortc {version('aiortc')} keeps no decoder queue where the recorder "
            "expects one; pyproject.toml names the releases it was tested with"
        )
    if getattr(receiver, _THREAD_ATTR, None) is not None:
        raise ValueError("the receiver has started: its frames go to its own decoder")
    setattr(receiver, _QUEUE_ATTR, stand_in)
    return error


def _expect(receiver: RTCRtpReceiver, attr: str, kind: type) -> None:
    if not isinstance(getattr(receiver, attr, None), kind):
        raise UnsupportedAiortcError(
            f"aiortc {version('aiortc')} keeps no {kind.__name__} where the recorder "
            "expects one; pyproject.toml names the releases it was tested with"
        )


class _AsSent:
    """In place of aiortc's timestamp mapper: frames keep the sender's timestamps."""

    def map(self, timestamp: int) -> int:
        return timestamp


def keep_sent_timestamps(receiver: RTCRtpReceiver) -> None:
    """Decoded frames' pts become the RTP timestamps as sent (32 bits, wrapping)."""
    _expect(receiver, _MAPPER_ATTR, TimestampMapper)
    setattr(receiver, _MAPPER_ATTR, _AsSent())


def observe_sender_reports(receiver: RTCRtpReceiver, sink: ReportSink) -> None:
    """Hands ``sink`` every sender report of the receiver's media stream (not
    of its retransmissions) before aiortc handles it."""
    _expect(receiver, _RTX_ATTR, dict)
    handle: Callable[[Any], Awaitable[None]] = receiver._handle_rtcp_packet
    retransmissions: dict[int, int] = getattr(receiver, _RTX_ATTR)

    async def handle_rtcp(packet: Any) -> None:
        if isinstance(packet, RtcpSrPacket) and packet.ssrc not in retransmissions:
            info = packet.sender_info
            sink(info.rtp_timestamp, info.ntp_timestamp / _NTP_UNIT)
        await handle(packet)

    receiver._handle_rtcp_packet = handle_rtcp  # type: ignore[method-assign]


class _Straight:
    """In place of an audio receiver's jitter buffer: every packet goes on as
    it comes, and aiortc decodes nothing."""

    def __init__(self, sink: PacketSink) -> None:
        self._sink = sink

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        # aiortc has put the depayloaded data (for Opus, the payload) here.
        self._sink(packet.timestamp, getattr(packet, "_data", packet.payload))
        return False, None


def take_audio_packets(receiver: RTCRtpReceiver, sink: PacketSink) -> None:
    """Hands ``sink`` every packet an audio receiver gets, as it comes.

    Where the transport's media is received directly, a packet takes a short
    way there: counted for the receiver's RTCP reports, then to ``sink``.
    aiortc's way adds only what a recorder's audio does not use (the
    synchronization sources' times, NACK and jitter buffering, which the
    sink's stream does itself)."""
    _expect(receiver, _JITTER_ATTR, JitterBuffer)
    _expect(receiver, _CODECS_ATTR, dict)
    _expect(receiver, _STREAMS_ATTR, dict)
    setattr(receiver, _JITTER_ATTR, _Straight(sink))
    codecs: dict[int, RTCRtpCodecParameters] = getattr(receiver, _CODECS_ATTR)
    streams: dict[int, StreamStatistics] = getattr(receiver, _STREAMS_ATTR)

    def lean(packet: RtpPacket) -> bool:
        """Takes the packet, or leaves it (False) to aiortc's way."""
        codec = codecs.get(packet.payload_type)
        if codec is None or is_rtx(codec) or not receiver._enabled:
            return False
        stream = streams.get(packet.ssrc)
        if stream is None:
            stream = streams[packet.ssrc] = StreamStatistics(codec.clockRate)
        stream.add(packet)
        sink(packet.timestamp, packet.payload)
        return True

    setattr(receiver, _LEAN_ATTR, lean)


def repeat_nacks(
    receiver: RTCRtpReceiver, given_up: Callable[[], None]
) -> Callable[[], Awaitable[None]]:
    """For a video receiver: a call that asks the sender again for every
    packet still missing (once aiortc has asked for some, which names the
    stream). A packet missing for LOST_FOR_GOOD_S is given up on: aiortc's
    jitter buffer lets go of what waited behind it and starts afresh, and
    ``given_up()`` has the picture resume at the next keyframe."""
    _expect(receiver, _NACK_ATTR, NackGenerator)
    _expect(receiver, _JITTER_ATTR, JitterBuffer)
    generator: NackGenerator = getattr(receiver, _NACK_ATTR)
    jitter: JitterBuffer = getattr(receiver, _JITTER_ATTR)
    send: Callable[[int, list[int]], Awaitable[None]] = receiver._send_rtcp_nack
    stream: list[int] = []  # the media SSRC, once aiortc has named it
    missing_since: dict[int, float] = {}  # sequence number -> first seen missing

    async def nack(media_ssrc: int, lost: list[int]) -> None:
        stream[:] = [media_ssrc]
        await send(media_ssrc, lost)

    async def ask_again() -> None:
        now = time.monotonic()
        for seq in [s for s in missing_since if s not in generator.missing]:
            del missing_since[seq]
        for seq in generator.missing:
            missing_since.setdefault(seq, now)
        if not stream or not missing_since:
            return
        if now - min(missing_since.values()) < LOST_FOR_GOOD_S:
            await send(stream[0], sorted(generator.missing))
            return
        generator.missing.clear()
        missing_since.clear()
        jitter.remove(jitter.capacity)
        jitter._origin = None  # the next packet starts it, as the first did
        given_up()

    receiver._send_rtcp_nack = nack  # type: ignore[method-assign]
    return ask_again


def ask_bitrate(receiver: RTCRtpReceiver) -> Callable[[int], Awaitable[None]]:
    """For a video receiver: stops its bandwidth estimator and returns a call
    that tells the sender the bitrate to keep to (an RTCP REMB, as the
    estimator sent: browsers take it as the most they may send). Until the
    receiver has seen its stream's packets, the call sends nothing."""
    _expect(receiver, _ESTIMATOR_ATTR, RemoteBitrateEstimator)
    _expect(receiver, _RTX_ATTR, dict)
    setattr(receiver, _ESTIMATOR_ATTR, None)
    retransmissions: dict[int, int] = getattr(receiver, _RTX_ATTR)

    async def ask(bitrate: int) -> None:
        rtcp_ssrc = getattr(receiver, _RTCP_SSRC_ATTR, None)
        media = sorted(
            s.source
            for s in receiver.getSynchronizationSources()
            if s.source not in retransmissions
        )
        if rtcp_ssrc is None or not media:
            return
        await receiver._send_rtcp(
            RtcpPsfbPacket(
                fmt=RTCP_PSFB_APP,
                ssrc=rtcp_ssrc,
                media_ssrc=0,
                fci=pack_remb_fci(bitrate, media),
            )
        )

    return ask


def receive_directly(transport: RTCDtlsTransport) -> None:
    """Hands the transport's SRTP media packets to their receivers as its ICE
    sockets are read (before DTLS is done, and for ICE, DTLS and RTCP
    datagrams, aiortc's own path: STUN parsing, its connection queue and
    transport task). After the local description is set (the sockets exist
    then); once per transport, later calls do nothing."""
    connection = getattr(getattr(transport, "transport", None), "_connection", None)
    protocols = getattr(connection, "_protocols", None)
    if (
        not isinstance(connection, Connection)
        or not isinstance(protocols, list)
        or not all(isinstance(p, StunProtocol) for p in protocols)
        or not isinstance(getattr(transport, "_rtp_router", None), RtpRouter)
    ):
        raise UnsupportedAiortcError(
            f"aiortc {version('aiortc')} keeps no ICE sockets or RTP router where the "
            "recorder expects them; pyproject.toml names the releases it was tested with"
        )
    if not protocols:
        raise ValueError("the ICE connection has no sockets yet: set the local description")
    if getattr(connection, _DIRECT_ATTR, False):
        return
    setattr(connection, _DIRECT_ATTR, True)
    for protocol in protocols:
        _divert(protocol, transport)


def _divert(protocol: StunProtocol, transport: RTCDtlsTransport) -> None:
    aiortc_path: Callable[[bytes, tuple[Any, ...]], None] = protocol.datagram_received
    router: RtpRouter = transport._rtp_router
    extensions: HeaderExtensionsMap = transport._rtp_header_extensions_map

    def received(data: bytes, addr: tuple[Any, ...]) -> None:
        srtp = transport._rx_srtp
        # RFC 7983: a first byte of 128-191 is RTP or RTCP (STUN's is 0-3).
        if srtp is None or not data or not 127 < data[0] < 192 or is_rtcp(data):
            aiortc_path(data, addr)
            return
        try:
            packet = RtpPacket.parse(srtp.unprotect(data), extensions)
        except (pylibsrtp.Error, ValueError):
            return  # as aiortc: a packet that fails to decrypt or parse is dropped
        receiver = router.route_rtp(packet)
        if receiver is None:
            return
        lean: Callable[[RtpPacket], bool] | None = getattr(receiver, _LEAN_ATTR, None)
        if lean is not None and lean(packet):
            return
        # Arrival times feed only the bandwidth estimator, where one runs: the
        # kernel's, since a batch's read time would bunch a batch's packets.
        estimating = getattr(receiver, _ESTIMATOR_ATTR, None) is not None
        arrival_ms = round(arrival_time() * 1000) if estimating else 0
        run_now(receiver._handle_rtp_packet(packet, arrival_time_ms=arrival_ms))

    protocol.datagram_received = received  # type: ignore[method-assign, assignment]


def run_now(work: Coroutine[Any, Any, None]) -> None:
    """Runs a coroutine here until it ends or has to wait; what is left after
    a wait goes on as a task. aiortc's packet handling waits only to send
    RTCP, which its ICE connection does without waiting, so it ends here: no
    task, no turn of the loop."""
    try:
        waiting = work.send(None)
    except StopIteration:
        return
    asyncio.get_running_loop().create_task(_rest(work, waiting))


async def _rest(work: Coroutine[Any, Any, None], waiting: Any) -> None:
    await _Resumed(work, waiting)


class _Resumed:
    """Awaits what a started coroutine waits on, then goes on with it."""

    def __init__(self, work: Coroutine[Any, Any, None], waiting: Any) -> None:
        self._work = work
        self._waiting = waiting

    def __await__(self) -> Generator[Any, None, None]:
        yield self._waiting  # the task waits on it as the coroutine would have
        yield from self._work.__await__()
