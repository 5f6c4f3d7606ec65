"""A recording's poster frame: one picture of it, for lists and players."""

from __future__ import annotations

import io
from pathlib import Path

import av
from PIL import Image

# Where the poster is taken: far enough in that the first keyframe's fade-in
# and a late joiner's placeholder are past, and within any recording.
POSTER_AT_S = 1.0
POSTER_WIDTH = 320  # the list shows it small; a player shows its own frames
JPEG_QUALITY = 80


def poster_jpeg(path: Path | str) -> bytes | None:
    """A JPEG of the frame shown at POSTER_AT_S (the last, if shorter), scaled
    to POSTER_WIDTH wide; None where the file holds no video that decodes."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return None
            stream = container.streams.video[0]
            chosen = None
            for frame in container.decode(stream):
                chosen = frame
                if frame.time is not None and frame.time >= POSTER_AT_S:
                    break
            if chosen is None:
                return None
            rgb = chosen.to_ndarray(format="rgb24")
    except (av.FFmpegError, OSError):
        return None
    image = Image.fromarray(rgb)
    height = max(2, round(image.height * POSTER_WIDTH / image.width))
    out = io.BytesIO()
    image.resize((POSTER_WIDTH, height)).save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue()
