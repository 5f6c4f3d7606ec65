"""Cutting a fragmented MP4 back to whole fragments, on box layouts and on a
real file cut at every kind of place."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import av
import pytest

from cloudrec.storage.fragments import trim_to_whole_fragments, whole_fragments_length
from tests.helpers import write_media_file


def _box(kind: bytes, payload: int) -> bytes:
    return struct.pack(">I4s", 8 + payload, kind) + b"\0" * payload


HEAD = _box(b"ftyp", 20) + _box(b"moov", 100)
FRAGMENT = _box(b"moof", 40) + _box(b"mdat", 300)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (HEAD + FRAGMENT, len(HEAD + FRAGMENT)),
        (HEAD + FRAGMENT + FRAGMENT[:20], len(HEAD + FRAGMENT)),  # moof cut short
        (HEAD + FRAGMENT + FRAGMENT[:48], len(HEAD + FRAGMENT)),  # moof whole, no mdat
        (HEAD + FRAGMENT + FRAGMENT[:100], len(HEAD + FRAGMENT)),  # mdat cut short
        (HEAD + FRAGMENT[:5], len(HEAD)),  # not even a box header
        (b"", 0),
    ],
)
def test_whole_fragments_length(data: bytes, expected: int) -> None:
    assert whole_fragments_length(io.BytesIO(data), len(data)) == expected


def test_a_large_box_size_is_read() -> None:
    big = struct.pack(">I4sQ", 1, b"mdat", 16 + 10) + b"\0" * 10
    data = HEAD + _box(b"moof", 4) + big
    assert whole_fragments_length(io.BytesIO(data), len(data)) == len(data)


def test_a_real_recording_cut_anywhere_opens_after_trimming(tmp_path: Path) -> None:
    path = tmp_path / "whole.mp4"
    write_media_file(path)
    whole = path.read_bytes()
    moofs = [i - 4 for i in range(len(whole)) if whole[i : i + 4] == b"moof"]
    assert len(moofs) >= 4
    # Cut inside the third fragment's header, and inside its media data.
    for cut in (moofs[2] + 20, moofs[3] - 10):
        cut_path = tmp_path / f"cut{cut}.mp4"
        cut_path.write_bytes(whole[:cut])
        trim_to_whole_fragments(cut_path)
        assert cut_path.stat().st_size == moofs[2]
        with av.open(str(cut_path)) as container:
            frames = sum(1 for _ in container.decode(video=0))
        assert frames >= 2
