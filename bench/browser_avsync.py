"""A/V offset with real Chromium publishers through the demo page.

Each publisher is a page of Debian's Chromium that joins the room as a person
would, its camera and microphone replaced by a source of our own on one
clock: frames and 10 ms blocks of sound made in the page and pushed into
tracks (MediaStreamTrackGenerator), each when a camera or a microphone would
hand it over, a frame at its instant, a block once its last sample is due,
both timed by the page's performance.now(). Read back through Chromium's
sender reports, a flash and its beep were captured within about a millisecond
of each other (bench/README.md); a canvas and WebAudio, used before, are
stamped when Chromium next captures the canvas and when WebAudio renders, in
bursts ahead of time. The first publisher flashes white on the frame at each
whole second of that clock and beeps (50 ms, 1 kHz) from the same instant's
sample; the others send a moving picture and a quiet tone, for load.
The recording is decoded and each flash paired with its beep (bench/avsync.py):
the offset is audio minus video, positive when the sound comes late.

``--isolate`` gives the flashing page a CPU of its own; ``--no-mesh`` has the
pages send to the recorder alone, not also to each other.

Each run also prints how late the flashing page's source ran at worst while
recording (its timers held up by the CPU it shares), to tell a source that
kept time from one that did not. ``--keep DIR`` copies each run's recording
there, to look at a flash that came out far from its beep.

    python -m bench.browser_avsync [--publishers 1,4] [--runs 3] [--seconds 20]
        [--isolate] [--no-mesh] [--keep DIR]
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import statistics
from pathlib import Path
from typing import NamedTuple

import numpy as np
from playwright.async_api import Browser, Page, async_playwright

from bench.avsync import SETTLE_S, beep_times, flash_times, offsets
from bench.cli import command_line
from bench.harness import PUBLISHER_NICE, bench_server, children, start_body

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--use-fake-ui-for-media-stream",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # The source's AudioContext starts without a person's click.
    "--autoplay-policy=no-user-gesture-required",
]
ROOM = "browsersync"
SIZE = (640, 360)
JOIN_TIMEOUT_MS = 30_000
# The source, installed before the page's own scripts: getUserMedia answers it.
# Its writes are not awaited: a source that fell behind would only be late, and
# lateness is what is measured.
SOURCE = """
(() => {
  const FPS = %(fps)d, FLASH = %(flash)s, COLOR = "%(color)s", TONE = %(tone)f;
  const RATE = 48000, CHUNK = RATE / 100, BEEP = RATE / 20;
  navigator.mediaDevices.getUserMedia = async () => {
    const canvas = new OffscreenCanvas(%(w)d, %(h)d);
    const g = canvas.getContext("2d");
    const camera = new MediaStreamTrackGenerator({ kind: "video" });
    const microphone = new MediaStreamTrackGenerator({ kind: "audio" });
    const frames = camera.writable.getWriter(), chunks = microphone.writable.getWriter();
    const start = performance.now();
    let frame = 0, chunk = 0, x = 0;
    window.sourceLateMs = 0;
    const sample = (n) => {
      const beeping = FLASH && n >= RATE && n %% RATE < BEEP;
      const beep = beeping ? 0.8 * Math.sin((2 * Math.PI * 1000 * n) / RATE) : 0;
      return beep + 0.05 * Math.sin((2 * Math.PI * TONE * n) / RATE);
    };
    const tick = () => {
      const now = performance.now();
      const next = start + Math.min((frame * 1000) / FPS, ((chunk + 1) * CHUNK * 1000) / RATE);
      window.sourceLateMs = Math.max(window.sourceLateMs, now - next);
      for (; start + (frame * 1000) / FPS <= now; frame++) {
        const flash = FLASH && frame > 0 && frame %% FPS === 0;
        g.fillStyle = flash ? "#ffffff" : COLOR;
        g.fillRect(0, 0, canvas.width, canvas.height);
        g.fillStyle = "#000000";
        g.fillRect(x, 20, 40, 40);
        x = (x + 4) %% (canvas.width - 40);
        const timestamp = Math.round((start + (frame * 1000) / FPS) * 1000);
        frames.write(new VideoFrame(canvas, { timestamp }));
      }
      for (; start + ((chunk + 1) * CHUNK * 1000) / RATE <= now; chunk++) {
        const data = new Float32Array(CHUNK);
        for (let i = 0; i < CHUNK; i++) data[i] = sample(chunk * CHUNK + i);
        const timestamp = Math.round((start + (chunk * CHUNK * 1000) / RATE) * 1000);
        const format = "f32-planar", sampleRate = RATE, numberOfFrames = CHUNK;
        const block = { format, sampleRate, numberOfFrames, numberOfChannels: 1, timestamp, data };
        chunks.write(new AudioData(block));
      }
      const due = start + Math.min((frame * 1000) / FPS, ((chunk + 1) * CHUNK * 1000) / RATE);
      setTimeout(tick, Math.max(0, due - performance.now()));
    };
    tick();
    return new MediaStream([camera, microphone]);
  };
})();
"""
COLORS = ("#d04040", "#4060d0", "#40a040", "#a040a0")
# The demo page also sends its camera to every other participant (a mesh):
# with four pages on one machine, four encodes and three decodes each that
# would run on the participants' own machines. This keeps a page's offers to
# the other pages from leaving it, answering them as the server would, so
# that it sends to the recorder alone.
NO_MESH = """
(() => {
  const PAGES = %(pages)s, send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    const message = JSON.parse(data);
    if (message.type !== "signal" || !PAGES.includes(message.to)) return send.call(this, data);
    const reply = JSON.stringify({ type: "reply", rid: message.rid });
    setTimeout(() => this.dispatchEvent(new MessageEvent("message", { data: reply })));
  };
})();
"""


async def joined(
    browser: Browser, base_url: str, n: int, fps: int, alone_among: int | None = None
) -> Page:
    """Page ``n`` joined and publishing; ``alone_among``: the room's page
    count, when each sends to the recorder alone (NO_MESH)."""
    page = await (await browser.new_context()).new_page()
    page.set_default_timeout(JOIN_TIMEOUT_MS)
    if alone_among is not None:
        await page.add_init_script(NO_MESH % {"pages": [f"p{k}" for k in range(alone_among)]})
    source = {
        "fps": fps,
        "flash": "true" if n == 0 else "false",
        "color": COLORS[n % len(COLORS)],
        "tone": 300.0 + 110 * n,
        "w": SIZE[0],
        "h": SIZE[1],
    }
    await page.add_init_script(SOURCE % source)
    await page.goto(f"{base_url}/")
    await page.fill("#room", ROOM)
    await page.fill("#user", f"p{n}")
    await page.click("#join-form button[type=submit]")
    await page.wait_for_selector("#room-panel:not([hidden])")
    return page


def chromium_on(folder: Path, name: str, cpu: int, nice: int = 0) -> str:
    """A Chromium that runs on one CPU only, at ``nice``."""
    script = folder / name
    script.write_text(f'#!/bin/sh\nexec nice -n {nice} taskset -c {cpu} {CHROMIUM} "$@"\n')
    script.chmod(0o755)
    return str(script)


def pin_tree(pid: int, cpus: set[int]) -> None:
    """Every thread of ``pid``, and of the processes it started, onto
    ``cpus``; the threads and processes they start later inherit it."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            os.sched_setaffinity(int(tid), cpus)
    for child in children(pid):
        pin_tree(child, cpus)


class Run(NamedTuple):
    offsets: list[float]  # seconds, flash by flash
    # How late the flashing page's source ran at worst while recording, ms.
    source_late_ms: float


async def one_run(
    publishers: int, seconds: float, fps: int, isolate: bool, mesh: bool, keep: Path | None
) -> Run:
    """One recording, copied to ``keep`` where given. ``isolate``: the
    flashing page on CPU 1 alone, the recorder and the other pages (at the
    benchmark publishers' lower priority) on CPU 0, as if the page that times
    the flashes were on a machine of its own."""
    async with bench_server() as bench, async_playwright() as playwright:
        launch = playwright.chromium.launch
        if isolate:
            pin_tree(bench.server_pid, {0})
            flasher = chromium_on(bench.data_dir, "chromium-flash", 1)
            loader = chromium_on(bench.data_dir, "chromium-load", 0, PUBLISHER_NICE)
            browsers = [await launch(executable_path=flasher, args=ARGS)]
            if publishers > 1:
                browsers.append(await launch(executable_path=loader, args=ARGS))
        else:
            browsers = [await launch(executable_path=CHROMIUM, args=ARGS)]
        try:
            pages = [
                await joined(
                    browsers[min(n, len(browsers) - 1)],
                    bench.base_url,
                    n,
                    fps,
                    None if mesh else publishers,
                )
                for n in range(publishers)
            ]
            await bench.wait_for_tracks(ROOM, publishers)
            users = [f"p{n}" for n in range(publishers)]
            await bench.start(ROOM, start_body(*SIZE, fps, users, "/browser/s.mp4"))
            await pages[0].evaluate("window.sourceLateMs = 0")
            await asyncio.sleep(SETTLE_S + seconds)
            await bench.stop(ROOM)
            late = float(await pages[0].evaluate("window.sourceLateMs"))
        finally:
            for browser in browsers:
                await browser.close()
        path = str(Path(bench.data_dir) / "recordings" / "browser" / "s.mp4")
        if keep is not None:
            shutil.copyfile(path, keep)
        return Run(offsets(flash_times(path), beep_times(path), SETTLE_S), late)


async def run(
    counts: list[int],
    runs: int,
    seconds: float,
    fps: int,
    isolate: bool,
    mesh: bool,
    keep: Path | None,
) -> None:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
    for publishers in counts:
        means, worst = [], 0.0
        for number in range(1, runs + 1):
            kept = None if keep is None else keep / f"{publishers}p-run{number}.mp4"
            found, late = await one_run(publishers, seconds, fps, isolate, mesh, kept)
            source = f"source late up to {late:.0f} ms"
            if not found:
                print(f"{publishers} publisher(s), run {number}: no flash/beep pairs; {source}")
                continue
            ms = np.array(found) * 1000
            means.append(float(ms.mean()))
            worst = max(worst, float(np.abs(ms).max()))
            each = " ".join(f"{v:+.0f}" for v in ms)
            print(
                f"{publishers} publisher(s), run {number}: {len(ms)} pairs, mean {ms.mean():+.1f}"
                f" ms, max |offset| {np.abs(ms).max():.1f} ms; {source}; {each}"
            )
        if means:
            runs_text = ", ".join(f"{m:+.1f}" for m in means)
            print(
                f"browser_avsync_{publishers}p mean of runs {statistics.fmean(means):+.1f} ms"
                f" (run means {runs_text}), max |offset| {worst:.1f} ms"
            )


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--publishers", default="1,4", help="publisher counts, comma-separated")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0, help="measured recording time")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument(
        "--isolate",
        action="store_true",
        help="the flashing page on a CPU of its own, the recorder and the others on the other",
    )
    parser.add_argument(
        "--no-mesh",
        action="store_true",
        help="the pages send to the recorder alone, not to each other",
    )
    parser.add_argument(
        "--keep", type=Path, metavar="DIR", help="copy each run's recording into DIR"
    )
    args = parser.parse_args()
    counts = [int(c) for c in args.publishers.split(",")]
    mesh = not args.no_mesh
    run_all = run(counts, args.runs, args.seconds, args.fps, args.isolate, mesh, args.keep)
    asyncio.run(run_all)


if __name__ == "__main__":
    main()
