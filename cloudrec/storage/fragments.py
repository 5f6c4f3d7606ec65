"""Cutting a fragmented MP4 back to its last whole fragment.

A write that fails part-way (a full disk), or a recorder killed mid-write, can
leave a box cut short at the end of the file. Players skip a truncated media
data box, but FFmpeg refuses to open a file whose last fragment header
(``moof``) is cut short, so the file is cut back to the end of its last
complete ``moof`` + ``mdat`` pair.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import BinaryIO

_HEADER = struct.Struct(">I4s")
# The containers recordings are written to as fragmented MP4 (recorder/outputs.py).
FRAGMENTED_MP4 = ("mp4", "m4a")


def whole_fragments_length(file: BinaryIO, size: int) -> int:
    """The length of ``file`` (``size`` bytes) up to its last complete top-level
    box, not counting a fragment header whose media data is missing or cut."""
    good = offset = 0
    while offset + _HEADER.size <= size:
        file.seek(offset)
        box_size, kind = _HEADER.unpack(file.read(_HEADER.size))
        if box_size == 1:  # a 64-bit size follows the type
            extended = file.read(8)
            if len(extended) < 8:
                break
            box_size = struct.unpack(">Q", extended)[0]
        elif box_size == 0:  # the box runs to the end of the file
            box_size = size - offset
        if box_size < _HEADER.size or offset + box_size > size:
            break
        offset += box_size
        if kind != b"moof":  # a fragment header counts only with its media data
            good = offset
    return good


def trim_to_whole_fragments(path: Path) -> None:
    """Truncates ``path`` to its whole fragments; leaves it alone if it is whole."""
    size = path.stat().st_size
    with path.open("rb") as file:
        length = whole_fragments_length(file, size)
    if length < size:
        os.truncate(path, length)
