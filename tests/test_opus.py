"""libopus through ctypes: channels, lost packets recovered and concealed."""

from __future__ import annotations

import av
import numpy as np

from recorder.opus import (
    CONCEAL_STEP,
    OpusDecoder,
    advertise_fec,
    packet_channels,
    packet_samples,
)

FRAME = 960  # 20 ms at 48 kHz, what WebRTC senders packetise
FRAMES = 25
LOST = 15  # the packet a lossy path drops
# Opus is lossy and its decoder starts from silence: levels are compared over
# the last half of the tones, within this.
LEVEL_TOLERANCE = 0.05
# What a packet recovered from its successor's FEC copy may differ from the
# packet itself by, in RMS: the copy is coded at a lower bitrate.
RECOVERED_TOLERANCE = 0.1


def encode(channels: int, *, fec: bool = False) -> list[bytes]:
    """Tones as libopus packets: 440 Hz on the left (or only) channel, 660 Hz
    on the right, both at 0.3 of full scale; ``fec``: each packet carries a
    low-bitrate copy of the one before (as a browser sends once told of loss)."""
    layout = "stereo" if channels == 2 else "mono"
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate, codec.layout, codec.format = 48_000, layout, "flt"
    codec.bit_rate = 64_000
    if fec:
        codec.options = {"fec": "1", "packet_loss": "10"}
    t = np.arange(FRAME * FRAMES) / 48_000
    tones = 0.3 * np.sin(2 * np.pi * np.array([[440.0], [660.0]]) * t)
    packets: list[bytes] = []
    for n in range(FRAMES):
        chunk = tones[:channels, n * FRAME : (n + 1) * FRAME].astype(np.float32)
        # libopus takes interleaved samples: L R L R ...
        frame = av.AudioFrame.from_ndarray(chunk.T.reshape(1, -1), format="flt", layout=layout)
        frame.sample_rate, frame.pts = 48_000, n * FRAME
        packets += [bytes(p) for p in codec.encode(frame)]
    return packets


def decode(packets: list[bytes], channels: int) -> np.ndarray:
    decoder = OpusDecoder(channels)
    planes = []
    for data in packets:
        samples = decoder.decode(data)
        assert samples is not None and samples.shape == (channels, FRAME)
        assert samples.dtype == np.float32
        planes.append(samples)
    return np.concatenate(planes, axis=1)


def rms(samples: np.ndarray) -> np.ndarray:
    tail = samples[:, samples.shape[1] // 2 :].astype(np.float64)
    level: np.ndarray = np.sqrt((tail**2).mean(axis=1))
    return level


def test_the_toc_byte_tells_the_channels_and_the_length() -> None:
    assert {packet_channels(p) for p in encode(1)} == {1}
    assert {packet_channels(p) for p in encode(2)} == {2}
    assert packet_channels(b"") == 1
    assert {packet_samples(p) for p in encode(1)} == {FRAME}
    assert packet_samples(b"\xff") is None, "a code-3 packet with no frame count"


def test_mono_is_decoded_as_mono() -> None:
    samples = decode(encode(1), 1)
    assert abs(rms(samples)[0] - 0.3 / np.sqrt(2)) < LEVEL_TOLERANCE


def test_stereo_keeps_its_channels_apart() -> None:
    samples = decode(encode(2), 2)
    assert np.allclose(rms(samples), 0.3 / np.sqrt(2), atol=LEVEL_TOLERANCE)
    # Each channel carries its own tone: the two are far from equal.
    assert rms(samples[:1] - samples[1:])[0] > 0.2


def test_decoded_samples_are_the_callers_while_decoding_goes_on() -> None:
    packets = encode(1)
    decoder = OpusDecoder(1)
    first = decoder.decode(packets[0])
    assert first is not None
    kept = first.copy()
    decoder.decode(packets[1])
    assert np.array_equal(first, kept)


def test_a_lost_packet_is_recovered_from_the_next_ones_fec_copy() -> None:
    packets = encode(1, fec=True)
    whole = decode(packets, 1)
    decoder = OpusDecoder(1)
    played = []
    for n, data in enumerate(packets):
        samples = decoder.recover(packets[n + 1], FRAME) if n == LOST else decoder.decode(data)
        assert samples is not None
        played.append(samples)
    lost = slice(LOST * FRAME, (LOST + 1) * FRAME)
    recovered = np.concatenate(played, axis=1)[:, lost]
    assert rms(recovered - whole[:, lost])[0] < RECOVERED_TOLERANCE
    assert abs(rms(recovered)[0] - 0.3 / np.sqrt(2)) < LEVEL_TOLERANCE


def test_a_lost_packet_with_no_copy_is_concealed_not_silent() -> None:
    packets = encode(1)
    decoder = OpusDecoder(1)
    for data in packets[:LOST]:
        decoder.decode(data)
    made = decoder.conceal(FRAME)
    assert made is not None and made.shape == (1, FRAME)
    assert rms(made)[0] > 0.1, "the tone goes on through the gap"
    assert FRAME % CONCEAL_STEP == 0


def test_the_answer_says_the_recorder_takes_in_band_fec() -> None:
    answer = "\r\n".join(
        [
            "m=audio 9 UDP/TLS/RTP/SAVPF 111 0",
            "a=rtpmap:111 opus/48000/2",
            "a=rtpmap:0 PCMU/8000",
            "m=audio 9 UDP/TLS/RTP/SAVPF 109",
            "a=rtpmap:109 OPUS/48000/2",
            "a=fmtp:109 minptime=10",
            "m=video 9 UDP/TLS/RTP/SAVPF 96",
            "a=rtpmap:96 VP8/90000",
            "a=fmtp:96 max-fs=12288",
            "",
        ]
    )
    told = advertise_fec(answer).split("\r\n")
    assert "a=fmtp:111 useinbandfec=1" in told
    assert told[told.index("a=rtpmap:111 opus/48000/2") + 1] == "a=fmtp:111 useinbandfec=1"
    assert "a=fmtp:109 minptime=10;useinbandfec=1" in told
    assert "a=fmtp:96 max-fs=12288" in told, "other codecs as they were"
    assert not [line for line in told if line.startswith("a=fmtp:0")]
    assert advertise_fec(advertise_fec(answer)) == advertise_fec(answer)
