"""CPU cost of recording: the server's CPU seconds per recorded second.

Runs `cloudrec serve` and two `cloudrec peer` publishers as separate processes
(so their cost is not counted), records a 2-party side-by-side layout with a
timestamp, and reads the server's CPU time from /proc.

    python -m bench.record_cost --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import time

from bench.harness import PALETTE, bench_server, cpu_seconds, publishers, start_body

# Connection set-up is not steady-state cost: measuring starts this long after start.
WARMUP_S = 3.0


async def run(seconds: float, width: int, height: int, fps: int) -> None:
    peers = PALETTE[:2]
    async with (
        bench_server() as bench,
        publishers(bench, "cost", peers, size=f"{width}x{height}", fps=fps),
    ):
        body = start_body(width, height, fps, [p.user for p in peers], "/cost/c.mp4")
        t0 = time.perf_counter()
        await bench.start("cost", body)
        start_latency = time.perf_counter() - t0
        await asyncio.sleep(WARMUP_S)
        cpu0, wall0 = cpu_seconds(bench.server_pid), time.perf_counter()
        await asyncio.sleep(seconds)
        cpu1, wall1 = cpu_seconds(bench.server_pid), time.perf_counter()
        t0 = time.perf_counter()
        final = await bench.stop("cost")
        stop_latency = time.perf_counter() - t0
    out = final["outputs"][0]
    cost = (cpu1 - cpu0) / (wall1 - wall0)
    print(f"recording          {width}x{height}@{fps}, 2 publishers, {seconds:.0f} s measured")
    print(f"file               {out['duration']} ms, {out['fileSize']} bytes")
    print(f"start_to_running_s {start_latency:.3f}")
    print(f"stop_to_closed_s   {stop_latency:.3f}")
    print(f"cpu_seconds_per_recorded_second_2p_{height}p{fps} {cost:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="measured recording time")
    parser.add_argument("--size", default="640x360", help="canvas and camera WxH")
    parser.add_argument("--fps", type=int, default=15, help="canvas and camera frame rate")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    asyncio.run(run(args.seconds, width, height, args.fps))


if __name__ == "__main__":
    main()
