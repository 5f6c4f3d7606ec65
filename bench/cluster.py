"""Recording on a cluster, measured on this machine: a redis-server this
script starts, a control node (`cloudrec serve --redis`) and workers
(`cloudrec worker`), each a process of its own; publishers replay
pre-encoded media, one `cloudrec peer` process a room.

- start -> RUNNING through Redis and a worker, against the local launcher
  (`cloudrec serve` alone), measured in the same run;
- placement over N workers and M rooms: jobs per worker, the cores the cost
  model reserved against what each worker measured;
- the recording time lost when the worker that records is SIGKILLed: what
  part 1 did not keep at its end, plus the gap until part 2 runs (median of K).

    python -m bench.cluster [--starts 5] [--workers 3] [--rooms 6] [--kills 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import av
from redis.asyncio import Redis

from bench.harness import (
    PALETTE,
    Bench,
    PeerSpec,
    bench_server,
    cli_process,
    publishers,
    start_body,
)
from cloudrec.cluster.cost import job_cores
from cloudrec.cluster.store import ClusterStore, WorkerStatus
from cloudrec.wire import Limits, parse_start, part_name

# The cluster's credential (the bench's own, made up for the run).
os.environ.setdefault("CLOUDREC_API_KEY", "bench-key")
os.environ.setdefault("CLOUDREC_API_SECRET", "bench-secret-long-enough-for-signing")

CANVAS = (640, 360, 15)
PARTIES = 2
RECORD_S = 3.0  # how long each measured recording runs before it is stopped or its worker killed
POLL_S = 0.02
WORKER_START_S = 60.0
STEADY_S = 6.0  # placement case: measured once every bot has settled
WORKER_CORES = 2.0


@asynccontextmanager
async def redis_server() -> AsyncIterator[str]:
    folder = Path(tempfile.mkdtemp(prefix="cloudrec-bench-redis-"))
    socket = folder / "redis.sock"
    proc = await asyncio.create_subprocess_exec(
        shutil.which("redis-server") or "redis-server",
        "--port", "0", "--unixsocket", str(socket), "--save", "", "--appendonly", "no",
        stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    url = f"unix://{socket}"
    client = Redis.from_url(url)
    try:
        for _ in range(500):
            try:
                if await client.ping():
                    break
            except Exception:
                await asyncio.sleep(POLL_S)
        yield url
    finally:
        await client.aclose()
        proc.terminate()
        await proc.wait()
        shutil.rmtree(folder, ignore_errors=True)


async def start_worker(
    url: str, node: str, data_dir: Path, cores: float
) -> asyncio.subprocess.Process:
    return await cli_process(
        "worker", "--redis", url, "--node-id", node, "--data-dir", str(data_dir),
        "--capacity-cores", str(cores), "--port", "0",
        stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def wait_registered(store: ClusterStore, nodes: set[str]) -> None:
    deadline = time.monotonic() + WORKER_START_S
    while {w.node_id for w in await store.workers()} < nodes:
        if time.monotonic() > deadline:
            raise RuntimeError(f"workers {nodes} did not register")
        await asyncio.sleep(0.1)


def peers(room: str) -> list[PeerSpec]:
    """The room's publishers, named after it (one user ID can be in one room only)."""
    return [PeerSpec(f"{room}-{p.user}", p.color, p.tone) for p in PALETTE[:PARTIES]]


async def timed_starts(bench: Bench, count: int) -> list[float]:
    """Seconds from the start call to its answer (RUNNING), ``count`` times."""
    room = "s"
    users = [p.user for p in peers(room)]
    took = []
    w, h, fps = CANVAS
    async with publishers(bench, room, peers(room), size="640x360", fps=fps, replay=True):
        for n in range(count):
            began = time.perf_counter()
            await bench.start(room, start_body(w, h, fps, users, f"/bench/s{n}.mp4"))
            took.append(time.perf_counter() - began)
            await asyncio.sleep(1.0)
            await bench.stop(room)
    return took


async def mixer(bench: Bench, room: str) -> dict:  # type: ignore[type-arg]
    async with bench.http.get(f"{bench.room_url(room)}/mixer") as resp:
        return await resp.json()  # type: ignore[no-any-return]


def duration_s(path: Path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        last = 0.0
        for packet in container.demux(stream):
            if packet.pts is not None:
                last = max(last, float(packet.pts * packet.time_base))
        return last + 1 / CANVAS[2]


def spread(values: list[float], scale: float = 1.0, unit: str = "s") -> str:
    low, mid, high = (scale * v for v in (min(values), statistics.median(values), max(values)))
    return f"median {mid:.2f} {unit} ({low:.2f}-{high:.2f})"


def report_starts(local: list[float], cluster: list[float]) -> None:
    w, h, fps = CANVAS
    print(f"start -> RUNNING, {PARTIES}-party {w}x{h}@{fps}, {len(local)} starts each:")
    print(f"  local launcher:         {spread(local, 1000, 'ms')}")
    print(f"  through Redis + worker: {spread(cluster, 1000, 'ms')}")
    print(f"  ratio Redis/local: {statistics.median(cluster) / statistics.median(local):.2f}")


def report_placement(
    placed: dict[str, list[str]], reserved: dict[str, float], statuses: list[WorkerStatus]
) -> None:
    w, h, fps = CANVAS
    body = start_body(w, h, fps, [p.user for p in peers("x")], "/x.mp4")
    request = parse_start(body["cfgs"], body["contents"], body["outputs"], Limits())
    estimate = job_cores(request, PARTIES)
    rooms = sum(len(v) for v in placed.values())
    print(
        f"\nplacement, {rooms} rooms over {len(statuses)} workers,"
        f" model {estimate:.3f} cores a job:"
    )
    for status in statuses:
        jobs = len(placed.get(status.node_id, []))
        print(
            f"  {status.node_id}: {jobs} jobs; reserved at start"
            f" {reserved.get(status.node_id, 0.0):.3f}, model {estimate * jobs:.3f},"
            f" measured {status.used:.3f} cores after {STEADY_S:.0f} s"
        )


async def place_rooms(control: Bench, store: ClusterStore, count: int) -> None:
    w, h, fps = CANVAS
    rooms = [f"r{n}" for n in range(count)]
    async with AsyncExitStack() as stack:
        for room in rooms:
            await stack.enter_async_context(
                publishers(
                    control,
                    room,
                    peers(room),
                    size="640x360",
                    fps=fps,
                    replay=True,
                    shown=(w // 2, h),
                )
            )
        placed: dict[str, list[str]] = {}
        for room in rooms:
            users = [p.user for p in peers(room)]
            await control.start(room, start_body(w, h, fps, users, f"/bench/{room}.mp4"))
            placed.setdefault((await mixer(control, room))["worker"], []).append(room)
        reserved = {s.node_id: s.reserved for s in await store.workers()}
        await asyncio.sleep(STEADY_S)
        statuses = await store.workers()
        for room in rooms:
            await control.stop(room)
    report_placement(placed, reserved, statuses)


async def one_kill(
    control: Bench, room: str, name: str, procs: dict[str, asyncio.subprocess.Process]
) -> tuple[str, float, float, float]:
    """Records, kills the worker that records, waits for part 2 to run;
    (worker, seconds recorded before the kill, seconds part 1 kept, seconds
    from the kill to part 2's file)."""
    w, h, fps = CANVAS
    await control.start(room, start_body(w, h, fps, [p.user for p in peers(room)], name))
    running_at = time.monotonic()
    victim = (await mixer(control, room))["worker"]
    await asyncio.sleep(RECORD_S)
    killed_at = time.monotonic()
    procs[victim].send_signal(signal.SIGKILL)
    await procs[victim].wait()
    # Part 2 runs once its file is created (output info with its name).
    second = part_name(name, 2)
    while not any(o["fileName"] == second for o in (await mixer(control, room))["outputs"]):
        await asyncio.sleep(POLL_S)
    resumed_at = time.monotonic()
    await asyncio.sleep(1.0)
    await control.stop(room)
    kept = duration_s(control.data_dir / "recordings" / name.lstrip("/"))
    return victim, killed_at - running_at, kept, resumed_at - killed_at


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--rooms", type=int, default=6)
    parser.add_argument("--kills", type=int, default=5)
    args = parser.parse_args()

    async with bench_server() as local:
        local_starts = await timed_starts(local, args.starts)

    async with redis_server() as url, AsyncExitStack() as stack:
        store = ClusterStore(Redis.from_url(url))
        stack.push_async_callback(store.redis.aclose)
        control = await stack.enter_async_context(bench_server(["--redis", url]))
        procs: dict[str, asyncio.subprocess.Process] = {}

        async def up(node: str) -> None:
            # One disk for all, as NFS would be: the bench reads every part.
            procs[node] = await start_worker(url, node, control.data_dir, WORKER_CORES)
            await wait_registered(store, {node})

        async def down(node: str) -> None:
            proc = procs.pop(node)
            if proc.returncode is None:
                proc.send_signal(signal.SIGINT)
                await proc.wait()

        async def down_all() -> None:
            for node in list(procs):
                await down(node)

        stack.push_async_callback(down_all)

        await up("w0")
        report_starts(local_starts, await timed_starts(control, args.starts))

        for n in range(1, args.workers):
            await up(f"w{n}")
        await place_rooms(control, store, args.rooms)

        for node in list(procs)[2:]:
            await down(node)
        lost = []
        print(f"\nSIGKILL of the recording worker, {args.kills} times, {RECORD_S:.0f} s in:")
        async with publishers(control, "k", peers("k"), size="640x360", fps=CANVAS[2], replay=True):
            for n in range(args.kills):
                victim, recorded, kept, gap = await one_kill(
                    control, "k", f"/bench/k{n}.mp4", procs
                )
                lost.append(recorded - kept + gap)
                print(f"  part 1 kept {kept:.2f} of {recorded:.2f} s; part 2 ran {gap:.2f} s after")
                procs.pop(victim)
                if n + 1 < args.kills:
                    await up(victim)  # back for the next round
        print(f"recording time lost: {spread(lost)}")


if __name__ == "__main__":
    asyncio.run(main())
