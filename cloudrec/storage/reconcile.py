"""Start-up agreement between the index and the recordings directory."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from cloudrec.storage.fragments import FRAGMENTED_MP4, trim_to_whole_fragments
from cloudrec.storage.index import FAILED, IMPORTED, INTERRUPTED, MISSING, RECORDING, RecordingIndex
from cloudrec.storage.paths import served_file
from cloudrec.storage.probe import Probe, probe

log = logging.getLogger(__name__)

MEDIA_EXTENSIONS = frozenset({"mp4", "ts", "flv", "mkv", "m4a", "mp3", "wav", "m3u8"})


@dataclass
class Reconciled:
    imported: int = 0
    interrupted: int = 0
    missing: int = 0
    unplayable: int = 0


def probe_cut_short(path: Path) -> Probe | None:
    """A file whose recorder died mid-way, probed once cut back to its whole
    fragments: the last one may end inside a fragment header, which makes the
    whole file unreadable (storage/fragments.py)."""
    if path.suffix.lstrip(".").lower() in FRAGMENTED_MP4:
        try:
            trim_to_whole_fragments(path)
        except OSError as exc:
            log.warning("could not cut %s back to whole fragments: %s", path, exc)
    return probe(path)


def settle_interrupted(
    index: RecordingIndex, recording_id: int, path: Path, found: Probe | None
) -> bool:
    """A file whose recorder died mid-way, as ``found`` by probe_cut_short():
    'interrupted' with its real length if it plays (True), else 'failed'."""
    stat = path.stat()
    if found is None:
        index.mark(recording_id, FAILED, size=stat.st_size)
        return False
    index.mark(
        recording_id,
        INTERRUPTED,
        size=stat.st_size,
        duration_ms=found.duration_ms,
        finished_at=stat.st_mtime,
    )
    return True


def reconcile(
    index: RecordingIndex, recordings_dir: Path, recording: frozenset[str] = frozenset()
) -> Reconciled:
    """Rows left 'recording' by a crash are probed: playable files become
    'interrupted' with their real length, others 'failed'. Rows whose file is
    gone become 'missing'. Media files with no row are probed and indexed.
    Rooms in ``recording`` are being recorded by workers now: left alone."""
    result = Reconciled()
    known: set[Path] = set()
    for rec in index.all():
        path = Path(rec.path)
        known.add(path)
        if rec.room in recording and rec.state == RECORDING:
            continue
        # A link in a file's place is never followed (trimming would write through it).
        if served_file(recordings_dir, path) is None:
            if rec.object_key:
                continue  # in the store (storage/stored.py checks it there)
            if rec.state != MISSING:
                index.mark(rec.id, MISSING)
                result.missing += 1
            continue
        if rec.state == RECORDING:
            if settle_interrupted(index, rec.id, path, probe_cut_short(path)):
                result.interrupted += 1
            else:
                result.unplayable += 1
    root = recordings_dir.resolve()
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.is_symlink() or path in known:
            continue
        if path.suffix.lstrip(".").lower() not in MEDIA_EXTENSIONS:
            continue
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue  # the recorder's own (a playlist's segments), or hidden
        if served_file(root, path) is None:
            continue  # reached through a link
        found = probe(path)
        if found is None:
            log.warning("not indexed (no playable stream): %s", path)
            result.unplayable += 1
            continue
        stat = path.stat()
        index.add(
            room="",
            mixer_id="",
            file_name="/" + path.relative_to(root).as_posix(),
            path=path,
            container=path.suffix.lstrip(".").lower(),
            video_codec=found.video_codec,
            audio_codec=found.audio_codec,
            width=found.width,
            height=found.height,
            fps=found.fps,
            state=IMPORTED,
            size=stat.st_size,
            duration_ms=found.duration_ms,
            created_at=stat.st_mtime,
        )
        result.imported += 1
    return result
