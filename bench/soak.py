"""Memory over a long recording: the RSS of the recording's bot process (and
of the server), sampled while a 4-party 640x360@15 recording runs; growth is
the bot's last sample against the one taken after the first minute (allocators
and caches settle in that minute).

    python -m bench.soak --minutes 10
"""

from __future__ import annotations

import asyncio

from bench.cli import command_line
from bench.harness import (
    PALETTE,
    bench_server,
    busiest_child,
    publishers,
    rss_bytes,
    start_body,
    tile_size,
)

SETTLE_S = 60.0
SAMPLE_S = 10.0
MB = 1024 * 1024


async def run(minutes: float) -> None:
    async with (
        bench_server() as bench,
        publishers(
            bench,
            "soak",
            PALETTE[:4],
            size="640x360",
            fps=15,
            replay=True,
            shown=tile_size(4, 640, 360),
        ),
    ):
        users = [p.user for p in PALETTE[:4]]
        await bench.start("soak", start_body(640, 360, 15, users, "/soak/s.mp4"))
        await asyncio.sleep(SETTLE_S)
        bot = busiest_child(bench.server_pid)
        baseline, server_baseline = rss_bytes(bot), rss_bytes(bench.server_pid)
        samples = [baseline]
        for _ in range(int(max(0.0, minutes * 60 - SETTLE_S) / SAMPLE_S)):
            await asyncio.sleep(SAMPLE_S)
            samples.append(rss_bytes(bot))
        server_end = rss_bytes(bench.server_pid)
        final = await bench.stop("soak")
    growth = (samples[-1] - baseline) / baseline * 100
    print(
        f"bot rss_mb after 1 min {baseline / MB:.1f}, max {max(samples) / MB:.1f}, "
        f"end {samples[-1] / MB:.1f}"
    )
    print(f"server rss_mb after 1 min {server_baseline / MB:.1f}, end {server_end / MB:.1f}")
    print(
        f"file {final['outputs'][0]['duration'] / 1000:.0f} s, "
        f"{final['outputs'][0]['fileSize'] / MB:.1f} MB"
    )
    print(f"rss_growth_percent {growth:.1f}")


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--minutes", type=float, default=10.0, help="recording length")
    args = parser.parse_args()
    asyncio.run(run(args.minutes))


if __name__ == "__main__":
    main()
