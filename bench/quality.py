"""x264 settings judged by measured quality: CPU per frame, bits and quality
(PSNR and SSIM of luma) of each candidate on the compositor's own canvases,
before any encoding, so the reference is uncompressed.

Four scenes, each drawn by the product's compositor with a timestamp on top:
four moving heads in a grid, a panning texture, a scrolling document shared
as a screen with a camera in a corner, and a still slide with the same
camera. Each size is encoded as the recorder encodes it (recorder/outputs.py
x264_options: capped CRF at the SPEC's guide bitrate, zerolatency, one
thread), and decoded back to be compared frame by frame. VMAF is judged too
where vmaf-torch is installed (``pip install -e .[vmaf]``): neither PyAV's
FFmpeg nor Debian's has libvmaf.

    python -m bench.quality [--seconds 6] [--sizes 640x360@15,1280x720@30]
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from fractions import Fraction

import av
import cv2
import numpy as np

from bench.harness import grid
from bench.vmaf import VmafReference, vmaf_meter
from cloudrec.sources import SourceId
from cloudrec.wire import Limits, VideoCfg, parse_contents, parse_start
from compositor.compose import Compositor, VideoSource
from compositor.planes import I420, Yuv420
from recorder.mixer import to_video_frame
from recorder.outputs import x264_options

# The SPEC's guide: 640x360 500 kb/s, 1280x720 1 Mb/s, 1920x1080 2 Mb/s.
GUIDE_BIT_RATES = {360: 500_000, 720: 1_000_000, 1080: 2_000_000}
CAMERA = (640, 360)
NOISE = 3.0  # a camera sensor's, in luma levels
WALL_CLOCK = 1_800_000_000.0  # the timestamp overlay's start
# The bound a cheaper default is held to against today's, on every scene: this
# much PSNR-Y, or where VMAF is measured and not saturated, this much VMAF.
MAX_PSNR_LOSS_DB = 0.3
MAX_VMAF_LOSS = 1.0
# VMAF is clipped at 100, and on sharp text it reads nearly 100 while PSNR
# sees a loss of 2 dB: from this score on, a scene's VMAF does not count.
VMAF_SATURATED = 99.0
# Uncapped CRFs whose (bitrate, quality) points give each candidate's quality at
# the bitrate today's default spends, by interpolation in log-bitrate.
CURVE_CRFS = (20, 26, 32)

# name -> (preset, x264-params on top of it); the first is today's default.
CANDIDATES: dict[str, tuple[str, str]] = {
    "veryfast+dia": ("veryfast", "me=dia"),
    "+partitions=i8x8": ("veryfast", "me=dia:partitions=i8x8"),
    "+partitions=none": ("veryfast", "me=dia:partitions=none"),
    "+weightp=0": ("veryfast", "me=dia:weightp=0"),
    "+cabac=0": ("veryfast", "me=dia:cabac=0"),
    "superfast": ("superfast", ""),
    "ultrafast+cabac": ("ultrafast", "cabac=1:deblock=1,0,0:aq-mode=1"),
    # B-frames (zerolatency leaves them out): fewer bits for the same picture,
    # to spend on a cheaper search; each holds frames back in the encoder.
    "+bframes=3": ("veryfast", "me=dia:bframes=3:b-adapt=1"),
    "+bframes=3+subme=1": ("veryfast", "me=dia:bframes=3:b-adapt=1:subme=1"),
    # Adaptive quantisation off: flat noisy areas (a webcam facing a plain
    # wall) are then not given the bits that code their noise.
    "+aq-mode=0": ("veryfast", "me=dia:aq-mode=0"),
    # x264's macroblock tree (zerolatency turns it off): a lookahead of frames
    # finds what later frames reference and spends the bits there. Each holds
    # rc-lookahead frames back in the encoder, as B-frames do.
    "+mbtree": ("veryfast", "me=dia:mbtree=1:rc-lookahead=10"),
    "superfast+bframes=3": ("superfast", "bframes=3:b-adapt=1"),
    "superfast+mbtree+bframes=3": ("superfast", "mbtree=1:rc-lookahead=10:bframes=3:b-adapt=1"),
}
NAME_WIDTH = max(map(len, CANDIDATES))


@dataclass(frozen=True)
class Result:
    ms_per_frame: float
    kbps: float
    psnr: float
    ssim: float
    vmaf: float | None = None


@dataclass(frozen=True)
class Judged:
    """A candidate on one scene: as recorded (capped), and its quality at a
    given bitrate from its uncapped curve."""

    recorded: Result
    curve: tuple[Result, ...]

    def psnr_at(self, kbps: float) -> float:
        return _interpolated(kbps, [(r.kbps, r.psnr) for r in self.curve])

    def vmaf_at(self, kbps: float) -> float | None:
        points = [(r.kbps, r.vmaf) for r in self.curve if r.vmaf is not None]
        return _interpolated(kbps, points) if len(points) == len(self.curve) else None


def _interpolated(kbps: float, points: list[tuple[float, float]]) -> float:
    """The quality at ``kbps`` on a curve of (kb/s, quality), in log-bitrate."""
    rates, values = zip(*sorted(points), strict=True)
    return float(np.interp(np.log(kbps), np.log(rates), values))


def _texture(seed: int, width: int, height: int) -> np.ndarray:
    """A camera-like background: smooth shapes at several scales, in colour."""
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), np.float32)
    for scale in (64, 16, 4):
        small = rng.uniform(0, 255, (height // scale + 2, width // scale + 2, 3)).astype(np.float32)
        image += cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC) / 3
    return np.clip(image, 0, 255)


class Camera:
    """A person in front of a background: a head that moves and talks, a
    camera that sways a little, and sensor noise."""

    def __init__(self, seed: int) -> None:
        w, h = CAMERA
        self._room = _texture(seed, w + 32, h + 32)
        self._rng = np.random.default_rng(seed + 100)
        self._seed = seed

    def frame(self, n: int) -> np.ndarray:
        w, h = CAMERA
        sway = int(8 + 8 * np.sin(n / 40 + self._seed))
        image = self._room[sway : sway + h, 16 : 16 + w].copy()
        cx = int(w / 2 + 60 * np.sin(n / 25 + self._seed))
        cy = int(h / 2 + 15 * np.sin(n / 13))
        skin = (110 + 20 * self._seed % 40, 150, 200)
        cv2.ellipse(image, (cx, cy + 150), (150, 90), 0, 180, 360, (60, 60, 90), -1)
        cv2.ellipse(image, (cx, cy), (70, 95), 0, 0, 360, skin, -1)
        for dx in (-25, 25):
            cv2.circle(image, (cx + dx, cy - 20), 8, (40, 40, 40), -1)
        mouth = 4 + int(10 * abs(np.sin(n / 3)))
        cv2.ellipse(image, (cx, cy + 40), (25, mouth), 0, 0, 360, (60, 40, 120), -1)
        image += self._rng.normal(0, NOISE, image.shape).astype(np.float32)
        noisy: np.ndarray = np.clip(image, 0, 255).astype(np.uint8)
        return noisy


def _document(width: int, height: int) -> np.ndarray:
    page = np.full((height * 3, width, 3), 250, np.uint8)
    for line in range(0, height * 3 // 28):
        y = 40 + line * 28
        text = (
            f"{line:03d}  The recorder composes every tile on its own clock; text must stay sharp."
        )
        cv2.putText(
            page, text, (30, y), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (20, 20, 20), 1, cv2.LINE_AA
        )
    return page


def _slide(width: int, height: int) -> np.ndarray:
    slide = np.full((height, width, 3), (90, 40, 20), np.uint8)
    cv2.putText(
        slide,
        "Quarterly review",
        (60, 90),
        cv2.FONT_HERSHEY_SIMPLEX,
        1.6,
        (255, 255, 255),
        3,
        cv2.LINE_AA,
    )
    for i, bullet in enumerate(("Recordings up 40 %", "Cost per hour down", "Next: lip sync")):
        cv2.putText(
            slide,
            f"- {bullet}",
            (90, 180 + 60 * i),
            cv2.FONT_HERSHEY_SIMPLEX,
            1.0,
            (230, 230, 230),
            2,
            cv2.LINE_AA,
        )
    cv2.rectangle(slide, (width - 420, 160), (width - 80, 400), (40, 160, 220), -1)
    return slide


def _yuv(bgr: np.ndarray) -> Yuv420:
    data = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)
    h, w = bgr.shape[:2]
    u = data[h : h + h // 4].reshape(h // 2, w // 2)
    v = data[h + h // 4 :].reshape(h // 2, w // 2)
    return Yuv420(data[:h], u, v)


Scene = Callable[[int], dict[SourceId, VideoSource]]


def scenes(width: int, height: int) -> dict[str, tuple[list[dict[str, object]], Scene]]:
    """name -> (the layout in SPEC form, the sources of frame n)."""
    cameras = [Camera(seed) for seed in range(4)]
    users = [f"u{i}" for i in range(4)]
    stamp: dict[str, object] = {"type": 4, "left": 0, "top": 0, "width": 175, "height": 32}

    def full(user: str) -> dict[str, object]:
        return {"type": 0, "left": 0, "top": 0, "width": width, "height": height,
                "keepAspectRatio": 2, "param": {"camid": f"{user}.-1"}}  # fmt: skip

    corner: dict[str, object] = {
        "type": 0, "left": width * 3 // 4, "top": height * 3 // 4, "width": width // 4,
        "height": height // 4, "keepAspectRatio": 2, "param": {"camid": "u1.-1"},
    }  # fmt: skip
    big = _texture(9, width * 2, height)
    document, slide = _document(width, height), _slide(width, height)

    def heads(n: int) -> dict[SourceId, VideoSource]:
        return {
            SourceId.camera(u): VideoSource(_yuv(c.frame(n)), u)
            for u, c in zip(users, cameras, strict=True)
        }

    def panning(n: int) -> dict[SourceId, VideoSource]:
        x = (3 * n) % width
        return {
            SourceId.camera("u0"): VideoSource(_yuv(big[:, x : x + width].astype(np.uint8)), "u0")
        }

    def screen(n: int) -> dict[SourceId, VideoSource]:
        y = (2 * n) % (height * 2)
        return {
            SourceId.camera("u0"): VideoSource(
                _yuv(np.ascontiguousarray(document[y : y + height])), "u0"
            ),
            SourceId.camera("u1"): VideoSource(_yuv(cameras[1].frame(n)), "u1"),
        }

    def still(n: int) -> dict[SourceId, VideoSource]:
        return {
            SourceId.camera("u0"): VideoSource(_yuv(slide), "u0"),
            SourceId.camera("u1"): VideoSource(_yuv(cameras[1].frame(n)), "u1"),
        }

    four = grid(users, width, height)[0]["content"]
    return {
        "heads": (four, heads),
        "panning": ([full("u0"), stamp], panning),
        "screen": ([full("u0"), corner, stamp], screen),
        "slide": ([full("u0"), corner, stamp], still),
    }


def canvases(
    width: int, height: int, fps: int, count: int
) -> Iterator[tuple[str, list[np.ndarray]]]:
    cfgs = parse_start(
        [{"id": "1", "cfg": {"width": width, "height": height, "frameRate": fps}}],
        [],
        [{"id": "1", "output": [{"type": 0, "filename": "/q.mp4"}]}],
        Limits(),
    ).cfgs
    for name, (layout, sources) in scenes(width, height).items():
        contents = parse_contents([{"id": "1", "content": layout}], cfgs, Limits())[0].content
        compositor = Compositor(width, height)
        frames = [
            compositor.compose(contents, sources(n), WALL_CLOCK + n / fps).data.copy()
            for n in range(count)
        ]
        yield name, frames


def encode(
    frames: list[np.ndarray],
    video: VideoCfg,
    preset: str,
    params: str,
    capped: bool = True,
    vmaf: VmafReference | None = None,
) -> Result:
    """As the recorder encodes ``frames`` at ``video``'s CRF; ``capped``: under
    its bitrate cap (VBV), as recordings are, or free, for a quality curve.
    VMAF too, where ``frames``' reference is given."""
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = video.width, video.height, "yuv420p"
    codec.time_base = Fraction(1, video.frame_rate)
    codec.framerate = Fraction(video.frame_rate)
    codec.gop_size = video.gop
    options = x264_options(video, preset)
    options.pop("x264-params", None)
    if not capped:
        options.pop("maxrate")
        options.pop("bufsize")
    if params:
        options["x264-params"] = params
    codec.options = options
    packets: list[bytes] = []
    inputs = [to_video_frame(I420(f, video.width, video.height), n) for n, f in enumerate(frames)]
    start = time.process_time()
    for frame in inputs:
        packets += [bytes(p) for p in codec.encode(frame)]
    packets += [bytes(p) for p in codec.encode(None)]
    spent = time.process_time() - start
    decoder = av.CodecContext.create("h264", "r")
    decoded = [
        f.to_ndarray(format="yuv420p") for p in packets for f in decoder.decode(av.Packet(p))
    ]
    decoded += [f.to_ndarray(format="yuv420p") for f in decoder.decode(None)]
    h = video.height
    psnr = [_psnr(a[:h], b[:h]) for a, b in zip(frames, decoded, strict=True)]
    ssim = [_ssim(a[:h], b[:h]) for a, b in zip(frames, decoded, strict=True)]
    seconds = len(frames) / video.frame_rate
    return Result(
        1000 * spent / len(frames),
        sum(len(p) for p in packets) * 8 / seconds / 1000,
        float(np.mean(psnr)),
        float(np.mean(ssim)),
        None if vmaf is None else vmaf.score([b[:h] for b in decoded]),
    )


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float32) - b.astype(np.float32)) ** 2))
    return 100.0 if mse == 0 else 10 * np.log10(255**2 / mse)


def _blur(image: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(image, (11, 11), 1.5)


def _ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two luma planes (Wang et al. 2004, 11x11 Gaussian window, sigma 1.5)."""
    x, y = a.astype(np.float64), b.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = _blur(x), _blur(y)
    sxx, syy, sxy = _blur(x * x) - mx * mx, _blur(y * y) - my * my, _blur(x * y) - mx * my
    score = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(score.mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--sizes", default="640x360@15,1280x720@30")
    parser.add_argument(
        "--repeat", type=int, default=2, help="rounds of every candidate; its fastest counts"
    )
    parser.add_argument(
        "--candidates",
        help="candidates to run, comma-separated (the default always runs first); all if absent",
    )
    parser.add_argument(
        "--vmaf-every",
        type=int,
        default=6,
        help="VMAF of every n-th frame (each about 0.6 s of CPU at 1280x720)",
    )
    args = parser.parse_args()
    default = next(iter(CANDIDATES))
    names = args.candidates.split(",") if args.candidates else list(CANDIDATES)
    chosen = [default] + [n for n in names if n != default]
    if unknown := [n for n in chosen if n not in CANDIDATES]:
        parser.error(f"--candidates: unknown {', '.join(unknown)}; known: {', '.join(CANDIDATES)}")
    candidates = {n: CANDIDATES[n] for n in chosen}
    meter = vmaf_meter(args.vmaf_every)
    if meter is None:
        print("VMAF: not measured (pip install -e .[vmaf] for it)")
    for size in args.sizes.split(","):
        dims, fps_text = size.split("@")
        width, height = (int(v) for v in dims.split("x"))
        fps = int(fps_text)
        video = VideoCfg(width, height, fps, GUIDE_BIT_RATES[height], 26, fps * 15)
        count = int(args.seconds * fps)
        results: dict[str, dict[str, Judged]] = {}
        for scene, frames in canvases(width, height, fps, count):
            vmaf = None if meter is None else meter.reference([f[:height] for f in frames])
            # Rounds of every candidate in turn, so a change in the machine's
            # load falls on all of them alike.
            runs: dict[str, list[Result]] = {name: [] for name in candidates}
            for _ in range(args.repeat):
                for name, (preset, params) in candidates.items():
                    runs[name].append(encode(frames, video, preset, params))
            for name, (preset, params) in candidates.items():
                recorded = min(runs[name], key=lambda r: r.ms_per_frame)
                curve = tuple(
                    encode(
                        frames,
                        replace(video, default_qp=crf),
                        preset,
                        params,
                        capped=False,
                        vmaf=vmaf,
                    )
                    for crf in CURVE_CRFS
                )
                results.setdefault(name, {})[scene] = Judged(recorded, curve)
                print(f"{size} {scene:8} {name:{NAME_WIDTH}} {recorded.ms_per_frame:6.2f} ms/frame "
                      f"{recorded.kbps:7.0f} kb/s  PSNR-Y {recorded.psnr:6.2f} dB  "
                      f"SSIM {recorded.ssim:.4f}")  # fmt: skip
        _summary(size, results)


def _summary(size: str, results: dict[str, dict[str, Judged]]) -> None:
    default = next(iter(CANDIDATES))
    base = results[default]
    rates = {s: j.recorded.kbps for s, j in base.items()}
    base_vmaf = {s: v for s, j in base.items() if (v := j.vmaf_at(rates[s])) is not None}
    # Where the default is already at VMAF's ceiling, VMAF cannot tell a loss.
    telling = {s: v for s, v in base_vmaf.items() if v < VMAF_SATURATED}
    print(f"\n{size}, against {default}: CPU per frame as recorded (all scenes), and")
    print("PSNR-Y and VMAF at the bitrate the default records each scene at (worst scene)")
    if base_vmaf:
        print("  the default's VMAF: " + ", ".join(f"{s} {v:.1f}" for s, v in base_vmaf.items()))
    for name, by_scene in results.items():
        cpu = sum(j.recorded.ms_per_frame for j in by_scene.values()) / sum(
            j.recorded.ms_per_frame for j in base.values()
        )
        psnr = {s: by_scene[s].psnr_at(rates[s]) - base[s].psnr_at(rates[s]) for s in base}
        vmaf = {
            s: v - b for s, b in telling.items() if (v := by_scene[s].vmaf_at(rates[s])) is not None
        }
        held = all(
            psnr[s] >= -MAX_PSNR_LOSS_DB or vmaf.get(s, -math.inf) >= -MAX_VMAF_LOSS for s in base
        )
        worst = min(psnr, key=lambda s: psnr[s])
        line = f"  {name:{NAME_WIDTH}} cpu {cpu:5.2f}x  PSNR {psnr[worst]:+.2f} dB ({worst})"
        if vmaf:
            lowest = min(vmaf, key=lambda s: vmaf[s])
            line += f"  VMAF {vmaf[lowest]:+.2f} ({lowest})"
        print(f"{line}  {'within' if held else 'beyond'} the bound")
    if len(telling) < len(base_vmaf):
        print(f"  (VMAF left out where the default scores {VMAF_SATURATED:.0f} or more: "
              f"{', '.join(sorted(set(base_vmaf) - set(telling)))})")  # fmt: skip
    print()


if __name__ == "__main__":
    main()
