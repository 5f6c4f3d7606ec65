"""Auto-record: rooms whose name matches a configured pattern record themselves.

The first publisher starts a recording with an adaptive layout; every change
of who publishes what re-lays it out (a grid that re-flows, a screen share
taking the stage while it runs); the last participant leaving stops it.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import time
from typing import Any

from cloudrec.config import Config
from cloudrec.errors import CloudrecError
from cloudrec.layouts import adaptive
from cloudrec.wire import MixerState
from signaling.mixer_control import MixerControl
from signaling.room_mixer import RECORDING
from signaling.rooms import ROLE_PARTICIPANT, Room

log = logging.getLogger(__name__)

OPERATOR = "auto-record"


def publishers(room: Room) -> tuple[list[str], str | None]:
    """Who sends a camera, in joining order, and who shares a screen (the latest)."""
    cameras, sharer = [], None
    for peer in room.peers.values():
        if peer.role != ROLE_PARTICIPANT:
            continue
        sources = {t.source for t in peer.tracks}
        if "camera" in sources:
            cameras.append(peer.user)
        if "screen" in sources:
            sharer = peer.user
    return cameras, sharer


class AutoRecorder:
    def __init__(self, config: Config, control: MixerControl) -> None:
        self._config = config
        self._control = control
        self._layouts: dict[str, Any] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def applies(self, room: str) -> bool:
        pattern = self._config.auto_record
        return bool(pattern) and fnmatch.fnmatchcase(room, pattern)

    async def room_changed(self, room: Room | None, name: str) -> None:
        """Called after every join, leave and track change in a room."""
        if not self.applies(name):
            return
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            try:
                await self._follow(room, name)
            except CloudrecError as exc:
                log.warning("auto-record of room %s: %s", name, exc.message)

    async def _follow(self, room: Room | None, name: str) -> None:
        state = self._control.get_state(name)
        people = [p for p in (room.peers.values() if room else []) if p.role == ROLE_PARTICIPANT]
        if not people:
            if state in RECORDING:  # paused too: nobody is left to resume it
                await self._control.stop(name, OPERATOR)
            self._layouts.pop(name, None)
            return
        cameras, sharer = publishers(room) if room else ([], None)
        if not cameras and sharer is None:
            return
        width, height = self._config.auto_record_size
        fps = self._config.auto_record_fps
        layout = [{"id": "1", "content": adaptive(cameras, sharer, width, height)}]
        if state is MixerState.NULL:
            stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
            body = {
                "cfgs": [
                    {
                        "id": "1",
                        "streamTypes": 3,
                        "cfg": {"width": width, "height": height, "frameRate": fps},
                    }
                ],
                "contents": layout,
                "outputs": [
                    {"id": "1", "output": [{"type": 0, "filename": f"/auto/{name}/{stamp}.mp4"}]}
                ],
            }
            await self._control.start(name, OPERATOR, body)
            self._layouts[name] = layout
            log.info("auto-record of room %s started", name)
        elif state in RECORDING and self._layouts.get(name) != layout:
            await self._control.update(name, OPERATOR, {"contents": layout})
            self._layouts[name] = layout
