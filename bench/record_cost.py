"""CPU cost of recording: the server's CPU seconds per recorded second.

Runs `cloudrec serve` and two `cloudrec peer` publishers as separate processes
(so their cost is not counted), records a 2-party 640x360@15 side-by-side layout
with a timestamp for --seconds, and reads the server's CPU time from /proc.

    python bench/record_cost.py --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

CLK_TCK = os.sysconf("SC_CLK_TCK")
PEERS = (("alice", "#FF0000", "440"), ("bob", "#0000FF", "1500"))


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat (fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def layout(size: tuple[int, int]) -> list[dict[str, object]]:
    w, h = size
    tiles = [
        {
            "type": 0,
            "left": i * w // 2,
            "top": 0,
            "width": w // 2,
            "height": h,
            "keepAspectRatio": 1,
            "param": {"camid": f"{user}.-1"},
        }
        for i, (user, _, _) in enumerate(PEERS)
    ]
    return [
        {
            "id": "1",
            "content": [*tiles, {"type": 4, "left": 0, "top": 0, "width": 175, "height": 32}],
        }
    ]


async def wait_for_tracks(http: aiohttp.ClientSession, url: str, count: int) -> None:
    while True:
        async with http.get(url) as resp:
            if resp.status == 200:
                room = await resp.json()
                if sum(bool(p["tracks"]) for p in room["participants"]) >= count:
                    return
        await asyncio.sleep(0.2)


async def run(seconds: float, size: tuple[int, int], fps: int) -> None:
    data = tempfile.mkdtemp(prefix="cloudrec-bench-")
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cloudrec.cli",
        "--log-level",
        "WARNING",
        "serve",
        "--port",
        "0",
        "--data-dir",
        data,
        stdout=asyncio.subprocess.PIPE,
    )
    peers: list[asyncio.subprocess.Process] = []
    try:
        assert server.stdout is not None
        base = (await asyncio.wait_for(server.stdout.readline(), 30)).decode().split()[-1]
        for user, color, tone in PEERS:
            peers.append(
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "cloudrec.cli",
                    "--log-level",
                    "WARNING",
                    "peer",
                    "--server",
                    base,
                    "--room",
                    "bench",
                    "--user",
                    user,
                    "--color",
                    color,
                    "--tone",
                    tone,
                    "--size",
                    "640x360",
                    "--fps",
                    str(fps),
                    stdout=asyncio.subprocess.DEVNULL,
                )
            )
        async with aiohttp.ClientSession() as http:
            room_url = f"{base}/api/v1/rooms/bench"
            await asyncio.wait_for(wait_for_tracks(http, room_url, len(PEERS)), 60)
            body = {
                "cfgs": [
                    {
                        "id": "1",
                        "streamTypes": 3,
                        "cfg": {"width": size[0], "height": size[1], "frameRate": fps},
                    }
                ],
                "contents": layout(size),
                "outputs": [{"id": "1", "output": [{"type": 0, "filename": "/bench/b.mp4"}]}],
            }
            t0 = time.perf_counter()
            async with http.post(f"{room_url}/mixer", json=body) as resp:
                resp.raise_for_status()
            start_latency = time.perf_counter() - t0
            # Skip the first seconds: connection set-up is not steady-state cost.
            await asyncio.sleep(3)
            cpu0, wall0 = cpu_seconds(server.pid), time.perf_counter()
            await asyncio.sleep(seconds)
            cpu1, wall1 = cpu_seconds(server.pid), time.perf_counter()
            t0 = time.perf_counter()
            async with http.delete(f"{room_url}/mixer") as resp:
                final = await resp.json()
            stop_latency = time.perf_counter() - t0
        out = final["outputs"][0]
        cost = (cpu1 - cpu0) / (wall1 - wall0)
        print(
            f"recording          {size[0]}x{size[1]}@{fps}, 2 publishers, {seconds:.0f} s measured"
        )
        print(f"file               {out['duration']} ms, {out['fileSize']} bytes")
        print(f"start_to_running_s {start_latency:.3f}")
        print(f"stop_to_closed_s   {stop_latency:.3f}")
        print(f"cpu_seconds_per_recorded_second_2p_{size[1]}p{fps} {cost:.3f}")
    finally:
        for proc in [*peers, server]:
            if proc.returncode is None:
                proc.terminate()
                await proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="measured recording time")
    parser.add_argument("--size", default="640x360", help="canvas WxH")
    parser.add_argument("--fps", type=int, default=15, help="canvas and publisher frame rate")
    args = parser.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    asyncio.run(run(args.seconds, (w, h), args.fps))


if __name__ == "__main__":
    main()
