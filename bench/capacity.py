"""How many concurrent 4-party 640x360@15 recordings this machine sustains with
no late clock ticks and no dropped output frames.

Publishers replay pre-encoded media, a process per room, on the same machine,
so they take CPU from the recorder: the count found is a floor for a machine
that only records. Each step adds a room and measures all rooms together.

    python -m bench.capacity [--max 10] [--seconds 20]
"""

from __future__ import annotations

import asyncio
import os
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass

from bench.cli import command_line
from bench.harness import (
    PALETTE,
    bench_server,
    cpu_seconds,
    machine_busy_seconds,
    publishers,
    start_body,
    tile_size,
)

PARTIES = 4
WARMUP_S = 3.0


@dataclass(frozen=True)
class Step:
    clean: bool
    recorder_cores: float
    machine_cores: float  # everything: the recorder, publishers, the rest
    late: int
    dropped: int
    # Times a participant's audio ran dry: not a failure of the recorder, but a
    # sign its publishers, on the same cores, no longer kept pace.
    underruns: int


async def step(rooms: int, seconds: float, fixed_size: bool) -> Step:
    """All rooms recording at once."""
    # The server's own limit on recordings at once (8 by default) is not the
    # machine's: raised to the step's room count.
    async with bench_server(("--max-sessions", str(rooms))) as bench, AsyncExitStack() as stack:
        for r in range(rooms):
            await stack.enter_async_context(
                publishers(
                    bench,
                    f"cap{r}",
                    PALETTE[:PARTIES],
                    size="640x360",
                    fps=15,
                    replay=True,
                    fixed_size=fixed_size,
                    shown=tile_size(PARTIES, 640, 360),
                )
            )
        for r in range(rooms):
            users = [p.user for p in PALETTE[:PARTIES]]
            await bench.start(f"cap{r}", start_body(640, 360, 15, users, f"/cap/{r}.mp4"))
        await asyncio.sleep(WARMUP_S)
        before = {}
        for r in range(rooms):
            before[r] = await bench.stats(f"cap{r}")
        cpu0, busy0, wall0 = (
            cpu_seconds(bench.server_pid),
            machine_busy_seconds(),
            time.perf_counter(),
        )
        await asyncio.sleep(seconds)
        wall = time.perf_counter() - wall0
        cores = (cpu_seconds(bench.server_pid) - cpu0) / wall
        machine = (machine_busy_seconds() - busy0) / wall
        late = dropped = underruns = 0
        for r in range(rooms):
            stats = await bench.stats(f"cap{r}")
            late += (
                stats["lateVideoTicks"]
                - before[r].get("lateVideoTicks", 0)
                + stats["lateAudioTicks"]
                - before[r].get("lateAudioTicks", 0)
            )
            dropped += stats["framesDropped"] - before[r].get("framesDropped", 0)
            underruns += stats["audioUnderruns"] - before[r].get("audioUnderruns", 0)
        for r in range(rooms):
            await bench.stop(f"cap{r}")
    return Step(late == 0 and dropped == 0, cores, machine, late, dropped, underruns)


async def run(limit: int, seconds: float, fixed_size: bool) -> None:
    print(
        f"{'rooms':>5} {'recorder cores':>14} {'machine cores':>13} {'late ticks':>10}"
        f" {'dropped':>7} {'audio underruns':>15}"
        f"   ({os.cpu_count()} cores, publishers on the same machine)"
    )
    sustained = 0
    for rooms in range(1, limit + 1):
        s = await step(rooms, seconds, fixed_size)
        print(
            f"{rooms:>5} {s.recorder_cores:>14.2f} {s.machine_cores:>13.2f} {s.late:>10}"
            f" {s.dropped:>7} {s.underruns:>15}"
        )
        if not s.clean:
            break
        sustained = rooms
    print(f"concurrent_4p_360p15_recordings {sustained}")


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--max", type=int, default=10, help="rooms to try at most")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured time per step")
    parser.add_argument(
        "--fixed-size-publishers",
        action="store_true",
        help="publishers ignore the recorder's size requests (always 640x360)",
    )
    args = parser.parse_args()
    asyncio.run(run(args.max, args.seconds, args.fixed_size_publishers))


if __name__ == "__main__":
    main()
