from __future__ import annotations

import av
import numpy as np
from aiortc import RTCRtpCodecParameters

from recorder.aiortc_hooks import JitterFrame
from recorder.audio import PLAYOUT_DELAY_SAMPLES, AudioBuffer
from recorder.opus import OpusDecoder, decoder_for, packet_channels

FRAME = 960  # 20 ms at 48 kHz, what WebRTC senders packetise
FRAMES = 25
OPUS = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48_000, channels=2, payloadType=111)
# Opus is lossy and its decoder starts from silence: levels are compared over
# the last half of the tones, within this.
LEVEL_TOLERANCE = 0.05


def encode(channels: int) -> list[bytes]:
    """Tones as libopus packets: 440 Hz on the left (or only) channel, 660 Hz
    on the right, both at 0.3 of full scale."""
    layout = "stereo" if channels == 2 else "mono"
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate, codec.layout, codec.format = 48_000, layout, "flt"
    codec.bit_rate = 64_000
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


def decode(packets: list[bytes]) -> np.ndarray:
    decoder = decoder_for(OPUS, packets[0])
    assert isinstance(decoder, OpusDecoder)
    planes = []
    for n, data in enumerate(packets):
        for frame in decoder.decode(JitterFrame(data, n * FRAME)):
            assert (frame.format.name, frame.samples, frame.sample_rate) == ("fltp", FRAME, 48_000)
            planes.append(frame.to_ndarray())
    return np.concatenate(planes, axis=1)


def rms(samples: np.ndarray) -> np.ndarray:
    tail = samples[:, samples.shape[1] // 2 :]
    return np.sqrt((tail.astype(np.float64) ** 2).mean(axis=1))


def test_the_toc_byte_tells_the_channels() -> None:
    assert {packet_channels(p) for p in encode(1)} == {1}
    assert {packet_channels(p) for p in encode(2)} == {2}
    assert packet_channels(b"") == 1


def test_mono_is_decoded_as_mono_and_heard_on_both_channels() -> None:
    packets = encode(1)
    samples = decode(packets)
    assert samples.shape[0] == 1
    assert abs(rms(samples)[0] - 0.3 / np.sqrt(2)) < LEVEL_TOLERANCE
    now = [0.0]
    buffer = AudioBuffer(lambda: now[0])
    decoder = decoder_for(OPUS, packets[0])
    frame = decoder.decode(JitterFrame(packets[10], 0))[0]
    assert isinstance(frame, av.AudioFrame)
    buffer.push(frame)
    now[0] += 1.0  # past the playout delay: played at once
    block = buffer.pull(FRAME)
    assert block is not None and block.shape == (2, FRAME)
    assert np.array_equal(block[0], block[1]) and np.array_equal(block[0], frame.to_ndarray()[0])


def test_stereo_keeps_its_channels_apart() -> None:
    samples = decode(encode(2))
    assert samples.shape[0] == 2
    assert np.allclose(rms(samples), 0.3 / np.sqrt(2), atol=LEVEL_TOLERANCE)
    # Each channel carries its own tone: the two are far from equal.
    assert rms(samples[:1] - samples[1:])[0] > 0.2


def test_other_codecs_get_aiortcs_decoders() -> None:
    vp8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90_000, payloadType=96)
    assert not isinstance(decoder_for(vp8, b"\x00"), OpusDecoder)


def test_buffered_frames_keep_their_samples_while_decoding_goes_on() -> None:
    """Buffers hold the decoder's own memory (recorder/audio.py reads frames
    in place): later frames must not land in it."""
    packets = encode(1)
    buffer = AudioBuffer(lambda: 0.0)
    decoder = decoder_for(OPUS, packets[0])
    for n, data in enumerate(packets[:10]):
        for frame in decoder.decode(JitterFrame(data, n * FRAME)):
            assert isinstance(frame, av.AudioFrame)
            buffer.push(frame)
    # Played at once, the clock standing still: the newest PLAYOUT_DELAY of it.
    kept = PLAYOUT_DELAY_SAMPLES // FRAME
    held = [buffer.pull(FRAME) for _ in range(kept)]
    got = np.concatenate([block[:1] for block in held if block is not None], axis=1)
    assert np.array_equal(got, decode(packets[:10])[:, -kept * FRAME :])
