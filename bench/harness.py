"""Processes for benchmarks: a `cloudrec serve`, publishers as `cloudrec peer`
processes (their cost is theirs, not the recorder's), and REST control."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

CLK_TCK = os.sysconf("SC_CLK_TCK")
TRACKS_TIMEOUT_S = 60.0
# Publishers stand in for browsers on other machines: here they share the
# recorder's cores, and at a lower priority they take the CPU it leaves rather
# than preempting its clock (the load they put on it, their packets, is the same).
PUBLISHER_NICE = 10


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat from field 3 (state) on: the name before may hold spaces."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(_stat(int(entry.name))[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError):
                continue  # gone meanwhile
    return found


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and everything it started: the server with its
    recording bots. utime + stime (stat fields 14, 15) of each live one, plus
    cutime + cstime (16, 17): what children that already ended used."""
    fields = _stat(pid)
    own = sum(int(v) for v in fields[11:15]) / CLK_TCK
    return own + sum(cpu_seconds(child) for child in children(pid))


def busiest_child(pid: int) -> int:
    """The child that has used the most CPU: a recording's bot, not the idle
    spare beside it."""
    return max(children(pid), key=cpu_seconds)


def machine_busy_seconds() -> float:
    """CPU time all cores spent busy since boot, from /proc/stat (everything
    but idle and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


@dataclass(frozen=True)
class PeerSpec:
    user: str
    color: str
    tone: float


@dataclass
class Bench:
    base_url: str
    data_dir: Path
    server_pid: int
    http: aiohttp.ClientSession

    def room_url(self, room: str) -> str:
        return f"{self.base_url}/api/v1/rooms/{room}"

    async def wait_for_tracks(self, room: str, count: int) -> None:
        async def poll() -> None:
            while True:
                async with self.http.get(self.room_url(room)) as resp:
                    if resp.status == 200:
                        body = await resp.json()
                        if sum(bool(p["tracks"]) for p in body["participants"]) >= count:
                            return
                await asyncio.sleep(0.2)

        await asyncio.wait_for(poll(), TRACKS_TIMEOUT_S)

    async def start(self, room: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self.http.post(f"{self.room_url(room)}/mixer", json=body) as resp:
            answer: dict[str, Any] = await resp.json()
            if resp.status != 200:
                raise RuntimeError(f"start failed: {answer}")
            return answer

    async def stats(self, room: str) -> dict[str, Any]:
        """The room's recorder counters now (the mixer state's ``stats``)."""
        async with self.http.get(f"{self.room_url(room)}/mixer") as resp:
            stats: dict[str, Any] = (await resp.json())["stats"]
            return stats

    async def stop(self, room: str) -> dict[str, Any]:
        async with self.http.delete(f"{self.room_url(room)}/mixer") as resp:
            answer: dict[str, Any] = await resp.json()
            return answer


async def cli_process(*args: str, stdout: int | None, nice: int = 0) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "signaling.cli",
        "--log-level",
        "WARNING",
        *args,
        stdout=stdout,
        preexec_fn=(lambda: os.nice(nice)) if nice else None,
    )


@asynccontextmanager
async def bench_server(extra: Sequence[str] = ()) -> AsyncIterator[Bench]:
    data_dir = Path(tempfile.mkdtemp(prefix="cloudrec-bench-"))
    # --dev: benchmarks run on loopback and measure recording, not access checks.
    server = await cli_process(
        "serve",
        "--dev",
        "--port",
        "0",
        "--data-dir",
        str(data_dir),
        *extra,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert server.stdout is not None
        line = await asyncio.wait_for(server.stdout.readline(), 30)
        async with aiohttp.ClientSession() as http:
            yield Bench(line.decode().split()[-1], data_dir, server.pid, http)
    finally:
        if server.returncode is None:
            server.terminate()
            await server.wait()


@asynccontextmanager
async def publishers(
    bench: Bench,
    room: str,
    peers: Sequence[PeerSpec],
    *,
    size: str,
    fps: int,
    flash: bool = False,
    replay: bool = False,
    fixed_size: bool = False,
    shown: tuple[int, int] | None = None,
    skew_ppm: float = 0.0,
) -> AsyncIterator[None]:
    """The room's publishers, in one `cloudrec peer` process (they share its
    event loop and media clock: in a process each, 4 publishers took 0.098 cores
    of the machine the benchmarks measure); ready once all have tracks.
    They follow the recorder's size requests, as browsers do, unless ``fixed_size``;
    replaying ones encode their loop for the ``shown`` box before they are ready,
    so that following the request costs them no more than it costs a browser."""
    flags = {"--flash": flash, "--replay": replay, "--fixed-size": fixed_size}
    options = [flag for flag, on in flags.items() if on]
    if replay and shown is not None and not fixed_size:
        options += ["--prepare", f"{shown[0]}x{shown[1]}"]
    if skew_ppm:
        options += ["--clock-skew", str(skew_ppm)]
    for peer in peers:
        options += ["--user", peer.user, "--color", peer.color, "--tone", str(peer.tone)]
    proc = await cli_process(
        "peer",
        "--server",
        bench.base_url,
        "--room",
        room,
        "--size",
        size,
        "--fps",
        str(fps),
        *options,
        stdout=asyncio.subprocess.DEVNULL,
        nice=PUBLISHER_NICE,
    )
    try:
        await bench.wait_for_tracks(room, len(peers))
        yield
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()


def grid_shape(count: int) -> tuple[int, int]:
    """Columns and rows of a near-square grid of ``count`` tiles."""
    cols = 1
    while cols * cols < count:
        cols += 1
    return cols, (count + cols - 1) // cols


def tile_size(count: int, width: int, height: int) -> tuple[int, int]:
    cols, rows = grid_shape(count)
    return width // cols // 2 * 2, height // rows // 2 * 2


def grid(users: Sequence[str], width: int, height: int) -> list[dict[str, Any]]:
    """A near-square grid of keep-aspect tiles plus a timestamp."""
    cols, _ = grid_shape(len(users))
    tw, th = tile_size(len(users), width, height)
    tiles: list[dict[str, Any]] = [
        {
            "type": 0,
            "left": (i % cols) * tw,
            "top": (i // cols) * th,
            "width": tw,
            "height": th,
            "keepAspectRatio": 1,
            "param": {"camid": f"{user}.-1"},
        }
        for i, user in enumerate(users)
    ]
    tiles.append({"type": 4, "left": 0, "top": 0, "width": 175, "height": 32})
    return [{"id": "1", "content": tiles}]


def start_body(
    width: int, height: int, fps: int, users: Sequence[str], filename: str
) -> dict[str, Any]:
    return {
        "cfgs": [
            {
                "id": "1",
                "streamTypes": 3,
                "cfg": {"width": width, "height": height, "frameRate": fps},
            }
        ],
        "contents": grid(users, width, height),
        "outputs": [{"id": "1", "output": [{"type": 0, "filename": filename}]}],
    }


PALETTE = [
    PeerSpec("alice", "#FF0000", 440),
    PeerSpec("bob", "#0000FF", 1500),
    PeerSpec("carol", "#00FF00", 660),
    PeerSpec("dave", "#FFFF00", 880),
    PeerSpec("erin", "#FF00FF", 550),
    PeerSpec("frank", "#00FFFF", 990),
    PeerSpec("grace", "#FF8000", 770),
    PeerSpec("heidi", "#8000FF", 1210),
    PeerSpec("ivan", "#808080", 1320),
]
