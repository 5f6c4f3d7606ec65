"""A participant's sound, from Opus packets to the samples played: placed by
capture time, whatever order and delay the packets come with, lost packets
made up for, a drifting sender followed smoothly. Hand-built packets and clocks."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import av
import numpy as np

from recorder.arrival import LeastDelay
from recorder.audio import (
    S16_STEPS,
    SAMPLE_RATE,
    TICK_SAMPLES,
    AudioStream,
    mix,
    to_frame,
)
from recorder.capture import BASE_DELAY_S, Playout, StreamClock
from recorder.stretch import FULL_S
from recorder.tracks import NO_LAG, PictureLag

TICK_S = TICK_SAMPLES / SAMPLE_RATE
VIDEO_RATE = 90_000
VIDEO_FPS = 30
EPOCH = 1000.0  # our clock when the sender starts
TRANSIT_S = 0.003
BEEP_LEVEL = 0.6  # beeps peak at 0.8, the tone under them at 0.1
# How close a beep's onset is found to where it belongs: Opus smears an onset
# over a millisecond or so, and the level is crossed within it; the least
# delay is re-read every few hundred ms (recorder/arrival.py), rising by up to
# a ms between.
ONSET_WITHIN_S = 0.003
# With 150 ms of jitter a packet that waited under a ms comes every few
# seconds only, and the estimate rises by RISE_S_PER_S (2 ms/s) meanwhile.
JITTERED_WITHIN_S = 0.008
# A run of silence this long inside sound is a hole (the tone crosses zero
# for a sample or two, never more).
HOLE_SAMPLES = 48
# A drawn-out tone keeps its level: Opus's coding of a 300 Hz tone varies a
# period's peak by a few %.
LEVEL_WITHIN = 0.05
# A step between samples this much over the tone's largest is a click; the
# cross-fades join waveforms that differ in phase by up to a few degrees.
CLICK_RATIO = 1.5
# How far a drifting sender's delay may wander: the reading follows a steady
# drift d at an error of d / RATE_GAIN (2 ms at 0.1 %), plus onset finding.
DRIFT_WITHIN_S = 0.006
LOSS = 0.05
SEED = 5


@dataclass(frozen=True)
class Packet:
    timestamp: int
    captured: float  # on our clock
    payload: bytes


def talk(
    seconds: float, beeps: list[float], *, fec: bool = False, skew: float = 0.0
) -> list[Packet]:
    """20 ms Opus packets of a 300 Hz tone with 50 ms beeps of 1 kHz starting
    at the ``beeps`` (seconds of the sender's media clock), from a timestamp
    near the wrap; ``skew``: how much faster the sender's clock runs than ours."""
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate, codec.layout, codec.format = SAMPLE_RATE, "mono", "flt"
    codec.bit_rate = 48_000
    if fec:
        codec.options = {"fec": "1", "packet_loss": "10"}
    origin = (1 << 32) - 10 * TICK_SAMPLES
    packets: list[Packet] = []
    for n in range(round(seconds / TICK_S)):
        t = (n * TICK_SAMPLES + np.arange(TICK_SAMPLES)) / SAMPLE_RATE
        signal = 0.1 * np.sin(2 * np.pi * 300 * t)
        for beep in beeps:
            inside = (t >= beep) & (t < beep + 0.05)
            signal = np.where(inside, 0.8 * np.sin(2 * np.pi * 1000 * t), signal)
        frame = av.AudioFrame.from_ndarray(
            signal.astype(np.float32).reshape(1, -1), format="flt", layout="mono"
        )
        frame.sample_rate, frame.pts = SAMPLE_RATE, n * TICK_SAMPLES
        captured = EPOCH + n * TICK_S / (1 + skew)
        timestamp = (origin + n * TICK_SAMPLES) % (1 << 32)
        packets += [Packet(timestamp, captured, bytes(p)) for p in codec.encode(frame)]
    return packets


@dataclass
class Played:
    samples: np.ndarray  # mono, from our time EPOCH on
    silent_ticks: int  # ticks with nothing to play once playing began
    stream: AudioStream
    delays: list[float]  # the playout delay at each tick

    @property
    def delay(self) -> float:
        return self.delays[-1]

    def delay_at(self, when: float) -> float:
        return self.delays[min(len(self.delays) - 1, int((when - EPOCH) / TICK_S))]


def play(
    packets: list[Packet],
    seconds: float,
    delay_of: Callable[[int], float] = lambda _n: 0.0,
    lost: set[int] = frozenset(),  # type: ignore[assignment]
    others_late: tuple[float, float] | None = None,
    picture: Callable[[float], PictureLag] = lambda _s: NO_LAG,
) -> Played:
    """Packets come TRANSIT_S + ``delay_of(n)`` after their capture (those in
    ``lost`` never); the audio clock pulls a tick every 20 ms from EPOCH.
    ``others_late``: from that many seconds on, another stream (a camera) comes
    that late, once. ``picture``: how late the speaker's picture is shown,
    that many seconds in."""
    playout = Playout()
    stream = AudioStream(StreamClock(SAMPLE_RATE, LeastDelay(), playout), playout)
    arrivals = sorted(
        (p.captured + TRANSIT_S + delay_of(n), n) for n, p in enumerate(packets) if n not in lost
    )
    out: list[np.ndarray] = []
    delays: list[float] = []
    silent = i = 0
    for k in range(round(seconds / TICK_S)):
        now = EPOCH + k * TICK_S
        if others_late is not None and abs(now - EPOCH - others_late[0]) < TICK_S / 2:
            playout.late("camera", others_late[1], now)
        delays.append(playout.delay(now))
        while i < len(arrivals) and arrivals[i][0] <= now:
            at, n = arrivals[i]
            stream.push(packets[n].timestamp, packets[n].payload, at)
            i += 1
        block = stream.pull(TICK_SAMPLES, now, picture(now - EPOCH))
        if block is None:
            # Silence once sound began, while the sender still sends.
            silent += any(np.any(b) for b in out) and now < packets[-1].captured
            block = np.zeros((2, TICK_SAMPLES), np.float32)
        assert block.shape == (2, TICK_SAMPLES)
        out.append(block[0])
    return Played(np.concatenate(out), silent, stream, delays)


def onsets(samples: np.ndarray) -> list[float]:
    """When each beep starts, in seconds of our clock."""
    loud = np.flatnonzero(np.abs(samples) > BEEP_LEVEL)
    starts = loud[np.insert(np.diff(loud) > SAMPLE_RATE // 4, 0, True)]
    return [EPOCH + i / SAMPLE_RATE for i in starts]


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))


def holes(samples: np.ndarray) -> int:
    """The longest run of silence while there is sound, in samples."""
    quiet = np.abs(samples) < 1e-4
    sound = np.flatnonzero(~quiet)
    longest = run = 0
    for q in quiet[sound[0] : sound[-1]]:
        run = run + 1 if q else 0
        longest = max(longest, run)
    return longest


def test_sound_plays_the_playout_delay_after_its_capture() -> None:
    beeps = [1.0, 2.0, 3.0]
    batch = 0.040  # handled a batch after it came, at worst
    played = play(talk(4, beeps), 4.1, lambda n: (n * 0.0137) % batch)
    assert played.delay == BASE_DELAY_S
    found = onsets(played.samples)
    assert len(found) == len(beeps)
    for onset, beep in zip(found, beeps, strict=True):
        assert abs(onset - (EPOCH + beep + TRANSIT_S + BASE_DELAY_S)) < ONSET_WITHIN_S
    assert played.silent_ticks == 0 and played.stream.underruns == 0
    assert played.stream.concealed_samples == 0


def test_sound_is_played_as_late_as_its_picture_is_shown() -> None:
    """A first estimate of how late the speaker's picture is shown (at
    0.8 s) moves their sound at once, as does a new one (at 2.8 s, its
    capture times read anew); one that moves (from 1.8 s) is followed slowly,
    at the reader's unheard rates, never skipped to."""
    early, later, moving = PictureLag(0.012, 1), PictureLag(-0.006, 2), PictureLag(0.019, 1)

    def picture(at: float) -> PictureLag:
        if at < 0.8:
            return NO_LAG
        if at < 1.8:
            return early
        return moving if at < 2.8 else later

    beeps = [1.0, 2.0, 3.0]
    played = play(talk(4, beeps), 4.1, picture=picture)
    found = onsets(played.samples)
    assert len(found) == len(beeps)
    on_time = [EPOCH + beep + TRANSIT_S + BASE_DELAY_S for beep in beeps]
    assert abs(found[0] - on_time[0] - early.seconds) < ONSET_WITHIN_S
    # 7 ms to go 0.2 s before the beep, slewed at 0.35 % at most: under 1 ms of it.
    assert abs(found[1] - on_time[1] - early.seconds) < ONSET_WITHIN_S
    assert abs(found[2] - on_time[2] - later.seconds) < ONSET_WITHIN_S
    assert played.silent_ticks == 0 and played.stream.underruns == 0


def test_sound_that_a_new_estimate_puts_ahead_waits_rather_than_skips_back() -> None:
    """The room's playout delay rises by 170 ms at 2 s, and at the same tick
    the speaker's picture, moved against the ticks by the rise, is estimated
    20 ms later than before: sound waits for both, once, drawn out; going
    back to its place would let go of what was decoded and make up with
    concealment what it had already played."""
    before, after = PictureLag(0.010, 1), PictureLag(0.030, 2)

    def picture(at: float) -> PictureLag:
        return before if at < 2.0 - TICK_S / 2 else after

    beeps = [1.0, 3.0]
    # Both within what a wait draws out before it fades (recorder/stretch.py).
    played = play(talk(4, beeps), 4.1, others_late=(2.0, 0.270), picture=picture)
    rise = played.delay_at(EPOCH + 2.0 + TICK_S) - played.delay_at(EPOCH + 2.0 - TICK_S)
    assert rise > 0.1
    found = onsets(played.samples)
    assert len(found) == len(beeps)
    for onset, beep, lag in zip(found, beeps, (before, after), strict=True):
        on_time = EPOCH + beep + TRANSIT_S + played.delay_at(onset) + lag.seconds
        assert abs(onset - on_time) < ONSET_WITHIN_S
    waited = round((rise + after.seconds - before.seconds) * SAMPLE_RATE)
    assert abs(played.stream.stretched_samples - waited) <= 1
    assert played.stream.concealed_samples == 0
    assert holes(played.samples) < HOLE_SAMPLES


def test_late_and_reordered_packets_play_in_their_place() -> None:
    beeps = [1.5, 2.5, 3.5]
    packets = talk(4, beeps)
    rng = random.Random(SEED)
    # Reordered (packets 20 ms apart, 150 ms of spread), and more than the
    # least playout delay covers: the delay rises to the jitter measured.
    jitter = [rng.uniform(0, 0.150) for _ in packets]
    played = play(packets, 4.1, lambda n: jitter[n])
    assert played.delay > BASE_DELAY_S
    found = onsets(played.samples)
    assert len(found) == len(beeps)
    for onset, beep in zip(found, beeps, strict=True):
        assert abs(onset - (EPOCH + beep + TRANSIT_S + played.delay_at(onset))) < JITTERED_WITHIN_S
    # Before the jitter is known (the first packets), one may come after its
    # time; none once it is.
    stream = played.stream
    assert stream.late_packets <= 1 and stream.concealed_samples <= TICK_SAMPLES
    # No hole: the waits for the delay as it rose to the jitter seen are
    # drawn out.
    assert holes(played.samples[SAMPLE_RATE // 2 :]) < HOLE_SAMPLES
    assert played.stream.stretched_samples > 0


def test_a_delay_that_rises_is_waited_once_exactly_and_drawn_out() -> None:
    """Another stream comes 300 ms late: the room's playout delay rises by
    200 ms, picture follows at once, and sound waits as long, once: the tone
    it played goes on meanwhile (at its level, then fading), never a hole."""
    beeps = [1.0, 3.0]
    played = play(talk(4, beeps), 4.1, others_late=(2.0, 0.300))
    rise = played.delay_at(EPOCH + 2.0 + TICK_S) - played.delay_at(EPOCH + 2.0 - TICK_S)
    assert rise > 0.1
    found = onsets(played.samples)
    for onset, beep in zip(found, beeps, strict=True):
        assert abs(onset - (EPOCH + beep + TRANSIT_S + played.delay_at(onset))) < ONSET_WITHIN_S
    waited = round(rise * SAMPLE_RATE)
    assert abs(played.stream.stretched_samples - waited) <= 1
    assert holes(played.samples) < HOLE_SAMPLES
    assert played.stream.concealed_samples == 0
    # The wait begins at the tick the delay rose on.
    begin = round(2.0 / TICK_S) * TICK_SAMPLES
    tone = played.samples[begin - SAMPLE_RATE // 2 : begin]
    held = played.samples[begin : begin + round(FULL_S * SAMPLE_RATE)]
    assert abs(rms(held) / rms(tone) - 1) < LEVEL_WITHIN
    # No click into the wait or out of it: no step larger than the tone's own.
    around = played.samples[begin - TICK_SAMPLES : begin + waited + TICK_SAMPLES]
    assert np.abs(np.diff(around)).max() < CLICK_RATIO * np.abs(np.diff(tone)).max()


def test_lost_packets_are_made_up_for_with_no_hole() -> None:
    packets = talk(6, [2.0, 4.0], fec=True)
    rng = random.Random(SEED)
    lost = {n for n in range(25, len(packets) - 1) if rng.random() < LOSS}
    lost -= {n + 1 for n in lost}  # a run of two is concealment's; one alone is FEC's
    played = play(packets, 6.5, lost=lost)
    assert len(lost) > 5
    assert holes(played.samples) < HOLE_SAMPLES
    stream = played.stream
    assert stream.recovered_packets == len(lost)
    assert stream.concealed_samples == len(lost) * TICK_SAMPLES
    # The beeps stay where they were captured.
    for onset, beep in zip(onsets(played.samples), [2.0, 4.0], strict=True):
        assert abs(onset - (EPOCH + beep + TRANSIT_S + BASE_DELAY_S)) < ONSET_WITHIN_S


def test_lost_packets_with_no_fec_copy_are_concealed() -> None:
    packets = talk(4, [])
    lost = set(range(60, 200, 13)) | {100, 101}
    played = play(packets, 4.5, lost=lost)
    assert holes(played.samples) < HOLE_SAMPLES
    assert played.stream.concealed_samples == len(lost) * TICK_SAMPLES


def test_a_sender_whose_clock_drifts_keeps_a_constant_delay() -> None:
    """0.1 % either way for two minutes: 120 ms of drift, were it not followed.
    It is followed by reading at the sender's rate, smoothly: no block is
    skipped or played twice, nothing falls silent."""
    beeps = [float(s) for s in range(5, 120, 10)]
    for skew in (0.001, -0.001):
        played = play(talk(121, beeps, skew=skew), 120.5, lambda n: (n * 0.0137) % 0.040)
        found = onsets(played.samples)
        assert len(found) == len(beeps)
        late = [
            onset - (EPOCH + beep / (1 + skew) + TRANSIT_S)
            for onset, beep in zip(found, beeps, strict=True)
        ]
        assert max(late) - min(late) < DRIFT_WITHIN_S, (skew, late)
        assert played.silent_ticks == 0 and played.stream.underruns == 0
        assert played.stream.concealed_samples == 0


def test_a_sender_that_stalls_comes_back_in_place() -> None:
    """A second of nothing (its packets never come): silence, then the
    sound again where it was captured."""
    packets = talk(5, [4.0])
    stalled = set(range(100, 150))
    played = play(packets, 5.5, lost=stalled)
    (onset,) = onsets(played.samples)
    assert abs(onset - (EPOCH + 4.0 + TRANSIT_S + BASE_DELAY_S)) < ONSET_WITHIN_S
    assert played.silent_ticks > 0


def test_sound_meets_picture_by_reports_that_stamp_each_packets_capture() -> None:
    """A sender report pairs a timestamp with the instant it was captured
    (RFC 3550 6.4.1): libwebrtc (every browser) stamps a sound packet's
    timestamp, its first sample, with that sample's capture time, though the
    packet leaves only once its last sample is captured; its camera's reports
    pair each frame with its capture. A beep is heard where the frame captured
    with it is shown: its capture time, plus the path's least delay and the
    playout delay. Read as stamping the packet when it left, the beep would
    come a packet's length early."""
    beep = 2.0
    packets = talk(3, [beep])
    playout, sender = Playout(), LeastDelay()
    sound = StreamClock(SAMPLE_RATE, sender, playout)
    stream = AudioStream(sound, playout)
    video = StreamClock(VIDEO_RATE, sender, playout)
    their_epoch = 3_900_000_000.0  # the sender's wall clock at our EPOCH
    frames = [EPOCH + n / VIDEO_FPS for n in range(3 * VIDEO_FPS)]
    shown: list[float] = []
    out: list[np.ndarray] = []
    sent = 0
    for k in range(round(3.1 / TICK_S)):
        now = EPOCH + k * TICK_S
        while frames and frames[0] + TRANSIT_S <= now:
            captured = frames.pop(0)
            timestamp = round((captured - EPOCH) * VIDEO_RATE)
            if timestamp % VIDEO_RATE == 0:  # a report a second, at a frame
                video.report(timestamp, their_epoch + captured - EPOCH)
            _, placed = video.place(timestamp, captured + TRANSIT_S)
            if abs(captured - (EPOCH + beep)) < 1e-9:
                shown.append(placed)
        while sent < len(packets) and packets[sent].captured + TICK_S + TRANSIT_S <= now:
            packet = packets[sent]
            stream.push(packet.timestamp, packet.payload, packet.captured + TICK_S + TRANSIT_S)
            if sent % 50 == 0:
                sound.report(packet.timestamp, their_epoch + packet.captured - EPOCH)
            sent += 1
        block = stream.pull(TICK_SAMPLES, now)
        out.append(np.zeros(TICK_SAMPLES, np.float32) if block is None else block[0])
    (onset,) = onsets(np.concatenate(out))
    (flash,) = shown
    assert abs(flash - (EPOCH + beep + TRANSIT_S)) < 1e-6
    assert abs(onset - (flash + BASE_DELAY_S)) < ONSET_WITHIN_S


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
