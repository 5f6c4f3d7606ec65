"""What a received packet costs the recording bot: a sampling profile (py-spy,
without stopping the process) of a 4-party 640x360@15 recording's bot, each
thread's samples scaled to the CPU time the kernel counted for that thread,
the event loop's samples sorted into the receive path, decoding and the rest,
and divided by the datagrams the bot received meanwhile (its
``packetsReceived`` counter).

The receive path is everything from a datagram's arrival to its frame or
sound in the recorder's buffers, less decoding: reading the sockets, ICE,
SRTP, RTP and RTCP parsing, statistics, NACKs, jitter buffering, bandwidth
feedback, and the recorder's own hooks on that path (capture clocks, audio
packet store). py-spy is installed by ``scripts/setup --bench``.

    python -m bench.receive [--seconds 20] [--rate 400] [--parties 4]
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bench.cli import command_line
from bench.harness import (
    CLK_TCK,
    PALETTE,
    bench_server,
    busiest_child,
    publishers,
    start_body,
    tile_size,
)

WARMUP_S = 3.0  # connections set up, sizes followed, delays settled
# A frame whose name or file puts its stack on the receive path (from the
# root: the first such frame decides, unless decoding or idling is deeper).
RECEIVE_MARKS = (
    "aiortc/",
    "aioice/",
    "pylibsrtp",
    "recorder/receive.py",
    "recorder/aiortc_hooks",
)
DECODE_MARKS = (
    "Vp8Decoder.",
    "H264Decoder.",
    "OpusDecoder.",
    "recorder/opus.py",
    "DecodeTap._decode",
)
IDLE_LEAVES = ("EpollSelector.select", "select (selectors.py")
MIN_THREAD_CORES = 0.001  # threads that idled (decoder threads of small videos)
_FRAME = re.compile(r"^(?P<name>.*) \((?P<where>[^)]*)\)$")


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of each of a process's threads, by ``name (tid)``."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        found[f"{name} ({task.name})"] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return found


def category(frames: list[str]) -> str:
    """Where one event-loop sample was: idle (waiting in epoll), decode,
    receive path or other."""
    if any(mark in frames[-1] for mark in IDLE_LEAVES):
        return "idle"
    if any(mark in f for f in frames for mark in DECODE_MARKS):
        return "decode"
    if any(mark in f for f in frames for mark in RECEIVE_MARKS):
        return "receive path"
    return "other"


@dataclass
class Profile:
    """Samples per thread id, and the main thread's per category and per leaf."""

    by_thread: Counter[str]
    loop: Counter[str]
    leaves: Counter[str]


def read_profile(lines: Iterable[str]) -> Profile:
    """Reads py-spy's raw (collapsed) output, one ``stack count`` a line."""
    by_thread: Counter[str] = Counter()
    loop: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not stack:
            continue
        frames = stack.split(";")
        tid = frames[0].rpartition("(")[2].rstrip("): ")
        by_thread[tid] += int(count)
        if "MainThread" in frames[0]:
            kind = category(frames[1:] or frames)
            loop[kind] += int(count)
            if kind == "receive path":
                match = _FRAME.match(frames[-1])
                leaves[match.group("name") if match else frames[-1]] += int(count)
    return Profile(by_thread, loop, leaves)


async def measure(parties: int, seconds: float, rate: int, spy: str, keep: bool) -> None:
    peers = PALETTE[:parties]
    out = Path(tempfile.mkdtemp(prefix="cloudrec-receive-")) / "profile.txt"
    async with (
        bench_server() as bench,
        publishers(
            bench,
            "rx",
            peers,
            size="640x360",
            fps=15,
            replay=True,
            shown=tile_size(parties, 640, 360),
        ),
    ):
        await bench.start("rx", start_body(640, 360, 15, [p.user for p in peers], "/rx/r.mp4"))
        await asyncio.sleep(WARMUP_S)
        bot = busiest_child(bench.server_pid)
        # The counter comes once a second: each end is up to a second old,
        # within 3 % over 30 s.
        packets0 = (await bench.stats("rx"))["packetsReceived"]
        cpu0 = thread_cpu(bot)
        sampler = await asyncio.create_subprocess_exec(
            spy, "record", "--pid", str(bot), "--rate", str(rate),
            "--duration", str(int(seconds)), "--format", "raw", "--threads",
            "--nonblocking", "--idle", "--output", str(out),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        await sampler.wait()
        cpu1 = thread_cpu(bot)
        packets1 = (await bench.stats("rx"))["packetsReceived"]
        await bench.stop("rx")
    profile = read_profile(out.read_text().splitlines())
    if not keep:
        shutil.rmtree(out.parent)
    else:
        print(f"profile kept in {out}")
    span = float(int(seconds))
    cores = {name: (cpu1[name] - cpu0.get(name, 0.0)) / span for name in cpu1}
    busy_threads = sorted((c, n) for n, c in cores.items() if c >= MIN_THREAD_CORES)
    print("bot threads, cores: " + ", ".join(f"{n} {c:.3f}" for c, n in reversed(busy_threads)))
    loop_name = next(name for name in cores if name.endswith(f"({bot})"))
    # A sample in epoll's wait is one py-spy caught on its way in or out of
    # the kernel: the thread's CPU is spread over the samples that ran code.
    busy = sum(n for kind, n in profile.loop.items() if kind != "idle")
    if busy == 0:
        sys.exit("no event-loop samples: is py-spy allowed to read the process?")
    per_sample = cores[loop_name] / busy
    packet_rate = (packets1 - packets0) / span
    print(
        f"packets a second {packet_rate:.0f}; event loop {cores[loop_name]:.4f} cores,"
        f" {busy} samples running code"
    )
    for kind in ("receive path", "decode", "other"):
        share = profile.loop[kind] * per_sample
        print(f"  {kind:<13} {share:.4f} cores, {share / packet_rate * 1e6:6.1f} us a packet")
    top = profile.leaves.most_common(12)
    print("  receive path by innermost frame: " + ", ".join(f"{n} {c}" for n, c in top))
    receive_us = profile.loop["receive path"] * per_sample / packet_rate * 1e6
    print(f"receive_path_us_per_packet {receive_us:.1f}")


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--seconds", type=float, default=20.0, help="profiled time")
    parser.add_argument("--rate", type=int, default=400, help="samples a second")
    parser.add_argument("--parties", type=int, default=4)
    parser.add_argument("--keep", action="store_true", help="keep py-spy's raw profile")
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not os.path.exists(spy):
        sys.exit("py-spy is missing: scripts/setup --bench installs it")
    asyncio.run(measure(args.parties, args.seconds, args.rate, spy, args.keep))


if __name__ == "__main__":
    main()
