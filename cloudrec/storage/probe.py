"""What a media file on disk holds, read with PyAV (used on files we did not
see finish: imports and crash leftovers)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av


@dataclass(frozen=True)
class Probe:
    video_codec: str | None
    audio_codec: str | None
    width: int | None
    height: int | None
    fps: float | None
    duration_ms: int


def probe(path: Path) -> Probe | None:
    """None when the file holds no decodable stream. The duration comes from the
    last packet, since a file cut off by a crash has no duration in its header."""
    try:
        with av.open(str(path)) as container:
            video = container.streams.video[0] if container.streams.video else None
            audio = container.streams.audio[0] if container.streams.audio else None
            if video is None and audio is None:
                return None
            end = 0.0
            for packet in container.demux():
                if packet.pts is None or packet.time_base is None:
                    continue
                length = (packet.duration or 0) * packet.time_base
                end = max(end, float(packet.pts * packet.time_base + length))
            if end <= 0:
                return None
            return Probe(
                video.codec_context.name if video else None,
                audio.codec_context.name if audio else None,
                video.codec_context.width if video else None,
                video.codec_context.height if video else None,
                float(video.average_rate) if video and video.average_rate else None,
                round(end * 1000),
            )
    except (av.FFmpegError, OSError, IndexError):
        return None
