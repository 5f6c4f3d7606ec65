"""The index and the object store kept in agreement, by the control node: a
file that went up is served from the store; what a lost worker left in pieces
becomes a playable object; start-up checks the bucket as it checks the disk."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from pathlib import Path

from cloudrec.storage.index import (
    FINISHED,
    INTERRUPTED,
    MISSING,
    RECORDING,
    Recording,
    RecordingIndex,
)
from cloudrec.storage.media_types import content_type
from cloudrec.storage.objects import ObjectStore, StoreError
from cloudrec.storage.reconcile import probe_cut_short

log = logging.getLogger(__name__)


async def adopt(index: RecordingIndex, store: ObjectStore, rec: Recording) -> bool:
    """Ties ``rec`` to its object if the store holds one (uploaded while this
    node was not told: a later try of the sweep, or a node restarted)."""
    key = store.config.key(rec.file_name)
    size = await store.size(key)
    if size is None or (rec.state == FINISHED and rec.size and size != rec.size):
        return False
    index.stored(rec.id, key)
    if rec.state in (RECORDING, MISSING):
        index.mark(rec.id, FINISHED if rec.state == RECORDING else INTERRUPTED, size=size)
    return True


async def stitch(index: RecordingIndex, store: ObjectStore, rec: Recording, scratch: Path) -> bool:
    """What reached the store of a part whose disk is gone, joined into one
    object cut back to whole fragments; 'interrupted' with its real length."""
    pieces = await store.pieces(rec.file_name)
    if not pieces:
        return False
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch) as folder:
        path = Path(folder) / rec.base_name
        await store.stitch(rec.file_name, path)
        found = await asyncio.to_thread(probe_cut_short, path)
        if found is None:
            log.warning("the pieces of %s do not play", rec.file_name)
            return False
        key = store.config.key(rec.file_name)
        size = await store.put_file(key, path, content_type(rec.file_name))
    index.stored(rec.id, key)
    index.mark(rec.id, INTERRUPTED, size=size, duration_ms=found.duration_ms)
    with contextlib.suppress(*StoreError):
        await store.delete(pieces)
    log.info("%s: %d pieces joined into a %d-byte object", rec.file_name, len(pieces), size)
    return True


async def settle_from_store(
    index: RecordingIndex, store: ObjectStore, rec: Recording, scratch: Path
) -> bool:
    """A file with no local copy to settle: its object, else its pieces."""
    try:
        return await adopt(index, store, rec) or await stitch(index, store, rec, scratch)
    except StoreError as exc:
        log.warning("%s could not be settled from the store: %s", rec.file_name, exc)
        return False


async def reconcile_store(
    index: RecordingIndex,
    store: ObjectStore,
    scratch: Path,
    recording: frozenset[str] = frozenset(),
) -> int:
    """At start-up, after the disk: rows the disk could not settle, settled
    from the store; rows whose object is gone, 'missing'. How many changed.
    Rooms in ``recording`` are being recorded by workers now: left alone."""
    changed = 0
    for rec in index.all():
        if rec.room in recording and rec.state == RECORDING:
            continue
        if rec.object_key:
            if await store.size(rec.object_key) is None and rec.state != MISSING:
                index.mark(rec.id, MISSING)
                changed += 1
        elif rec.state in (RECORDING, MISSING):
            changed += await settle_from_store(index, store, rec, scratch)
    return changed
