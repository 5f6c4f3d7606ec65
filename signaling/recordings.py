"""Keeps the index in step with the mixer: every output's life, reported by the
bot as svrMixerOutputInfo, becomes a row; a finished file fires the webhook."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from cloudrec.config import Config
from cloudrec.contract import OutputInfo
from cloudrec.errors import CloudrecError, ErrorCode
from cloudrec.storage.index import FAILED, FINISHED, MISSING, RECORDING, Recording, RecordingIndex
from cloudrec.storage.paths import recording_path, served_file
from cloudrec.storage.reconcile import probe_cut_short, settle_interrupted
from cloudrec.storage.webhook import Webhook
from cloudrec.wire import AUDIO_CODECS, USER_SLOT, OutputState, OutputType, StartRequest

log = logging.getLogger(__name__)

MB = 1024 * 1024


def _is_file(request: StartRequest, name: str) -> bool:
    return any(
        spec.type is OutputType.FILE and _names(spec.filename, name)
        for mixer in request.outputs
        for spec in mixer.output
    )


def _names(template: str, name: str) -> bool:
    """A file name, or a mode-1 template ("/d/{userid}.mp4") that names it."""
    if USER_SLOT not in template:
        return template == name
    head, _, tail = template.partition(USER_SLOT)
    return name.startswith(head) and name.endswith(tail) and len(name) > len(head) + len(tail)


class Recordings:
    def __init__(self, config: Config, index: RecordingIndex, webhook: Webhook) -> None:
        self._config = config
        self.index = index
        self.webhook = webhook

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
        if request is not None and not _is_file(request, name):
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

    def being_recorded(self, room: str) -> list[Recording]:
        return [rec for rec in self.index.all() if rec.room == room and rec.state == RECORDING]

    async def settle_lost(self, lost: list[Recording]) -> None:
        """Files whose bot died mid-recording are settled now as a restart would
        settle them ('interrupted' with their real length), not left 'recording'."""
        for rec in lost:
            path = Path(rec.path)
            if served_file(self._config.recordings_dir, path) is None:
                self.index.mark(rec.id, MISSING)  # gone, or a link in its place
                continue
            # Probing reads the whole file: off the loop.
            found = await asyncio.to_thread(probe_cut_short, path)
            settle_interrupted(self.index, rec.id, path, found)

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
