"""One room's recording as the control node holds it: its state, the bot
and worker that record it, its latest output info, and which part runs."""

from __future__ import annotations

import asyncio
from typing import Any

from cloudrec.contract import MixerStats, OutputInfo, RunningRecording
from cloudrec.wire import MixerState, StartRequest, request_for_part
from signaling.rooms import Peer

# The only moves the state may make; anything else is a bug, not a user error.
TRANSITIONS: dict[MixerState, frozenset[MixerState]] = {
    MixerState.NULL: frozenset({MixerState.STARTING}),
    MixerState.STARTING: frozenset({MixerState.RUNNING, MixerState.NULL}),
    MixerState.RUNNING: frozenset({MixerState.PAUSED, MixerState.STOPPING, MixerState.NULL}),
    MixerState.PAUSED: frozenset({MixerState.RUNNING, MixerState.STOPPING, MixerState.NULL}),
    MixerState.STOPPING: frozenset({MixerState.NULL}),
}
# States in which a bot records (or holds, paused) the room's outputs.
RECORDING = frozenset({MixerState.RUNNING, MixerState.PAUSED})


class RoomMixer:
    def __init__(self, room: str) -> None:
        self.room = room
        self.state = MixerState.NULL
        self.bot: Peer | None = None
        self.bot_joined: asyncio.Future[Peer] | None = None
        self.outputs: dict[tuple[str, str], OutputInfo] = {}
        # Output info the bot sent before its answer to the start was read:
        # told once the room hears RUNNING, so no file is WRITING before it.
        self.held: list[OutputInfo] = []
        self.stats: MixerStats | None = None
        self.lock = asyncio.Lock()
        self.request: StartRequest | None = None
        self.started_by = ""  # who started the recording running now
        self.started_at = 0.0  # when it began running (epoch seconds)
        self.job_id = ""  # the bot's job: its credential is bound to it
        self.worker = ""  # where the bot runs ("" on this machine)
        self.session = ""  # ties the parts of one recording together
        self.part = 1  # past 1 once the recording moved to another worker

    @property
    def part_request(self) -> StartRequest | None:
        """The request as the running part records it (its files renamed)."""
        return None if self.request is None else request_for_part(self.request, self.part)

    def recording(self) -> dict[str, Any]:
        """What every participant is told: whether the room is being recorded,
        by whose call, since when (epoch ms), and whether it is paused."""
        if self.state not in (*RECORDING, MixerState.STOPPING):
            return {"active": False}
        return {
            "active": True,
            "startedBy": self.started_by,
            "since": int(self.started_at * 1000),
            "paused": self.state is MixerState.PAUSED,
        }

    def running(self) -> RunningRecording:
        """What a cluster keeps of it in Redis."""
        assert self.request is not None
        return RunningRecording(
            self.job_id,
            self.worker,
            self.session,
            self.part,
            self.started_by,
            self.started_at,
            self.request,
            self.state is MixerState.PAUSED,
        )

    def take_back(self, running: RunningRecording) -> None:
        """Becomes the recording a worker runs, its bot awaited."""
        self.state = MixerState.PAUSED if running.paused else MixerState.RUNNING
        self.request = running.request
        self.job_id, self.worker = running.job_id, running.worker
        self.session, self.part = running.session, running.part
        self.started_by, self.started_at = running.started_by, running.started_at
        self.bot_joined = asyncio.get_running_loop().create_future()
