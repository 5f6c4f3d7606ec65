"""End-to-end recorder cost: the server process's CPU cores per real-time second
for K-party rooms, with publishers replaying pre-encoded media in their own
processes; start -> RUNNING and stop -> file closed latencies; late clock ticks
and dropped frames. The publishers' 640x360 cameras follow the recorder's size
requests (each sent at its tile's size, as browsers do) unless
--fixed-size-publishers. Where the 4-party 1280x720@30 case runs, the browser
compositor (bench/browser_compositor.py) is measured in the same run at the
same x264 preset, and the ratio of the two is printed last.

    python -m bench.record [--seconds 15] [--fixed-size-publishers]
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from bench.browser_compositor import browser_compositor_cores
from bench.cli import command_line
from bench.harness import PALETTE, bench_server, cpu_seconds, publishers, start_body, tile_size
from cloudrec.config import DEFAULT_X264_PRESET

CASES = (
    (2, 640, 360, 15),
    (4, 640, 360, 15),
    (9, 640, 360, 15),
    (2, 1280, 720, 30),
    (4, 1280, 720, 30),
    (9, 1280, 720, 30),
)
PUBLISHER_SIZE = "640x360"  # the cameras; each is sent scaled to its tile unless fixed
WARMUP_S = 3.0  # connection set-up is not steady-state cost


@dataclass
class Result:
    cores: float
    start_s: float
    stop_s: float
    late_ticks: int
    dropped: int
    ticks: int
    underruns: int


async def measure(
    parties: int,
    width: int,
    height: int,
    fps: int,
    seconds: float,
    extra: tuple[str, ...],
    fixed_size: bool,
) -> Result:
    peers = PALETTE[:parties]
    async with (
        bench_server(extra) as bench,
        publishers(
            bench,
            "rec",
            peers,
            size=PUBLISHER_SIZE,
            fps=fps,
            replay=True,
            fixed_size=fixed_size,
            shown=tile_size(parties, width, height),
        ),
    ):
        body = start_body(width, height, fps, [p.user for p in peers], "/rec/r.mp4")
        t0 = time.perf_counter()
        await bench.start("rec", body)
        start_s = time.perf_counter() - t0
        await asyncio.sleep(WARMUP_S)
        cpu0, wall0 = cpu_seconds(bench.server_pid), time.perf_counter()
        await asyncio.sleep(seconds)
        cpu1, wall1 = cpu_seconds(bench.server_pid), time.perf_counter()
        stats = await bench.stats("rec")
        t0 = time.perf_counter()
        await bench.stop("rec")
        stop_s = time.perf_counter() - t0
    return Result(
        (cpu1 - cpu0) / (wall1 - wall0),
        start_s,
        stop_s,
        stats["lateVideoTicks"] + stats["lateAudioTicks"],
        stats["framesDropped"],
        stats["videoTicks"],
        stats["audioUnderruns"],
    )


def parse_case(text: str) -> tuple[int, int, int, int]:
    """``4:640x360@15`` -> (4, 640, 360, 15)."""
    parties, _, rest = text.partition(":")
    size, _, fps = rest.partition("@")
    width, _, height = size.partition("x")
    return int(parties), int(width), int(height), int(fps)


async def run(
    seconds: float,
    cases: tuple[tuple[int, int, int, int], ...],
    preset: str | None,
    fixed_size: bool,
) -> None:
    extra = ("--x264-preset", preset) if preset else ()
    print(
        f"{'parties':>7} {'canvas':>12} {'cores':>6} {'start s':>8} {'stop s':>7}"
        f" {'late ticks':>10} {'dropped':>7} {'audio underruns':>15}"
    )
    key = 0.0
    big: float | None = None
    for parties, width, height, fps in cases:
        r = await measure(parties, width, height, fps, seconds, extra, fixed_size)
        print(
            f"{parties:>7} {width:>5}x{height}@{fps:<2} {r.cores:>6.3f} {r.start_s:>8.3f}"
            f" {r.stop_s:>7.3f} {r.late_ticks:>6}/{r.ticks:<4} {r.dropped:>6}"
            f" {r.underruns:>15}"
        )
        if (parties, height, fps) == (4, 360, 15):
            key = r.cores
        if (parties, height, fps) == (4, 720, 30):
            big = r.cores
    print(f"cores_per_recording_4p_360p15 {key:.3f}")
    if big is not None:
        browser = await browser_compositor_cores(seconds, preset or DEFAULT_X264_PRESET)
        print(f"browser compositor, 4 videos at 1280x720@30: {browser:.3f} cores")
        print(f"cores_vs_browser_compositor_4p_720p30 {big / browser:.2f}")


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--seconds", type=float, default=15.0, help="measured time per case")
    parser.add_argument(
        "--case",
        action="append",
        type=parse_case,
        help="PARTIES:WxH@FPS to run alone (repeatable); default: all",
    )
    parser.add_argument(
        "--x264-preset", help="the server's --x264-preset (default: the server's default)"
    )
    parser.add_argument(
        "--fixed-size-publishers",
        action="store_true",
        help="publishers ignore the recorder's size requests (always 640x360)",
    )
    args = parser.parse_args()
    cases = tuple(args.case or CASES)
    asyncio.run(run(args.seconds, cases, args.x264_preset, args.fixed_size_publishers))


if __name__ == "__main__":
    main()
