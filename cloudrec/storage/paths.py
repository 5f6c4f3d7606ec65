"""Where recordings land on disk, confined to the recordings directory.

Every file the recorder opens and the server serves is a regular file whose
every path component is a real directory under the recordings directory: a
symlink planted anywhere on the way is refused, for writing and reading alike.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
from pathlib import Path

from cloudrec.errors import CloudrecError, ErrorCode

HLS_CONTAINER = "m3u8"
HLS_SEGMENT_PATTERN = "%05d.ts"  # FFmpeg's name for the segments it writes
SNAPSHOT_CONTAINER = "jpg"
SNAPSHOT_PATTERN = "%05d.jpg"  # a snapshot output's pictures, in order
# Recordings made of many files keep them in a folder of their own: an HLS
# playlist its segments, a snapshot output its pictures.
SEGMENT_NAMES = {
    HLS_CONTAINER: re.compile(r"^[0-9]{5}\.ts$"),
    SNAPSHOT_CONTAINER: re.compile(r"^[0-9]{5}\.jpg$"),
}


def container_of(path: Path) -> str:
    return path.suffix.lstrip(".").lower()


def has_segments(path: Path) -> bool:
    return container_of(path) in SEGMENT_NAMES


def is_segment_name(path: Path, name: str) -> bool:
    """Whether ``name`` can be one of the files of the recording at ``path``."""
    pattern = SEGMENT_NAMES.get(container_of(path))
    return pattern is not None and pattern.match(name) is not None


def recording_path(recordings_dir: Path, filename: str) -> Path:
    """``/2026-11-25/demo.mp4`` -> ``<recordings_dir>/2026-11-25/demo.mp4``.

    The wire parser already refuses ``..``; this resolves links too, so a
    directory symlinked out of the tree cannot be written through either.
    """
    root = recordings_dir.resolve()
    path = (root / filename.lstrip("/")).resolve()
    if path == root or not path.is_relative_to(root):
        raise CloudrecError(
            ErrorCode.INVALIDFILENAME, f"filename '{filename}' leaves the recordings directory"
        )
    return path


def segment_dir(path: Path) -> Path:
    """``x/demo.m3u8`` -> ``x/.demo.m3u8.segments``: a folder of the recording's
    own, named as no output can be (cloudrec/wire.py refuses a leading '.'), so
    no other recording's name can reach its segments."""
    return path.with_name(f".{path.name}.segments")


def segments(path: Path) -> list[Path]:
    """The segments (or pictures) the recorder wrote for ``path``, in order;
    never a link."""
    folder = segment_dir(path)
    if not has_segments(path) or folder.is_symlink() or not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.iterdir()
        if is_segment_name(path, p.name) and not p.is_symlink() and p.is_file()
    )


def reserve(path: Path, filename: str) -> None:
    """Creates the file exclusively (and the folder of a recording made of many
    files), so two recordings never write one file; a link in its place is refused."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL fails on any existing name, a dangling symlink included.
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o644)
    except FileExistsError:
        raise CloudrecError(
            ErrorCode.FILEALREADYEXISTS, f"filename '{filename}' exists already"
        ) from None
    except OSError as exc:
        raise _create_error(exc, filename) from None
    os.close(fd)
    if has_segments(path):
        try:
            segment_dir(path).mkdir()
        except OSError as exc:
            path.unlink(missing_ok=True)
            if isinstance(exc, FileExistsError):
                raise CloudrecError(
                    ErrorCode.FILEALREADYEXISTS, f"segments of '{filename}' exist already"
                ) from None
            raise _create_error(exc, filename) from None


def _create_error(exc: OSError, filename: str) -> CloudrecError:
    if exc.errno in (errno.ENOTDIR, errno.EEXIST, errno.ELOOP):
        return CloudrecError(
            ErrorCode.FILEALREADYEXISTS, f"filename '{filename}': a file is in its way"
        )
    if exc.errno == errno.ENAMETOOLONG:
        return CloudrecError(ErrorCode.INVALIDFILENAME, f"filename '{filename}' is too long")
    return CloudrecError(
        ErrorCode.FILE_ERR, f"filename '{filename}' cannot be created: {exc.strerror}"
    )


def remove_recording_files(path: Path) -> None:
    """A recording's file and, for a playlist or snapshots, its segments and
    their folder."""
    if has_segments(path):
        for segment in segments(path):
            segment.unlink(missing_ok=True)
        folder = segment_dir(path)
        if not folder.is_symlink():
            with contextlib.suppress(OSError):
                folder.rmdir()
    path.unlink(missing_ok=True)


def served_file(recordings_dir: Path, path: Path) -> Path | None:
    """``path`` if it is a regular file inside the recordings directory reached
    through no link (indexed paths are stored resolved), else None."""
    root = recordings_dir.resolve()
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if real != path.absolute() or not real.is_relative_to(root) or not real.is_file():
        return None
    return real


def check_free_disk(directory: Path, min_free_mb: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    free_mb = shutil.disk_usage(directory).free // (1024 * 1024)
    if free_mb < min_free_mb:
        raise CloudrecError(
            ErrorCode.RECORD_NO_DISK, f"only {free_mb} MB free on disk, {min_free_mb} MB needed"
        )
