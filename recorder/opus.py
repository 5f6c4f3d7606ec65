"""Opus decoded by libopus itself, with its loss concealment and forward error
correction, at the channel count the sender uses.

A lost packet can be made up for two ways, both only in libopus's own API
(FFmpeg's decoders offer neither): decoding the packet after it with
``decode_fec`` recovers the lost one from the low-bitrate copy a sender adds
when the receiver reports loss (in-band FEC, RFC 7587 3.1.2), and decoding
no packet at all extends what was heard (packet loss concealment). The library
is Debian's ``libopus0``, reached through ctypes; floats come out, which the
mix keeps and the AAC encoder takes as they are. Mono decodes at a mono
decoder's cost and is read as both channels.
"""

from __future__ import annotations

import ctypes
import ctypes.util

import numpy as np

SAMPLE_RATE = 48_000
# The longest Opus packet: 120 ms (RFC 6716 3.2.5).
MAX_FRAME_SAMPLES = SAMPLE_RATE * 120 // 1000
# Concealment comes in multiples of 2.5 ms, the shortest Opus frame.
CONCEAL_STEP = SAMPLE_RATE * 25 // 10_000
_OPUS_OK = 0


class OpusUnavailableError(RuntimeError):
    """libopus is not installed (Debian: libopus0)."""


def _load() -> ctypes.CDLL:
    name = ctypes.util.find_library("opus")
    if name is None:
        raise OpusUnavailableError("libopus is not installed: apt-get install libopus0")
    lib = ctypes.CDLL(name)
    lib.opus_decoder_create.restype = ctypes.c_void_p
    lib.opus_decoder_create.argtypes = [ctypes.c_int32, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
    lib.opus_decoder_destroy.argtypes = [ctypes.c_void_p]
    lib.opus_decode_float.restype = ctypes.c_int
    lib.opus_decode_float.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_int32,
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.c_int,
    ]
    lib.opus_packet_get_nb_samples.restype = ctypes.c_int
    lib.opus_packet_get_nb_samples.argtypes = [ctypes.c_char_p, ctypes.c_int32, ctypes.c_int32]
    return lib


_lib: ctypes.CDLL | None = None


def _opus() -> ctypes.CDLL:
    global _lib
    if _lib is None:
        _lib = _load()
    return _lib


def advertise_fec(sdp: str) -> str:
    """An answer that tells the sender this receiver takes in-band FEC
    (``useinbandfec=1`` on each Opus payload type, RFC 7587 7): a browser adds
    its FEC copy to each packet once told of loss only where the answer says
    so, and aiortc's answers say nothing of it."""
    lines = sdp.split("\r\n")
    opus = {
        line.split()[0].removeprefix("a=rtpmap:")
        for line in lines
        if line.startswith("a=rtpmap:") and line.split()[1].lower().startswith("opus/")
    }
    with_fmtp = {
        line.split()[0].removeprefix("a=fmtp:") for line in lines if line.startswith("a=fmtp:")
    }
    out: list[str] = []
    for line in lines:
        head = line.split(" ", 1)[0]
        told = "useinbandfec=" in line
        if head.startswith("a=fmtp:") and head.removeprefix("a=fmtp:") in opus and not told:
            line += ";useinbandfec=1" if " " in line else " useinbandfec=1"
        out.append(line)
        pt = head.removeprefix("a=rtpmap:")
        if head.startswith("a=rtpmap:") and pt in opus and pt not in with_fmtp:
            out.append(f"a=fmtp:{pt} useinbandfec=1")
    return "\r\n".join(out)


def packet_channels(packet: bytes) -> int:
    """RFC 6716 3.1: the s bit of the TOC byte marks a stereo packet."""
    return 2 if packet and packet[0] & 0x04 else 1


def packet_samples(packet: bytes) -> int | None:
    """How many samples (at 48 kHz) a packet holds; None for a malformed one."""
    count = int(_opus().opus_packet_get_nb_samples(packet, len(packet), SAMPLE_RATE))
    return count if 0 < count <= MAX_FRAME_SAMPLES else None


class OpusDecoder:
    """One stream's decoder; ``channels``: what it decodes to. libopus mixes a
    stereo packet down for a mono decoder and a mono one up for a stereo one,
    so a sender that changes its channel count mid-stream is still heard."""

    def __init__(self, channels: int) -> None:
        error = ctypes.c_int()
        self.channels = channels
        self._state = _opus().opus_decoder_create(SAMPLE_RATE, channels, ctypes.byref(error))
        if error.value != _OPUS_OK or not self._state:
            raise OpusUnavailableError(f"opus_decoder_create failed ({error.value})")
        self._out = np.empty(MAX_FRAME_SAMPLES * channels, np.float32)

    def decode(self, packet: bytes) -> np.ndarray | None:
        """The packet's samples as channels x n float32 (a fresh array); None
        for a packet libopus refuses."""
        return self._run(packet, MAX_FRAME_SAMPLES, fec=False)

    def recover(self, following: bytes, samples: int) -> np.ndarray | None:
        """The ``samples`` lost just before ``following``, from the FEC data it
        carries; concealed as by :meth:`conceal` where it carries none."""
        return self._run(following, samples, fec=True)

    def conceal(self, samples: int) -> np.ndarray | None:
        """``samples`` (a multiple of CONCEAL_STEP) made up from what came before."""
        return self._run(None, samples, fec=False)

    def _run(self, packet: bytes | None, samples: int, *, fec: bool) -> np.ndarray | None:
        count = _opus().opus_decode_float(
            self._state,
            packet,
            len(packet) if packet is not None else 0,
            self._out.ctypes.data,
            samples,
            int(fec),
        )
        if count <= 0:
            return None
        return self._out[: count * self.channels].reshape(count, self.channels).T.copy()

    def __del__(self) -> None:
        state = getattr(self, "_state", None)
        if state and _lib is not None:
            _lib.opus_decoder_destroy(state)
