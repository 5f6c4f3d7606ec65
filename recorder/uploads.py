"""The bot's side of object storage: every file output it writes follows to
the store while it grows, and goes up whole once closed, with its states
(UPLOADING, then UPLOADSUCCESS or UPLOADERR) reported like any other."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from cloudrec.contract import OutputInfo
from cloudrec.errors import ErrorCode
from cloudrec.storage.objects import ObjectStore, StoreError
from cloudrec.storage.paths import recording_path
from cloudrec.storage.uploading import PieceFollower, UploadCounters, upload_closed
from cloudrec.wire import OutputState

log = logging.getLogger(__name__)

# How often a growing file's new bytes go up: with FRAGMENT_MS (500 ms) of
# unwritten fragment and the upload's own time, what a machine lost for good
# takes with it is at most about 3 s (docs/deploy.md).
PIECE_PERIOD_S = 2.0


class BotUploads:
    def __init__(
        self,
        store: ObjectStore,
        recordings_dir: Path,
        keep_local: bool,
        emit: Callable[[OutputInfo], None],
    ) -> None:
        self._store = store
        self._recordings_dir = recordings_dir
        self._keep_local = keep_local
        self._emit = emit
        self.counters = UploadCounters()
        self._followers: dict[str, asyncio.Task[None]] = {}
        self._finishing: set[asyncio.Task[None]] = set()

    def on_info(self, info: OutputInfo, is_file: bool) -> None:
        """Every output info passes here on its way to the control node."""
        self._emit(info)
        if not is_file:
            return
        name = info.file_name
        if info.state is OutputState.CREATED and name not in self._followers:
            follower = PieceFollower(self._store, name, self._path(name))
            self._followers[name] = asyncio.create_task(self._follow(follower))
        elif info.state in (OutputState.CLOSED, OutputState.ERR):
            task = self._followers.pop(name, None)
            if task is not None:
                task.cancel()
            if info.state is OutputState.CLOSED:
                finish = asyncio.create_task(self._finish(info))
                self._finishing.add(finish)
                finish.add_done_callback(self._finishing.discard)

    async def drain(self) -> None:
        """Until every closed file has gone up or been given up on."""
        for task in self._followers.values():
            task.cancel()
        await asyncio.gather(*self._followers.values(), return_exceptions=True)
        self._followers.clear()
        while self._finishing:
            await asyncio.gather(*self._finishing, return_exceptions=True)

    def _path(self, file_name: str) -> Path:
        return recording_path(self._recordings_dir, file_name)

    async def _follow(self, follower: PieceFollower) -> None:
        while True:
            await asyncio.sleep(PIECE_PERIOD_S)
            try:
                await follower.step(self.counters)
            except (*StoreError, FileNotFoundError) as exc:
                # The next step sends what this one did not.
                self.counters.retries += 1
                log.warning("a piece did not go up: %s", exc)

    async def _finish(self, closed: OutputInfo) -> None:
        self._emit(replace(closed, state=OutputState.UPLOADING))
        path = self._path(closed.file_name)
        if await upload_closed(
            self._store, closed.file_name, path, self._keep_local, self.counters
        ):
            self._emit(replace(closed, state=OutputState.UPLOADSUCCESS))
        else:  # it stays on this disk, listed, for the sweep to try again
            failed = replace(
                closed, state=OutputState.UPLOADERR, err_code=int(ErrorCode.SERVER_EXCEPTION)
            )
            self._emit(failed)
