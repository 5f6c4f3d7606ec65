"""A/V offset in the recorded file, from flashes and beeps.

Publishers run with --flash: a white frame once a second (the first frame at or
after each whole second of wall clock) and a 1 kHz beep that starts at that
frame's capture instant, so the two leave the publisher in sync. The file is
decoded; each flash's first white frame is
paired with the nearest beep onset, and the offset (audio minus video; positive
means the sound comes late) is reported.

    python bench/avsync.py --seconds 20 --fps 30
    python bench/avsync.py --seconds 1800 --clock-skew 1000   # a publisher 0.1 % fast

With ``--clock-skew`` the publishers' cameras and microphones run that many
parts per million fast against the wall clock, as a device's crystal does;
``avsync_drift_ms`` is then the offset over the last flashes less the offset
over the first, each over whole turns of the skewed frames' phase against the
output's ticks, and the offset is also printed minute by minute.
"""

from __future__ import annotations

import asyncio

import av
import numpy as np

from bench.cli import command_line
from bench.harness import PALETTE, bench_server, publishers, start_body

# A flash frame is white in every tile: well over this share of the canvas is
# near-white, where the moving markers and the timestamp cover under 2 %.
WHITE_SHARE = 0.2
# Each beep peaks at 0.8 of full scale; two publishers' tones together reach 0.5.
BEEP_LEVEL = 0.7
SETTLE_S = 3.0


def flash_times(path: str) -> list[float]:
    times, previous = [], False
    with av.open(path) as container:
        for frame in container.decode(video=0):
            luma = frame.to_ndarray(format="gray")
            white = float((luma > 230).mean()) > WHITE_SHARE
            if white and not previous:
                times.append(float(frame.time or 0.0))
            previous = white
    return times


def mono_sound(path: str) -> tuple[np.ndarray, int]:
    """A file's sound, downmixed to one float channel, and its rate."""
    with av.open(path) as container:
        rate = container.streams.audio[0].codec_context.sample_rate
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        chunks = [
            o.to_ndarray().reshape(-1)
            for f in container.decode(audio=0)
            for o in resampler.resample(f)
        ]
    return np.concatenate(chunks), rate


def beep_times(path: str) -> list[float]:
    sound, rate = mono_sound(path)
    audio = np.abs(sound)
    loud = np.flatnonzero(audio > BEEP_LEVEL)
    onsets = loud[np.insert(np.diff(loud) > rate // 4, 0, True)]
    return [float(i) / rate for i in onsets]


def offsets(video: list[float], audio: list[float], skip_before: float) -> list[float]:
    result = []
    for v in video:
        if v < skip_before or not audio:
            continue
        nearest = min(audio, key=lambda a: abs(a - v))
        if abs(nearest - v) < 0.5:
            result.append(nearest - v)
    return result


FLASHES_PER_MINUTE = 60
# Flashes averaged at each end of a run for its drift, at least.
DRIFT_FLASHES = 10
# A flash is shown on the output tick nearest its capture, up to half a frame
# either side of its beep, by the phase of the publisher's frames against the
# ticks; a skewed clock turns that phase a whole frame every 1 / fps / skew
# seconds (33 s at 30 fps and 0.1 %). Averaged over whole turns, the rounding
# cancels and what is left is the drift.
PHASE_TURNS = 3


def drift_flashes(fps: int, skew_ppm: float) -> int:
    """Flashes (one a second) averaged at each end of a run for its drift."""
    if not skew_ppm:
        return DRIFT_FLASHES
    return max(DRIFT_FLASHES, round(PHASE_TURNS / fps / (abs(skew_ppm) * 1e-6)))


async def run(seconds: float, fps: int, skew_ppm: float) -> None:
    users = [p.user for p in PALETTE[:2]]
    async with (
        bench_server() as bench,
        publishers(
            bench, "sync", PALETTE[:2], size="640x360", fps=fps, flash=True, skew_ppm=skew_ppm
        ),
    ):
        await bench.start("sync", start_body(640, 360, fps, users, "/sync/s.mp4"))
        await asyncio.sleep(SETTLE_S + seconds)
        await bench.stop("sync")
        path = str(bench.data_dir / "recordings" / "sync" / "s.mp4")
        found = offsets(flash_times(path), beep_times(path), SETTLE_S)
    if not found:
        raise SystemExit("no flash/beep pairs found")
    ms = np.array(found) * 1000
    print(f"pairs            {len(ms)} ({fps} fps output, frame period {1000 / fps:.1f} ms)")
    print(f"offsets_ms       {' '.join(f'{v:+.0f}' for v in ms)}")
    print(f"avsync_mean_ms   {ms.mean():+.1f}")
    print(f"avsync_mean_abs_ms {np.abs(ms).mean():.1f}")
    print(f"avsync_max_abs_ms {np.abs(ms).max():.1f}")
    if len(ms) >= 2 * FLASHES_PER_MINUTE:
        whole = range(0, len(ms) - FLASHES_PER_MINUTE + 1, FLASHES_PER_MINUTE)
        minutes = [ms[i : i + FLASHES_PER_MINUTE].mean() for i in whole]
        print(f"per_minute_ms    {' '.join(f'{v:+.1f}' for v in minutes)}")
    ends = drift_flashes(fps, skew_ppm)
    if len(ms) >= 2 * ends:
        drift = ms[-ends:].mean() - ms[:ends].mean()
        print(
            f"avsync_drift_ms  {drift:+.1f} (clock skew {skew_ppm:+g} ppm, {ends} flashes each end)"
        )


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--seconds", type=float, default=15.0, help="measured recording time")
    parser.add_argument("--fps", type=int, default=30, help="output and publisher frame rate")
    parser.add_argument(
        "--clock-skew", type=float, default=0.0, metavar="PPM", help="publishers' clocks this fast"
    )
    args = parser.parse_args()
    asyncio.run(run(args.seconds, args.fps, args.clock_skew))


if __name__ == "__main__":
    main()
