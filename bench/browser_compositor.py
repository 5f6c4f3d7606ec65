"""The peer a recorder is compared with: a browser compositor, as recorders
built on a headless browser work. Debian's Chromium on a virtual display
(Xvfb) shows four 640x360@30 videos in a 2x2 grid, and ffmpeg captures the
display (x11grab) and encodes it with the recorder's own x264 settings.
It has no WebRTC ingest and no audio: it costs less than a real one would.

    python -m bench.browser_compositor [--seconds 15] [--x264-preset veryfast]
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from bench.browser_avsync import ARGS
from bench.cli import command_line
from bench.harness import cpu_seconds
from cloudrec.config import DEFAULT_X264_PRESET
from cloudrec.wire import VideoCfg, default_bit_rate
from recorder.outputs import x264_options

WIDTH, HEIGHT, FPS = 1280, 720, 30
CLIP_SECONDS = 10  # looped by the page
DISPLAY = ":73"
START_S = 8.0  # Chromium started and all four videos playing
WARMUP_S = 3.0
PAGE = """<!doctype html>
<html><body style="margin:0;background:#000;overflow:hidden">
<div style="display:grid;grid-template-columns:640px 640px">
%s
</div></body></html>
"""
VIDEO = '<video src="clip.webm" autoplay muted loop playsinline width="640" height="360"></video>'
CHROMIUM_ARGS = (*ARGS, "--kiosk", f"--window-size={WIDTH},{HEIGHT}", "--window-position=0,0")


async def _run(*command: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    if await proc.wait() != 0:
        raise RuntimeError(f"{command[0]} failed")


@contextlib.asynccontextmanager
async def _process(*command: str, env: dict[str, str] | None = None) -> AsyncIterator[int]:
    proc = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        env=env,
    )
    try:
        yield proc.pid
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def browser_compositor_cores(seconds: float, preset: str = DEFAULT_X264_PRESET) -> float:
    """Cores the browser compositor takes (Xvfb, Chromium and ffmpeg together)."""
    for tool in ("Xvfb", "chromium", "ffmpeg"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is missing: scripts/setup --bench installs it")
    work = Path(tempfile.mkdtemp(prefix="cloudrec-browser-compositor-"))
    try:
        await _run(
            "ffmpeg", "-v", "error", "-f", "lavfi",
            "-i", f"testsrc2=size=640x360:rate={FPS}:duration={CLIP_SECONDS}",
            "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "1M",
            str(work / "clip.webm"),
        )  # fmt: skip
        (work / "index.html").write_text(PAGE % "\n".join([VIDEO] * 4))
        cfg = VideoCfg(WIDTH, HEIGHT, FPS, default_bit_rate(WIDTH, HEIGHT), 26, FPS * 15)
        encoder: list[str] = []
        for key, value in x264_options(cfg, preset).items():
            encoder += [f"-{key}", value]
        env = {"DISPLAY": DISPLAY, "HOME": str(work), "PATH": "/usr/bin:/bin"}
        async with (
            _process("Xvfb", DISPLAY, "-screen", "0", f"{WIDTH}x{HEIGHT}x24", "-nolisten", "tcp")
            as xvfb,
            _process(
                "chromium", *CHROMIUM_ARGS, f"--user-data-dir={work / 'profile'}",
                f"file://{work / 'index.html'}", env=env,
            ) as chromium,
        ):  # fmt: skip
            await asyncio.sleep(START_S)
            async with _process(
                "ffmpeg", "-v", "error", "-f", "x11grab", "-draw_mouse", "0",
                "-framerate", str(FPS), "-video_size", f"{WIDTH}x{HEIGHT}", "-i", DISPLAY,
                "-c:v", "libx264", *encoder, "-pix_fmt", "yuv420p", "-y", str(work / "out.mp4"),
            ) as ffmpeg:  # fmt: skip
                await asyncio.sleep(WARMUP_S)
                pids = (xvfb, chromium, ffmpeg)
                before = sum(cpu_seconds(pid) for pid in pids)
                await asyncio.sleep(seconds)
                after = sum(cpu_seconds(pid) for pid in pids)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return (after - before) / seconds


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--seconds", type=float, default=15.0, help="measured time")
    parser.add_argument("--x264-preset", default=DEFAULT_X264_PRESET)
    args = parser.parse_args()
    cores = asyncio.run(browser_compositor_cores(args.seconds, args.x264_preset))
    print(f"browser compositor 4 x 640x360 -> {WIDTH}x{HEIGHT}@{FPS}: {cores:.3f} cores")


if __name__ == "__main__":
    main()
