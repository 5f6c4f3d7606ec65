"""Opus decoded by FFmpeg's own decoder, at the channel count the sender uses.

aiortc's Opus decoder has libopus give 16-bit stereo whatever was sent, and
most senders (browsers, unless the answer asks for stereo) send mono. FFmpeg's
decoder gives float planes, which the audio buffers keep and the AAC encoder
takes as they are, and decoding at the sender's own channel count is what
costs least: a 20 ms mono frame took 14 us, against 31 us for aiortc's decoder
and 16-bit stereo (both in a tight loop, recorder/audio.py storing the result).
"""

from __future__ import annotations

from fractions import Fraction

import av
from aiortc import RTCRtpCodecParameters
from av.frame import Frame

from recorder.aiortc_hooks import Decoder, JitterFrame, get_decoder
from recorder.audio import SAMPLE_RATE

TIME_BASE = Fraction(1, SAMPLE_RATE)


def packet_channels(packet: bytes) -> int:
    """RFC 6716 3.1: the s bit of the TOC byte marks a stereo packet."""
    return 2 if packet and packet[0] & 0x04 else 1


class OpusDecoder(Decoder):
    """``channels``: what frames come out as. FFmpeg mixes a stereo packet
    down for a mono decoder and a mono one up for a stereo decoder, so a
    sender that changes its channel count mid-stream is still heard."""

    def __init__(self, channels: int) -> None:
        self.codec = av.CodecContext.create("opus", "r")
        self.codec.layout = "stereo" if channels == 2 else "mono"
        self.codec.sample_rate = SAMPLE_RATE

    def decode(self, encoded_frame: JitterFrame) -> list[Frame]:
        packet = av.Packet(encoded_frame.data)
        packet.pts = encoded_frame.timestamp
        packet.time_base = TIME_BASE
        return list(self.codec.decode(packet))


def decoder_for(codec: RTCRtpCodecParameters, first: bytes) -> Decoder:
    """The decoder for a stream whose first encoded frame is ``first``;
    aiortc's own for anything but Opus."""
    if codec.name.lower() == "opus":
        return OpusDecoder(packet_channels(first))
    return get_decoder(codec)
