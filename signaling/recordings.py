"""Keeps the index in step with the mixer: every output's life, reported by the
bot as svrMixerOutputInfo, becomes a row and a webhook event; recordings past
their expiry are deleted."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import Any

from cloudrec.config import Config
from cloudrec.contract import OutputInfo
from cloudrec.errors import CloudrecError, ErrorCode
from cloudrec.storage.index import (
    FAILED,
    FINISHED,
    MISSING,
    RECORDING,
    Recording,
    RecordingIndex,
)
from cloudrec.storage.objects import ObjectStore, StoreError
from cloudrec.storage.paths import (
    has_segments,
    recording_path,
    remove_recording_files,
    segment_dir,
    served_file,
)
from cloudrec.storage.reconcile import probe_cut_short, settle_interrupted
from cloudrec.storage.stored import adopt, settle_from_store
from cloudrec.storage.uploading import UploadCounters, sweep, upload_closed
from cloudrec.storage.webhook import Webhook
from cloudrec.wire import (
    AUDIO_CODECS,
    SNAPSHOT_CONTAINER,
    OutputState,
    StartRequest,
    is_file_output,
    part_of,
)

log = logging.getLogger(__name__)

MB = 1024 * 1024
DAY_S = 86_400.0
# How often files that failed to go up to the store are tried again.
SWEEP_S = 30.0
# The retention sweep wakes when the next recording expires, when an expiry is
# set, and at least this often (expiries come from other nodes' rows too).
EXPIRY_CHECK_S = 60.0
EXPIRY_RETRY_S = 1.0
# The webhook events of an output's states.
OUTPUT_EVENTS = {
    OutputState.CREATED: "output.started",
    OutputState.CLOSED: "output.finished",
    OutputState.ERR: "output.failed",
    OutputState.UPLOADSUCCESS: "upload.finished",
    OutputState.UPLOADERR: "upload.failed",
}


def stream_of(room: str, session: str) -> str:
    """What orders webhook deliveries: one recording's events go in turn."""
    return f"{room}/{session}"


class Recordings:
    def __init__(
        self,
        config: Config,
        index: RecordingIndex,
        webhook: Webhook,
        store: ObjectStore | None = None,
    ) -> None:
        self._config = config
        self.index = index
        self.webhook = webhook
        self.store = store
        self.upload_counters = UploadCounters()  # this node's own (the sweep's)
        self._tasks: list[asyncio.Task[None]] = []
        self._expiry_changed = asyncio.Event()
        days = config.retention_days
        self._retention_s = days * DAY_S if days > 0 else None

    def start(self) -> None:
        """The background work: the retention sweep; with a store, sending up
        what did not go up."""
        self._tasks.append(asyncio.create_task(self._expire_forever()))
        if self.store is not None:
            self._tasks.append(asyncio.create_task(self._sweep_forever()))

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_S)
            await self.sweep()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.store is not None:
            await self.store.close()
        self.index.close()

    @property
    def scratch(self) -> Path:
        """Where pieces are joined before they go up whole."""
        return self._config.data_dir / ".scratch"

    def before_start(self, request: StartRequest) -> None:
        """Refuses a start that would pass the quota or reuse an indexed name."""
        quota = self._config.storage_quota_mb * MB
        if quota and self.index.total_size() >= quota:
            raise CloudrecError(
                ErrorCode.SVRRECORD_SPACE_FULL,
                f"recordings use {self.index.total_size() // MB} MB of the "
                f"{self._config.storage_quota_mb} MB quota",
            )
        for mixer in request.outputs:
            for i, spec in enumerate(mixer.output):
                existing = self.index.by_name(spec.filename)
                if existing is None:
                    continue
                if existing.state == MISSING:
                    self.index.delete(existing.id)  # the file is gone: the name is free
                    continue
                raise CloudrecError(
                    ErrorCode.FILEALREADYEXISTS,
                    f"outputs[{mixer.id}].output[{i}].filename '{spec.filename}' exists already",
                )

    def on_output_info(
        self,
        room: str,
        request: StartRequest | None,
        info: OutputInfo,
        session: str = "",
    ) -> None:
        """``session`` ties a file to the other parts of its recording (its
        name says which part it is)."""
        name, size, duration = info.file_name, info.file_size, info.duration
        if request is not None and not is_file_output(request, name):
            return  # a live push: nothing is kept
        stream = stream_of(room, session)
        if info.state is OutputState.CREATED and request is not None:
            self._created(room, request, info.id, name, session)
        elif info.state is OutputState.WRITING:
            self.index.progress(name, size, duration)
        elif info.state is OutputState.CLOSED:
            rec = self.index.finish(name, FINISHED, size, duration)
            if rec is not None:
                self.webhook.record_finished(stream, rec.room, rec.directory, rec.base_name)
            self._expiry_changed.set()  # it may be due already
        elif info.state is OutputState.ERR:
            self.index.finish(name, FAILED, size, duration, info.err_code)
            self._expiry_changed.set()
        elif info.state is OutputState.UPLOADSUCCESS and self.store is not None:
            rec = self.index.by_name(name)
            if rec is not None:
                self.index.stored(rec.id, self.store.config.key(name))
        elif info.state is OutputState.UPLOADERR:
            log.warning("%s did not go up to the store; it stays on its disk, retried", name)
        kind = OUTPUT_EVENTS.get(info.state)
        rec = self.index.by_name(name) if kind is not None else None
        if kind is not None and rec is not None:
            self.webhook.event(kind, stream, {**_about(rec), "output": info.event()})

    # -- deleting --------------------------------------------------------------------

    async def delete(self, rec: Recording, reason: str) -> None:
        """The file (and its object), then the row; a recording still being
        written is refused. ``reason``: who or what deleted it, as the event says."""
        if rec.state == RECORDING:
            raise CloudrecError(
                ErrorCode.PERMISSIONDENIED, f"recording {rec.id} is still being written"
            )
        if self.store is not None and rec.object_key:
            keys = [rec.object_key]
            if has_segments(Path(rec.path)):
                folder = segment_dir(Path(rec.path)).name
                segments = self.store.config.key(rec.directory + folder + "/")
                keys += [key for key, _ in await self.store.keys(segments)]
            await self.store.delete(keys)
        remove_recording_files(Path(rec.path))
        self.index.delete(rec.id)
        log.info("recording %d (%s) deleted by %s", rec.id, rec.file_name, reason)
        self.webhook.event(
            "recording.deleted",
            stream_of(rec.room, rec.session or f"recording-{rec.id}"),
            {**_about(rec), "reason": reason},
        )

    def expire_at(self, rec: Recording, when: float | None) -> None:
        """The recording is deleted at ``when`` (epoch seconds); None: as the
        retention period says."""
        self.index.expire_at(rec.id, when)
        self._expiry_changed.set()

    async def expire(self) -> None:
        """Deletes every recording past its expiry (none still being written)."""
        for rec in self.index.expired(time.time(), self._retention_s):
            try:
                await self.delete(rec, "retention")
            except StoreError as exc:  # OSError among them
                log.warning("expired recording %d not deleted yet: %s", rec.id, exc)

    async def _expire_forever(self) -> None:
        while True:
            self._expiry_changed.clear()
            await self.expire()
            wait = EXPIRY_CHECK_S
            upcoming = self.index.next_expiry(self._retention_s)
            if upcoming is not None:
                # Not at once again: a file that could not be deleted waits a little.
                wait = min(wait, max(EXPIRY_RETRY_S, upcoming - time.time()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._expiry_changed.wait(), wait)

    def being_recorded(self, room: str) -> list[Recording]:
        return [rec for rec in self.index.all() if rec.room == room and rec.state == RECORDING]

    async def settle_lost(self, lost: list[Recording]) -> None:
        """Files whose bot died mid-recording are settled now as a restart would
        settle them ('interrupted' with their real length), not left 'recording'."""
        for rec in lost:
            self.webhook.event(
                "output.failed",
                stream_of(rec.room, rec.session),
                {**_about(rec), "interrupted": True},
            )
            path = Path(rec.path)
            if served_file(self._config.recordings_dir, path) is None:
                # Its disk is elsewhere, or gone: what reached the store is the part.
                if self.store is None or not await settle_from_store(
                    self.index, self.store, rec, self.scratch
                ):
                    self.index.mark(rec.id, MISSING)  # gone, or a link in its place
                continue
            # Probing reads the whole file: off the loop.
            found = await asyncio.to_thread(probe_cut_short, path)
            played = settle_interrupted(self.index, rec.id, path, found)
            # Its bot is gone, so nobody else will send it up.
            if (
                played
                and self.store is not None
                and await upload_closed(
                    self.store, rec.file_name, path, self._config.keep_local, self.upload_counters
                )
            ):
                self.index.stored(rec.id, self.store.config.key(rec.file_name))

    async def sweep(self) -> None:
        """Files of this disk that failed to go up are tried again; rows whose
        file went up unseen (by another node's sweep) are tied to it."""
        if self.store is None:
            return
        try:
            await sweep(
                self.store,
                self._config.recordings_dir,
                self._config.keep_local,
                self.upload_counters,
            )
            for rec in self.index.unstored():
                if served_file(self._config.recordings_dir, Path(rec.path)) is None:
                    await adopt(self.index, self.store, rec)
        except StoreError as exc:
            log.warning("the store sweep stopped: %s", exc)

    def _created(
        self, room: str, request: StartRequest, mixer_id: str, name: str, session: str
    ) -> None:
        cfg = next((c for c in request.cfgs if c.id == mixer_id), None)
        if cfg is None or self.index.by_name(name) is not None:
            return
        video = cfg.video
        container = name.rsplit(".", 1)[-1].lower()
        pictures = container == SNAPSHOT_CONTAINER
        self.index.add(
            room=room,
            mixer_id=mixer_id,
            file_name=name,
            path=recording_path(self._config.recordings_dir, name),
            container=container,
            video_codec=("mjpeg" if pictures else "h264") if video else None,
            audio_codec=AUDIO_CODECS[cfg.audio.format] if cfg.has_audio and not pictures else None,
            width=video.width if video else None,
            height=video.height if video else None,
            fps=float(video.frame_rate) if video else None,
            session=session,
            part=part_of(name),
        )


def _about(rec: Recording) -> dict[str, Any]:
    """Which recording a webhook event is of."""
    return {
        "room": rec.room,
        "session": rec.session,
        "mixerId": rec.mixer_id,
        "recordingId": rec.id,
        "fileName": rec.file_name,
        "part": rec.part,
    }
