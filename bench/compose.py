"""Cost per output frame of composing N camera tiles plus a timestamp, against
ffmpeg's own filter graph (scale + pad + xstack + drawtext) on the same raw frames.

Both sides get the same 640x360 yuv420p frames, a new one per tile per output
frame (the worst case: every camera changed). Ours is the product's path: the
mixer's frame conversion, the compositor, and the conversion the encoder needs
(yuv420p). The figure is CPU seconds (all threads) per output frame, measured in
the same run; ffmpeg runs with one filter thread (the least overhead).

    python -m bench.compose            # needs ffmpeg on PATH (apt-get install ffmpeg)
"""

from __future__ import annotations

import os
import resource
import subprocess
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np

from bench.cli import command_line
from bench.harness import grid
from cloudrec.sources import SourceId
from cloudrec.wire import Limits, parse_contents, parse_start
from compositor.compose import Compositor, VideoSource
from recorder.mixer import to_source, to_video_frame

SOURCE = (640, 360)
DISTINCT_FRAMES = 30
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
SIZES = ((640, 360), (1280, 720), (1920, 1080))
TILES = (1, 4, 9, 16)


def source_frames(seed: int) -> list[np.ndarray]:
    """Camera-like yuv420p frames: a gradient, noise and a moving block."""
    rng = np.random.default_rng(seed)
    w, h = SOURCE
    base = np.add.outer(np.arange(h), np.arange(w)).astype(np.float32) % 256
    frames = []
    for i in range(DISTINCT_FRAMES):
        y = (base + rng.normal(0, 12, (h, w)) + 40 * seed) % 220 + 16
        y[40:120, (i * 16) % (w - 80) : (i * 16) % (w - 80) + 80] = 235
        chroma = np.full((h // 2, w), 128 + 20 * ((seed % 5) - 2), np.float32)
        frames.append(np.vstack([y, chroma]).astype(np.uint8))
    return frames


def ours(tiles: list[list[np.ndarray]], size: tuple[int, int], count: int) -> float:
    w, h = size
    users = [f"u{i}" for i in range(len(tiles))]
    cfgs = parse_start(
        [{"id": "1", "cfg": {"width": w, "height": h}}],
        [],
        [{"id": "1", "output": [{"type": 0, "filename": "/b.mp4"}]}],
        Limits(),
    ).cfgs
    contents = parse_contents(grid(users, w, h), cfgs, Limits())[0].content
    compositor = Compositor(w, h)
    # Decoded frames arrive ready-made; their conversion for the compositor is ours.
    decoded = [
        [av.VideoFrame.from_ndarray(f, format="yuv420p") for f in frames] for frames in tiles
    ]
    start = time.process_time()
    for n in range(count):
        sources = {}
        for user, frames in zip(users, decoded, strict=True):
            sources[SourceId.camera(user)] = VideoSource(
                to_source(frames[n % DISTINCT_FRAMES]), user
            )
        canvas = compositor.compose(contents, sources, 1_800_000_000.0 + n / 15)
        to_video_frame(canvas, n).reformat(format="yuv420p")
    return (time.process_time() - start) / count


def ffmpeg(files: list[Path], size: tuple[int, int], count: int) -> float:
    w, h = size
    cols = 1
    while cols * cols < len(files):
        cols += 1
    rows = (len(files) + cols - 1) // cols
    tw, th = w // cols // 2 * 2, h // rows // 2 * 2
    inputs: list[str] = []
    for f in files:
        inputs += [
            "-f",
            "rawvideo",
            "-pix_fmt",
            "yuv420p",
            "-s",
            f"{SOURCE[0]}x{SOURCE[1]}",
            "-r",
            "15",
            "-stream_loop",
            "-1",
            "-i",
            str(f),
        ]
    scaled = ";".join(
        f"[{i}]scale={tw}:{th}:force_original_aspect_ratio=decrease,"
        f"pad={tw}:{th}:(ow-iw)/2:(oh-ih)/2[s{i}]"
        for i in range(len(files))
    )
    if len(files) == 1:
        stacked = "[s0]null[st]"
    else:
        layout = "|".join(f"{(i % cols) * tw}_{(i // cols) * th}" for i in range(len(files)))
        labels = "".join(f"[s{i}]" for i in range(len(files)))
        stacked = f"{labels}xstack=inputs={len(files)}:layout={layout}:fill=black[st]"
    text = (
        f"[st]pad={w}:{h}:0:0,drawtext=fontfile={FONT}:text='%{{localtime}}':fontsize=18:"
        "fontcolor=white:box=1:boxcolor=black@0.5:boxborderw=5:x=0:y=0,format=yuv420p"
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-filter_threads",
            "1",
            "-filter_complex_threads",
            "1",
            *inputs,
            "-filter_complex",
            f"{scaled};{stacked};{text}",
            "-frames:v",
            str(count),
            "-f",
            "null",
            "-",
        ],
        check=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) / count


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--frames", type=int, default=90, help="output frames per case")
    args = parser.parse_args()
    cv2.setNumThreads(1)  # as the server sets it
    tiles = [source_frames(seed) for seed in range(max(TILES))]
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for seed, frames in enumerate(tiles):
            path = Path(tmp) / f"tile{seed}.yuv"
            path.write_bytes(b"".join(f.tobytes() for f in frames))
            files.append(path)
        print(
            f"{'canvas':>10} {'tiles':>5} {'ours ms':>8} {'ffmpeg ms':>9} {'ratio':>6}"
            f"   (CPU per output frame, {os.cpu_count()} cores)"
        )
        ratio_720p4 = 0.0
        for size in SIZES:
            for n in TILES:
                mine = ours(tiles[:n], size, args.frames)
                theirs = ffmpeg(files[:n], size, args.frames)
                ratio = mine / theirs
                if size == (1280, 720) and n == 4:
                    ratio_720p4 = ratio
                print(
                    f"{size[0]:>5}x{size[1]:<4} {n:>5} {mine * 1000:>8.2f} {theirs * 1000:>9.2f}"
                    f" {ratio:>6.2f}"
                )
    print(f"compose_vs_ffmpeg_ratio {ratio_720p4:.2f}")


if __name__ == "__main__":
    main()
