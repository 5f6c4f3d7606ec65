from __future__ import annotations

import av
import numpy as np

from recorder.audio import (
    MAX_BUFFER_SAMPLES,
    PLAYOUT_DELAY_SAMPLES,
    S16_STEPS,
    SAMPLE_RATE,
    TICK_SAMPLES,
    AudioBuffer,
    mix,
    to_frame,
)

TICK_S = TICK_SAMPLES / SAMPLE_RATE


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def tone_frame(rate: int, samples: int, hz: float, pts: int, layout: str = "mono") -> av.AudioFrame:
    t = (pts + np.arange(samples)) / rate
    pcm = (0.5 * np.sin(2 * np.pi * hz * t) * 32767).astype(np.int16)
    channels = 2 if layout == "stereo" else 1
    frame = av.AudioFrame.from_ndarray(
        np.repeat(pcm, channels).reshape(1, -1), format="s16", layout=layout
    )
    frame.sample_rate = rate
    frame.pts = pts
    return frame


def test_resampled_to_48k_stereo_and_primed_before_playing() -> None:
    buffer = AudioBuffer(FakeClock())
    assert buffer.pull(TICK_SAMPLES) is None
    pts = 0
    while buffer.pull(TICK_SAMPLES) is None:
        buffer.push(tone_frame(16_000, 320, 400.0, pts))  # 20 ms at 16 kHz
        pts += 320
    # The resampler holds back a few samples of what it was given.
    assert pts * 3 >= PLAYOUT_DELAY_SAMPLES
    block = buffer.pull(TICK_SAMPLES)
    assert block is not None and block.shape == (2, TICK_SAMPLES) and block.dtype == np.float32
    assert np.array_equal(block[0], block[1])
    assert 0.4 < np.abs(block).max() < 0.6, "s16 full scale is 1.0"


def float_frame(planes: np.ndarray) -> av.AudioFrame:
    """48 kHz float planes, as the Opus decoder gives them."""
    layout = "stereo" if len(planes) == 2 else "mono"
    frame = av.AudioFrame.from_ndarray(planes.astype(np.float32), format="fltp", layout=layout)
    frame.sample_rate = SAMPLE_RATE
    return frame


def test_48k_float_passes_through_sample_exact() -> None:
    """What the Opus decoder gives: stored as it is, sample for sample; mono is
    heard on both channels."""
    for channels in (1, 2):
        clock = FakeClock()
        buffer = AudioBuffer(clock)
        sent = np.random.default_rng(channels).uniform(-1, 1, (channels, 3 * TICK_SAMPLES))
        for i in range(3):
            buffer.push(float_frame(sent[:, i * TICK_SAMPLES : (i + 1) * TICK_SAMPLES]))
        clock.now += (PLAYOUT_DELAY_SAMPLES - 3 * TICK_SAMPLES) / SAMPLE_RATE  # none to drop
        got = [buffer.pull(TICK_SAMPLES) for _ in range(3)]
        blocks = [block for block in got if block is not None]
        assert len(blocks) == len(got)
        heard = np.concatenate(blocks, axis=1)
        assert np.array_equal(heard, np.broadcast_to(sent.astype(np.float32), (2, sent.shape[1])))


def test_underrun_reprimes_and_overflow_drops_oldest() -> None:
    buffer = AudioBuffer(FakeClock())
    for i in range(20):
        buffer.push(tone_frame(48_000, TICK_SAMPLES, 300.0, i * TICK_SAMPLES))
    assert buffer.dropped_samples == 20 * TICK_SAMPLES - MAX_BUFFER_SAMPLES
    pulled = 0
    while buffer.pull(TICK_SAMPLES) is not None:
        pulled += 1
    # Playing began with the newest PLAYOUT_DELAY of it; the clock stood still.
    assert pulled == PLAYOUT_DELAY_SAMPLES // TICK_SAMPLES
    assert buffer.underruns == 1
    buffer.push(tone_frame(48_000, TICK_SAMPLES, 300.0, 0))
    assert buffer.pull(TICK_SAMPLES) is None, "waits to be primed again"


def numbered_tick(i: int) -> av.AudioFrame:
    """A tick of 48 kHz stereo whose every sample is ``i``."""
    return float_frame(np.full((2, TICK_SAMPLES), i))


def test_playing_begins_a_fixed_delay_after_the_audio_came() -> None:
    """However much came at once and however long before the clock asked for
    it, the newest sample leaves PLAYOUT_DELAY after it came (its tick is
    pulled a tick before that): the sound keeps one offset against the picture."""
    for pushed, waited_ticks in [(5, 0), (3, 1), (6, 2), (2, 2)]:
        clock = FakeClock()
        buffer = AudioBuffer(clock)
        came = clock.now
        for i in range(pushed):
            buffer.push(numbered_tick(i))
        clock.now += waited_ticks * TICK_S
        pulled: list[int] = []
        while not pulled or pulled[-1] != pushed - 1:
            block = buffer.pull(TICK_SAMPLES)
            if block is not None:
                pulled.append(int(block[0, 0]))
            clock.now += TICK_S
            assert clock.now - came < 1.0, "the newest tick never came out"
        assert pulled == list(range(pulled[0], pushed)), "in order, the oldest dropped"
        left_after = round((clock.now - came) / TICK_S)
        assert left_after == PLAYOUT_DELAY_SAMPLES // TICK_SAMPLES, (pushed, waited_ticks)


def test_mix_sums_and_never_clips() -> None:
    quiet = np.full((2, 4), 0.125, np.float32)
    assert np.array_equal(mix([quiet, quiet], 4), np.full((2, 4), 0.25, np.float32))
    loud = np.full((2, 4), 0.75, np.float32)
    loud[:, 0] = -0.75
    mixed = mix([loud, loud, loud], 4)
    assert mixed.max() == 1.0 and mixed.min() == -1.0
    assert np.allclose(mixed[:, 1:], 1.0), "scaled as a whole: the same shape, no squared-off peaks"
    assert np.array_equal(mix([], 4), np.zeros((2, 4), np.float32))


def test_the_mix_is_on_16_bit_steps() -> None:
    """What the AAC encoder is quickest on (recorder/audio.py S16_STEPS)."""
    voices = np.random.default_rng(0).uniform(-0.3, 0.3, (3, 2, TICK_SAMPLES)).astype(np.float32)
    steps = mix(list(voices), TICK_SAMPLES) * S16_STEPS
    assert np.array_equal(steps, np.rint(steps))
    assert np.abs(steps / S16_STEPS - voices.sum(axis=0)).max() <= 0.5 / S16_STEPS


def test_to_frame() -> None:
    samples = np.linspace(-1, 1, TICK_SAMPLES * 2, dtype=np.float32).reshape(2, -1)
    frame = to_frame(samples, 960)
    assert (frame.samples, frame.sample_rate, frame.pts, frame.layout.name, frame.format.name) == (
        TICK_SAMPLES,
        48_000,
        960,
        "stereo",
        "fltp",
    )
    assert np.array_equal(frame.to_ndarray(), samples)


def test_a_stream_that_changes_its_kind_of_frame_is_still_heard() -> None:
    """A renegotiated codec brings frames of another rate and layout."""
    clock = FakeClock()
    buffer = AudioBuffer(clock)
    for i in range(5):
        buffer.push(tone_frame(16_000, 320, 400.0, i * 320))
    for i in range(5):
        buffer.push(tone_frame(8_000, 160, 400.0, i * 160, "stereo"))
    clock.now += 1.0  # played at once
    assert buffer.pull(TICK_SAMPLES) is not None
    assert buffer.dropped_samples == 0
