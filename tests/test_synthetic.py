"""A synthetic publisher's picture and sound follow their capture timestamps,
as a camera's and a microphone's do, however late its sender makes them."""

from __future__ import annotations

import asyncio
import time

import av
import numpy as np

from cloudrec.synthetic import AUDIO_PTIME_S, ColorVideoTrack, ToneAudioTrack

FPS = 30
# The sender held up this long: its frames due meanwhile are made late.
HELD_S = 0.2
# Guards against a hang, not a measure of speed.
WAIT_S = 5.0
# Frames or packets made late, either side of the held time's count: the
# pacing's start and the hold's edges each round by one.
COUNT_WITHIN = 2
# A 20 ms packet's spectrum has 50 Hz bins: the tone's peak is within one.
TONE_WITHIN_HZ = 50.0


def _red(frame: av.VideoFrame) -> bool:
    rgb = frame.to_ndarray(format="rgb24").reshape(-1, 3).mean(axis=0)
    return bool(rgb[0] > 200 and rgb[2] < 60)


def _peak_hz(frame: av.AudioFrame) -> float:
    samples = frame.to_ndarray()[0].astype(np.float64)
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.argmax(spectrum) * frame.sample_rate / samples.size)


async def test_a_frame_made_late_keeps_the_colour_of_when_it_was_due() -> None:
    track = ColorVideoTrack("#FF0000", 64, 48, FPS)
    await track.recv()  # the pacing starts
    time.sleep(HELD_S)  # the stimulus: a sender held up, not a wait
    track.recolor("#0000FF")
    frames = [await track.recv()]
    assert _red(frames[0]), "due before the change: red, though made after it"

    async def until_blue() -> None:
        while _red(frames[-1]):
            frames.append(await track.recv())

    await asyncio.wait_for(until_blue(), WAIT_S)
    overdue = len(frames) - 1
    assert abs(overdue - HELD_S * FPS) <= COUNT_WITHIN, overdue


async def test_a_packet_made_late_keeps_the_tone_of_when_it_was_due() -> None:
    track = ToneAudioTrack(440.0)
    await track.recv()
    time.sleep(HELD_S)
    track.retune(2500.0)
    first = await track.recv()
    assert abs(_peak_hz(first) - 440.0) < TONE_WITHIN_HZ

    async def until_retuned() -> int:
        made = 1
        while abs(_peak_hz(await track.recv()) - 2500.0) >= TONE_WITHIN_HZ:
            made += 1
        return made

    overdue = await asyncio.wait_for(until_retuned(), WAIT_S)
    assert abs(overdue - HELD_S / AUDIO_PTIME_S) <= COUNT_WITHIN, overdue
