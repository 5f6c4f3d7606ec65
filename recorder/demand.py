"""What the recorder asks each publisher to send: no more pixels, and no more
frames a second, than the layouts show of that video.

A camera sent at 640x360 into a 320x180 tile costs the recorder four times the
decoding it needs and about four times the packets, and costs the publisher the
uplink. Publishers hear the box each of their videos is drawn in (the largest,
where several layouts show it) and scale down to the smallest size that still
covers it; a video no layout shows is left as its publisher sends it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cloudrec.sources import SourceId
from cloudrec.wire import Content, default_bit_rate

# A source the layouts show, resolved to the one it shows now ("alice.0").
Resolve = Callable[[SourceId], SourceId | None]


@dataclass(frozen=True)
class Shown:
    """How large (the box it is drawn in) and how often a video is shown."""

    width: int
    height: int
    frame_rate: int

    def union(self, other: Shown) -> Shown:
        """Covers both: a video drawn in each is sent large enough for either."""
        return Shown(
            max(self.width, other.width),
            max(self.height, other.height),
            max(self.frame_rate, other.frame_rate),
        )


def shown_boxes(
    layouts: Iterable[tuple[Sequence[Content], int]], resolve: Resolve
) -> dict[SourceId, Shown]:
    """Each shown source's box, over every ``(contents, frame rate)`` layout."""
    boxes: dict[SourceId, Shown] = {}
    for contents, frame_rate in layouts:
        for content in contents:
            source = content.source
            key = resolve(source) if source is not None else None
            if key is None or content.width <= 0 or content.height <= 0:
                continue
            box = Shown(content.width, content.height, frame_rate)
            seen = boxes.get(key)
            boxes[key] = box if seen is None else seen.union(box)
    return boxes


def size_requests(
    boxes: Mapping[SourceId, Shown], videos: Mapping[SourceId, tuple[str, str]]
) -> dict[str, list[dict[str, Any]]]:
    """Per publisher, the ``video`` list of a size request: one entry per video
    it sends (``videos`` maps each source to its user and m-line), with the
    box it is shown in, or just its ``mid`` where no layout shows it."""
    requests: dict[str, list[dict[str, Any]]] = {}
    for key, (user, mid) in sorted(videos.items(), key=lambda item: item[1]):
        entry: dict[str, Any] = {"mid": mid}
        box = boxes.get(key)
        if box is not None:
            entry.update(width=box.width, height=box.height, frameRate=box.frame_rate)
        requests.setdefault(user, []).append(entry)
    return requests


# A video is asked for at twice the bitrate SPEC's guide gives a recording of
# its box's size: it is encoded again into the recording, and a source at the
# recording's own quality would lose it twice. Below 640x360 the guide is
# scaled by pixels (a 320x180 tile: 250 kb/s).
SOURCE_HEADROOM = 2.0
GUIDE_PIXELS = 640 * 360
# Never less: below this a camera's picture breaks up whatever its size.
MIN_ASKED_BITRATE = 100_000
# A video no layout shows is not held back (it is sent at its own size, as a
# 1080p box would be asked for), so it is sharp the moment a layout shows it.
UNSHOWN = Shown(1920, 1080, 30)


def asked_bitrate(shown: Shown | None) -> int:
    """The bitrate (bit/s) a publisher is asked to send a video at, for the
    box it is shown in (None: no layout shows it)."""
    box = shown or UNSHOWN
    scale = min(1.0, box.width * box.height / GUIDE_PIXELS)
    guide = default_bit_rate(box.width, box.height)
    return max(MIN_ASKED_BITRATE, round(SOURCE_HEADROOM * guide * scale))
