"""Everything the recorder uses of aiortc beyond its public API, in one place.

Five hooks, all on a receiver before it starts:
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
  stalls its jitter buffer (and the picture) until the next loss.
These are name-mangled attributes and a method of the receiver. pyproject.toml
pins aiortc to the releases they were tested with, and tests/test_ingest.py
checks the installed one. An aiortc laid out otherwise is refused loudly,
never worked around.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Awaitable, Callable
from importlib.metadata import version
from typing import Any

from aiortc import RTCRtpReceiver
from aiortc.codecs import get_decoder
from aiortc.codecs.base import Decoder
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtcrtpreceiver import NackGenerator, TimestampMapper
from aiortc.rtp import RtcpSrPacket, RtpPacket

__all__ = [
    "Decoder",
    "JitterFrame",
    "get_decoder",
    "keep_sent_timestamps",
    "observe_sender_reports",
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
    """Hands ``sink`` every packet an audio receiver gets, as it comes."""
    _expect(receiver, _JITTER_ATTR, JitterBuffer)
    setattr(receiver, _JITTER_ATTR, _Straight(sink))


def repeat_nacks(receiver: RTCRtpReceiver) -> Callable[[], Awaitable[None]]:
    """For a video receiver: a call that asks the sender again for every
    packet still missing (once aiortc has asked for some, which names the
    stream)."""
    _expect(receiver, _NACK_ATTR, NackGenerator)
    generator: NackGenerator = getattr(receiver, _NACK_ATTR)
    send: Callable[[int, list[int]], Awaitable[None]] = receiver._send_rtcp_nack
    stream: list[int] = []  # the media SSRC, once aiortc has named it

    async def nack(media_ssrc: int, lost: list[int]) -> None:
        stream[:] = [media_ssrc]
        await send(media_ssrc, lost)

    async def ask_again() -> None:
        if stream and generator.missing:
            await send(stream[0], sorted(generator.missing))

    receiver._send_rtcp_nack = nack  # type: ignore[method-assign]
    return ask_again
