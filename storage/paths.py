"""Where recordings land on disk, confined to the recordings directory."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from cloudrec.errors import CloudrecError, ErrorCode


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


def reserve(path: Path, filename: str) -> None:
    """Creates the file exclusively, so two recordings never write one file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        raise CloudrecError(
            ErrorCode.FILEALREADYEXISTS, f"filename '{filename}' exists already"
        ) from None
    except OSError as exc:
        raise CloudrecError(
            ErrorCode.FILE_ERR, f"filename '{filename}' cannot be created: {exc.strerror}"
        ) from None
    os.close(fd)


def check_free_disk(directory: Path, min_free_mb: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    free_mb = shutil.disk_usage(directory).free // (1024 * 1024)
    if free_mb < min_free_mb:
        raise CloudrecError(
            ErrorCode.RECORD_NO_DISK, f"only {free_mb} MB free on disk, {min_free_mb} MB needed"
        )
