"""Keeps the index in step with the mixer: every output's life, reported by the
bot as svrMixerOutputInfo, becomes a row; a finished file fires the webhook."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

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
from cloudrec.storage.paths import recording_path, served_file
from cloudrec.storage.reconcile import probe_cut_short, settle_interrupted
from cloudrec.storage.stored import adopt, settle_from_store
from cloudrec.storage.uploading import UploadCounters, sweep, upload_closed
from cloudrec.storage.webhook import Webhook
from cloudrec.wire import AUDIO_CODECS, OutputState, StartRequest, is_file_output

log = logging.getLogger(__name__)

MB = 1024 * 1024
# How often files that failed to go up to the store are tried again.
SWEEP_S = 30.0


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
        self._sweeper: asyncio.Task[None] | None = None

    def start_sweeping(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_forever())

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_S)
            await self.sweep()

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
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
        part: int = 1,
    ) -> None:
        """``session`` and ``part`` tie a file to the other parts of its recording."""
        name, size, duration = info.file_name, info.file_size, info.duration
        if request is not None and not is_file_output(request, name):
            return  # a live push: nothing is kept
        if info.state is OutputState.CREATED and request is not None:
            self._created(room, request, info.id, name, session, part)
        elif info.state is OutputState.WRITING:
            self.index.progress(name, size, duration)
        elif info.state is OutputState.CLOSED:
            rec = self.index.finish(name, FINISHED, size, duration)
            if rec is not None:
                self.webhook.record_finished(rec.room, rec.directory, rec.base_name)
        elif info.state is OutputState.ERR:
            self.index.finish(name, FAILED, size, duration, info.err_code)
        elif info.state is OutputState.UPLOADSUCCESS and self.store is not None:
            rec = self.index.by_name(name)
            if rec is not None:
                self.index.stored(rec.id, self.store.config.key(name))
        elif info.state is OutputState.UPLOADERR:
            log.warning("%s did not go up to the store; it stays on its disk, retried", name)

    def being_recorded(self, room: str) -> list[Recording]:
        return [rec for rec in self.index.all() if rec.room == room and rec.state == RECORDING]

    async def settle_lost(self, lost: list[Recording]) -> None:
        """Files whose bot died mid-recording are settled now as a restart would
        settle them ('interrupted' with their real length), not left 'recording'."""
        for rec in lost:
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
        self, room: str, request: StartRequest, mixer_id: str, name: str, session: str, part: int
    ) -> None:
        cfg = next((c for c in request.cfgs if c.id == mixer_id), None)
        if cfg is None or self.index.by_name(name) is not None:
            return
        video = cfg.video
        self.index.add(
            room=room,
            mixer_id=mixer_id,
            file_name=name,
            path=recording_path(self._config.recordings_dir, name),
            container=name.rsplit(".", 1)[-1].lower(),
            video_codec="h264" if video else None,
            audio_codec=AUDIO_CODECS[cfg.audio.format] if cfg.has_audio else None,
            width=video.width if video else None,
            height=video.height if video else None,
            fps=float(video.frame_rate) if video else None,
            session=session,
            part=part,
        )
