"""How a recorded file reaches the object store, whoever sends it: the bot
that writes it (pieces while it grows, the whole file once closed), and the
sweep that retries what failed (on the machine whose disk holds it).

A file's local copy goes only once the store holds an object of its size; a
file that could not go up is marked (``.NAME.upload`` beside it), stays
listed, and is tried again by the sweep, never dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from cloudrec.storage.media_types import content_type
from cloudrec.storage.objects import ObjectStore, StoreError
from cloudrec.storage.paths import (
    HLS_CONTAINER,
    has_segments,
    remove_recording_files,
    segment_dir,
    segments,
)

log = logging.getLogger(__name__)

# Waits between the tries of a closed file's upload: about 15 s in all, well
# inside the 30 s a control node waits for a bot to stop.
RETRY_DELAYS_S = (0.5, 1.0, 2.0, 4.0, 8.0)
# A marked file is the sweep's once its mark is this old: past every try of
# the sender that marked it (touched again when those fail).
SWEEP_AFTER_S = 60.0


@dataclass
class UploadCounters:
    bytes: int = 0
    retries: int = 0
    failures: int = 0


def pending_marker(path: Path) -> Path:
    """Says ``path`` is still to go up (a name no output can have: a leading '.')."""
    return path.with_name(f".{path.name}.upload")


def segment_name(file_name: str, segment: Path) -> str:
    """The store's name of an HLS segment (or a snapshot): beside its
    recording's file, in its folder."""
    folder = file_name.rsplit("/", 1)[0]
    return f"{folder}/{segment.parent.name}/{segment.name}"


async def _put_checked(store: ObjectStore, file_name: str, path: Path) -> int:
    """Uploads ``path`` as ``file_name``'s object and confirms its size."""
    key = store.config.key(file_name)
    size = await store.put_file(key, path, content_type(file_name))
    stored = await store.size(key)
    if stored != size:
        raise OSError(f"{key}: the store holds {stored} bytes, not {size}")
    return size


async def put_closed(store: ObjectStore, file_name: str, path: Path) -> int:
    """One try at uploading a closed file (a playlist's segments, or
    snapshots' pictures, first)."""
    total = 0
    for segment in segments(path):
        total += await _put_checked(store, segment_name(file_name, segment), segment)
    return total + await _put_checked(store, file_name, path)


async def upload_closed(
    store: ObjectStore,
    file_name: str,
    path: Path,
    keep_local: bool,
    counters: UploadCounters,
    delays: tuple[float, ...] = RETRY_DELAYS_S,
) -> bool:
    """Uploads a closed file, retrying with backoff; on success the pieces go,
    and the local copy unless ``keep_local``. False: it stays, marked. It is
    marked from the start: a sender that dies meanwhile leaves it to the sweep."""
    with contextlib.suppress(OSError):
        pending_marker(path).touch()
    for attempt, delay in enumerate((0.0, *delays)):
        if attempt:
            counters.retries += 1
            await asyncio.sleep(delay)
        try:
            counters.bytes += await put_closed(store, file_name, path)
            break
        except StoreError as exc:
            log.warning("upload of %s failed (try %d): %s", file_name, attempt + 1, exc)
        except Exception:  # a store answering nonsense: still a failed try, and said
            log.exception("upload of %s failed (try %d)", file_name, attempt + 1)
    else:
        counters.failures += 1
        with contextlib.suppress(OSError):
            pending_marker(path).touch()
        return False
    pending_marker(path).unlink(missing_ok=True)
    with contextlib.suppress(*StoreError):
        await store.delete(await store.pieces(file_name))
    if not keep_local:
        remove_recording_files(path)
    return True


async def sweep(
    store: ObjectStore, recordings_dir: Path, keep_local: bool, counters: UploadCounters
) -> int:
    """Tries once more every file marked as still to go up; how many went."""
    done = 0
    for marker in sorted(recordings_dir.rglob(".*.upload")):
        with contextlib.suppress(FileNotFoundError):
            if time.time() - marker.stat().st_mtime < SWEEP_AFTER_S:
                continue  # its sender may still be trying
        path = marker.with_name(marker.name[1 : -len(".upload")])
        if not path.is_file():
            marker.unlink(missing_ok=True)  # deleted meanwhile: nothing to send
            continue
        file_name = "/" + path.relative_to(recordings_dir).as_posix()
        if await upload_closed(store, file_name, path, keep_local, counters, delays=()):
            log.info("uploaded %s on a later try", file_name)
            done += 1
    return done


def _read_range(path: Path, start: int, end: int) -> bytes:
    with path.open("rb") as file:
        file.seek(start)
        return file.read(end - start)


class PieceFollower:
    """Sends a file as it grows: each call, the bytes written since the last as
    the next piece (an HLS playlist: its closed segments, then itself;
    snapshots: each new picture, then the latest)."""

    def __init__(self, store: ObjectStore, file_name: str, path: Path) -> None:
        self._store = store
        self._file_name = file_name
        self._path = path
        self._sent = 0
        self._seq = 0
        self._segments: set[str] = set()

    async def step(self, counters: UploadCounters) -> None:
        if has_segments(self._path):
            await self._step_segmented(counters)
            return
        size = self._path.stat().st_size
        if size <= self._sent:
            return
        data = await asyncio.to_thread(_read_range, self._path, self._sent, size)
        self._seq += 1
        await self._store.put(self._store.config.piece_key(self._file_name, self._seq), data)
        self._sent += len(data)
        counters.bytes += len(data)

    async def _step_segmented(self, counters: UploadCounters) -> None:
        main = await asyncio.to_thread(self._path.read_bytes)
        folder = segment_dir(self._path).name
        playlist = self._path.suffix == "." + HLS_CONTAINER
        for segment in segments(self._path):
            if segment.name in self._segments:
                continue
            # A playlist names a segment once it is closed; a picture is whole
            # from the moment it has its name.
            if playlist and f"{folder}/{segment.name}".encode() not in main:
                continue
            counters.bytes += await _put_checked(
                self._store, segment_name(self._file_name, segment), segment
            )
            self._segments.add(segment.name)
        await self._store.put(
            self._store.config.key(self._file_name), main, content_type(self._file_name)
        )
