"""The bitrate a real Chromium publisher reaches, and the bot's event-loop CPU,
with the bitrate asked per box (the default) and with aiortc's per-packet
bandwidth estimate (``--estimate-bandwidth``), in the same run.

One publisher, Debian's Chromium through the demo page, its camera a canvas
of fresh noise at 640x360@15 (no encoder can shrink it, so the sent bitrate
is the bitrate allowed). It is recorded at 640x360@15 shown in a quarter
tile (320x180: asked 250 kb/s), then full canvas (asked 1 Mb/s). The sent
bitrate is read from the page's own WebRTC statistics over the last
``--window`` seconds of each case.

    python -m bench.feedback [--seconds 40] [--window 10]
"""

from __future__ import annotations

import asyncio
from typing import Any

from playwright.async_api import Page, async_playwright

from bench.browser_avsync import ARGS, CHROMIUM, JOIN_TIMEOUT_MS
from bench.cli import command_line
from bench.harness import bench_server, busiest_child
from bench.receive import thread_cpu
from recorder.demand import Shown, asked_bitrate

ROOM = "feedback"
USER = "cam"
SIZE = (640, 360)
FPS = 15
# The camera: noise redrawn every frame; the page's peer connections are kept
# where the bench can read their statistics.
SOURCE = (
    """
(() => {
  const Native = window.RTCPeerConnection;
  window.__pcs = [];
  window.RTCPeerConnection = function (...args) {
    const pc = new Native(...args);
    window.__pcs.push(pc);
    return pc;
  };
  window.RTCPeerConnection.prototype = Native.prototype;
  navigator.mediaDevices.getUserMedia = async () => {
    const canvas = document.createElement("canvas");
    Object.assign(canvas, { width: WIDTH, height: HEIGHT });
    const g = canvas.getContext("2d");
    const image = g.createImageData(canvas.width, canvas.height);
    const words = new Uint32Array(image.data.buffer);
    setInterval(() => {
      for (let i = 0; i < words.length; i++) words[i] = (Math.random() * 0xffffffff) | 0xff000000;
      g.putImageData(image, 0, 0);
    }, 1000 / FPS);
    const audio = new AudioContext({ sampleRate: 48000 });
    const out = audio.createMediaStreamDestination();
    const tone = audio.createOscillator();
    tone.connect(out);
    tone.start();
    return new MediaStream([canvas.captureStream(FPS).getVideoTracks()[0],
                            ...out.stream.getAudioTracks()]);
  };
})();
""".replace("WIDTH", str(SIZE[0]))
    .replace("HEIGHT", str(SIZE[1]))
    .replace("FPS", str(FPS))
)
BYTES_SENT = """
async () => {
  let total = 0;
  for (const pc of window.__pcs) {
    (await pc.getStats()).forEach((s) => {
      if (s.type === "outbound-rtp" && s.kind === "video") total += s.bytesSent;
    });
  }
  return total;
}
"""
CASES = (
    ("quarter tile", (320, 180)),
    ("full canvas", SIZE),
)


def body(box: tuple[int, int]) -> dict[str, Any]:
    tile = {
        "type": 0,
        "left": 0,
        "top": 0,
        "width": box[0],
        "height": box[1],
        "keepAspectRatio": 1,
        "param": {"camid": f"{USER}.-1"},
    }
    return {
        "cfgs": [
            {
                "id": "1",
                "streamTypes": 3,
                "cfg": {"width": SIZE[0], "height": SIZE[1], "frameRate": FPS},
            }
        ],
        "contents": [{"id": "1", "content": [tile]}],
        "outputs": [{"id": "1", "output": [{"type": 0, "filename": "/feedback/f.mp4"}]}],
    }


async def measure(
    estimate: bool, box: tuple[int, int], seconds: float, window: float
) -> tuple[float, float]:
    """The publisher's video bitrate (bit/s) and the bot's event loop (cores)
    over the last ``window`` seconds of a ``seconds``-long recording."""
    extra = ("--estimate-bandwidth",) if estimate else ()
    async with bench_server(extra) as bench, async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page: Page = await (await browser.new_context()).new_page()
            page.set_default_timeout(JOIN_TIMEOUT_MS)
            await page.add_init_script(SOURCE)
            await page.goto(f"{bench.base_url}/")
            await page.fill("#room", ROOM)
            await page.fill("#user", USER)
            await page.click("#join-form button[type=submit]")
            await page.wait_for_selector("#room-panel:not([hidden])")
            await bench.wait_for_tracks(ROOM, 1)
            await bench.start(ROOM, body(box))
            await asyncio.sleep(seconds - window)
            bot = busiest_child(bench.server_pid)
            loop_name = next(n for n in thread_cpu(bot) if n.endswith(f"({bot})"))
            sent0, cpu0 = await page.evaluate(BYTES_SENT), thread_cpu(bot)[loop_name]
            await asyncio.sleep(window)
            sent1, cpu1 = await page.evaluate(BYTES_SENT), thread_cpu(bot)[loop_name]
            await bench.stop(ROOM)
        finally:
            await browser.close()
    return (sent1 - sent0) * 8 / window, (cpu1 - cpu0) / window


async def run(seconds: float, window: float) -> None:
    print(f"{'case':<13} {'asked':>9} {'feedback':<10} {'sent kb/s':>9} {'loop cores':>10}")
    for name, box in CASES:
        asked = asked_bitrate(Shown(box[0], box[1], FPS))
        for estimate in (False, True):
            bitrate, cores = await measure(estimate, box, seconds, window)
            how = "estimate" if estimate else "asked"
            print(
                f"{name:<13} {asked // 1000:>6} kb/s {how:<10} {bitrate / 1000:>9.0f}"
                f" {cores:>10.4f}"
            )


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--seconds", type=float, default=40.0, help="recording length per case")
    parser.add_argument("--window", type=float, default=10.0, help="measured at the end of each")
    args = parser.parse_args()
    asyncio.run(run(args.seconds, args.window))


if __name__ == "__main__":
    main()
