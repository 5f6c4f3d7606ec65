"""Recordings over an impaired network: loss and jitter through the relay.

Two flashing publishers (bench/avsync.py's flash and beep, in sync as they
leave) send through cloudrec/impair.py's relay, on loopback, each with its own
seeded loss and jitter on the way to the recorder; they are recorded side by
side at 640x360@30. For each condition, printed: the flashes' offset from
their beeps (mean and largest), the worst tile's frozen and placeholder time
as a share of the time measured (from SETTLE_S on), the sound lost and made
up for, the longest silence
in the sound, the playout delay the recorder settled on, and whether the file
decodes whole, as long as the recording.

    python -m bench.impaired --seconds 20
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from bench.avsync import SETTLE_S, beep_times, flash_times, mono_sound, offsets
from bench.cli import command_line
from bench.harness import PALETTE, Bench, bench_server, start_body
from cloudrec.client import Participant
from cloudrec.impair import Impairment, Relay
from cloudrec.synthetic import ColorVideoTrack, FlashSchedule, ToneAudioTrack

WIDTH, HEIGHT, FPS = 640, 360, 30
CAMERA = (320, 240)  # what each publisher sends (the recorder asks for less)


@dataclass(frozen=True)
class Condition:
    name: str
    loss: float
    delay_s: float
    jitter_s: float


CONDITIONS = [
    Condition("clean", 0.0, 0.0, 0.0),
    Condition("2% loss, 30+-10 ms", 0.02, 0.030, 0.010),
    Condition("5% loss, 30+-10 ms", 0.05, 0.030, 0.010),
    Condition("2% loss, 100+-30 ms", 0.02, 0.100, 0.030),
    Condition("5% loss, 100+-30 ms", 0.05, 0.100, 0.030),
]


@contextlib.asynccontextmanager
async def flashing(bench: Bench, room: str, condition: Condition) -> AsyncIterator[list[Relay]]:
    """Two flashing publishers in ``room``, each through a relay of its own."""
    impaired = Impairment(
        loss=condition.loss, delay_s=condition.delay_s, jitter_s=condition.jitter_s
    )
    async with contextlib.AsyncExitStack() as stack:
        relays = []
        for n, peer in enumerate(PALETTE[:2]):
            relay = await stack.enter_async_context(Relay(audio=impaired, video=impaired, seed=n))
            relays.append(relay)
            person = Participant(bench.base_url, room, peer.user, route=relay)
            await person.join()
            stack.push_async_callback(person.leave)
            schedule = FlashSchedule(FPS)
            await person.publish(
                video=ColorVideoTrack(peer.color, *CAMERA, FPS, schedule),
                audio=ToneAudioTrack(peer.tone, schedule),
            )
        await bench.wait_for_tracks(room, len(relays))
        yield relays


def video_seconds(path: Path) -> float:
    """How long the file's picture lasts: its frames at its rate."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return frames / float(stream.average_rate or FPS)


def longest_silence_s(audio: np.ndarray, rate: int) -> float:
    sound = np.flatnonzero(np.abs(audio) > 1e-3)
    return float(np.diff(sound).max() / rate) if len(sound) > 1 else float("inf")


async def run_one(bench: Bench, condition: Condition, seconds: float, n: int) -> None:
    room = f"impaired{n}"
    name = f"/{room}/s.mp4"
    users = [p.user for p in PALETTE[:2]]
    async with flashing(bench, room, condition) as relays:
        await bench.start(room, start_body(WIDTH, HEIGHT, FPS, users, name))
        began = time.monotonic()
        # Tiles are counted from once the media settled: before the first
        # frames come, a tile shows its placeholder whatever the network.
        await asyncio.sleep(SETTLE_S)
        settled = await bench.stats(room)
        await asyncio.sleep(seconds)
        stats = await bench.stats(room)
        await bench.stop(room)
        recorded = time.monotonic() - began
    path = bench.data_dir / "recordings" / room / "s.mp4"
    audio, rate = mono_sound(str(path))
    length = video_seconds(path)
    found = np.array(offsets(flash_times(str(path)), beep_times(str(path)), SETTLE_S)) * 1000
    before = {t["source"]: t for t in settled["tiles"] if t["source"]}
    after = {t["source"]: t for t in stats["tiles"] if t["source"]}

    def share(counter: str) -> float:
        """The worst tile's share of the measured time spent so, in percent."""
        worst: float = max(
            (t[counter] - before[s][counter]) / max(1, t["shownMs"] - before[s]["shownMs"])
            for s, t in after.items()
        )
        return 100 * worst

    frozen, placeholder = share("frozenMs"), share("placeholderMs")
    dropped = sum(r.counts["audio"].dropped + r.counts["video"].dropped for r in relays)
    sent = dropped + sum(r.counts["audio"].passed + r.counts["video"].passed for r in relays)
    print(f"-- {condition.name}: {dropped} of {sent} datagrams dropped")
    if len(found):
        print(f"   offset_ms          mean {found.mean():+.1f}  max {np.abs(found).max():.1f}")
    else:
        print("   offset_ms          no flash/beep pairs")
    print(f"   frozen_pct         {frozen:.2f} (worst tile)")
    print(f"   placeholder_pct    {placeholder:.2f} (worst tile)")
    concealed = stats["audioConcealedMs"] - settled["audioConcealedMs"]
    print(f"   concealed_ms       {concealed} of {2 * seconds * 1000:.0f} (both publishers)")
    stretched = stats["audioStretchedMs"] - settled["audioStretchedMs"]
    print(f"   stretched_ms       {stretched} (waits for the delay as it rose)")
    print(f"   longest_silence_ms {longest_silence_s(audio, rate) * 1000:.0f}")
    print(f"   playout_delay_ms   {stats['playoutDelayMs']}")
    print(f"   file_s             {length:.2f} of {recorded:.2f} recorded")


async def run(seconds: float) -> None:
    async with bench_server() as bench:
        for n, condition in enumerate(CONDITIONS):
            await run_one(bench, condition, seconds, n)


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--seconds", type=float, default=20.0, help="measured time per condition")
    args = parser.parse_args()
    asyncio.run(run(args.seconds))


if __name__ == "__main__":
    main()
