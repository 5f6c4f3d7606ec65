"""The mixer's audio path on its own: ticks handed over in batches come out in
the file sample for sample, in order, each mixed from whoever was heard in it."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from cloudrec.wire import (
    AudioCfg,
    AudioFormat,
    Content,
    ContentType,
    KeepAspect,
    MixerCfg,
    MixerContents,
    OutputSpec,
    OutputType,
    StreamTypes,
)
from recorder.audio import TICK_SAMPLES
from recorder.mixer import AUDIO_TICKS_PER_JOB, Mixer
from recorder.outputs import FileOutput, OutputInfo

# A whole batch and part of another: the part must be written when the mixer stops.
TICKS = AUDIO_TICKS_PER_JOB + 2
PCM = AudioCfg(2, AudioFormat.PCM)  # lossless, so the samples can be compared exactly


def _record(path: Path, contents: MixerContents) -> np.ndarray:
    """Feeds TICKS ticks: 'alice' at 100 x tick in every one, 'bob' at 1 in odd
    ones only (absent in the rest); returns the file's samples (n x 2)."""
    cfg = MixerCfg("1", StreamTypes.AUDIO, None, PCM)
    spec = OutputSpec(OutputType.FILE, f"/{path.name}", "wav")
    output = FileOutput("1", spec, path, None, PCM)
    infos: list[OutputInfo] = []
    mixer = Mixer(cfg, contents, [output], infos.append)
    mixer.start()
    for tick in range(TICKS):
        blocks = {"alice": np.full((TICK_SAMPLES, 2), 100 * tick, np.int16)}
        if tick % 2:
            blocks["bob"] = np.ones((TICK_SAMPLES, 2), np.int16)
        mixer.submit_audio(tick * TICK_SAMPLES, blocks, TICK_SAMPLES)
    mixer.finish()
    mixer.join()
    with av.open(str(path)) as container:
        chunks = [f.to_ndarray().reshape(-1, 2) for f in container.decode(audio=0)]
    return np.concatenate(chunks)


def _per_tick(samples: np.ndarray) -> list[int]:
    assert samples.shape == (TICKS * TICK_SAMPLES, 2)
    ticks = samples.reshape(TICKS, TICK_SAMPLES, 2)
    assert all((tick == tick[0, 0]).all() for tick in ticks), "a tick is not one level"
    return [int(tick[0, 0]) for tick in ticks]


def test_batched_ticks_keep_their_place_and_mix(tmp_path: Path) -> None:
    samples = _record(tmp_path / "all.wav", MixerContents("1", ()))
    assert _per_tick(samples) == [100 * t + t % 2 for t in range(TICKS)]


def test_batched_ticks_mix_only_the_chosen_voices(tmp_path: Path) -> None:
    alice_only = Content(ContentType.AUDIO, 0, 0, 0, 0, KeepAspect.KEEP, {"userid": "alice"})
    samples = _record(tmp_path / "alice.wav", MixerContents("1", (alice_only,)))
    assert _per_tick(samples) == [100 * t for t in range(TICKS)]
